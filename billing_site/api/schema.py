"""OpenAPI generation: every operation documents the error responses it can give, in the error shape."""

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

# The statuses the project's conventions can produce, with the codes DRF or our handler puts in them.
DEFAULT_ERROR_CODES: dict[int, list[str]] = {
    400: ["validation_error", "parse_error"],
    401: ["not_authenticated", "authentication_failed", "token_not_valid"],
    403: ["permission_denied"],
    404: ["not_found"],
    429: ["throttled"],
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable snake_case code.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    # The error shape names it `fields`; DRF takes it as a declared field, the stubs as Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        help_text="Per-field messages for validation errors; empty otherwise."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ErrorCodes = dict[int, list[str]]
Handler = TypeVar("Handler", bound=Callable[..., Any])


def error_codes_merge(*groups: ErrorCodes) -> ErrorCodes:
    """Several {status: [codes]} tables as one, in order, each code once per status."""
    merged: ErrorCodes = {}
    for group in groups:
        for status_code, codes in group.items():
            known = merged.setdefault(status_code, [])
            known.extend(code for code in codes if code not in known)
    return merged


def api_errors(*groups: ErrorCodes) -> Callable[[Handler], Handler]:
    """Declare on a view method or viewset action the error codes it adds to those of its view (merged)."""
    codes = error_codes_merge(*groups)

    def declare(handler: Handler) -> Handler:
        handler.api_error_codes = codes  # type: ignore[attr-defined]
        return handler

    return declare


def error_response(status_code: int, codes: list[str]) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description="Error codes: " + ", ".join(f"`{c}`" for c in codes))


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema plus error responses derived from the view's auth, paging and throttles.

    A view lists extra error codes per status in `api_error_codes = {409: ["already_subscribed"]}`; a viewset
    action (or a view method) adds its own with `@api_errors({409: [...]})`.
    """

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status_code, codes in self._error_codes().items():
            key = str(status_code)
            if key not in responses:
                responses[key] = self._get_response_for_code(
                    error_response(status_code, codes), key, direction=direction
                )
        return responses

    def _error_codes(self) -> dict[int, list[str]]:
        found: ErrorCodes = {}

        def add(status_code: int, codes: list[str]) -> None:
            found.update(error_codes_merge(found, {status_code: codes}))

        if self.method in ("POST", "PUT", "PATCH"):
            add(400, DEFAULT_ERROR_CODES[400])
        if self.method == "GET" and self._is_list_view():
            add(400, ["invalid_pagination"])
        view_permissions = getattr(self.view, "permission_classes", [])
        if not any(issubclass(p, permissions.AllowAny) for p in view_permissions if isinstance(p, type)):
            add(401, DEFAULT_ERROR_CODES[401])
        if "{" in self.path:
            add(404, DEFAULT_ERROR_CODES[404])
        # A viewset may throttle some of its actions only (get_throttles by action).
        if getattr(self.view, "throttle_scope", None) and self.view.get_throttles():
            add(429, DEFAULT_ERROR_CODES[429])
        handler = getattr(self.view, getattr(self.view, "action", None) or self.method.lower(), None)
        for table in (getattr(self.view, "api_error_codes", {}), getattr(handler, "api_error_codes", {})):
            for status_code, codes in table.items():
                add(status_code, codes)
        return found


def strip_trailing_slashes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: document paths as the seed's contract writes them, without a trailing slash."""
    result["paths"] = {
        (path.rstrip("/") if path != "/" else path): item for path, item in result.get("paths", {}).items()
    }
    return result
