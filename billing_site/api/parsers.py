"""Request body parsers of the API: DRF's JSON parser, made safe against bodies nested too deep to parse."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser, but a body nested deeper than Python's recursion limit (a few hundred KB of `[[[[...`) is
    a 400 `parse_error`, not the RecursionError DRF lets through as a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError("JSON parse error - the body is nested too deeply.") from error
