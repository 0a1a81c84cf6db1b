"""The one application error type: a stable machine-readable code, a human message and an HTTP status."""

from typing import Any


class ApplicationError(Exception):
    """A refused operation. Services raise it; the API turns it into the error shape with `status_code`."""

    status_code = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        if status_code is not None:
            self.status_code = status_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"
