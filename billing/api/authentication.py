"""How a server-to-server request authenticates with `Authorization: Api-Key <key>`, and the scope it needs.

Views opt in (`authentication_classes`); the key is not among DEFAULT_AUTHENTICATION_CLASSES. The request's user
is then an ApiKeyPrincipal: authenticated, but not a User, never staff, holding no model permission and never a
customer (billing.selectors.customer_for_user gives None for it).
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from billing.models import ApiKey
from billing.services.api_keys import api_key_authenticate
from billing_site.errors import ApplicationError

KEYWORD = "Api-Key"
INVALID_KEY_MESSAGE = "The API key is not valid."


class ApiKeyPrincipal:
    """Who an API-key request acts as. Not a User: `pk` None, no permissions, not staff, not a customer."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    # permission_allowed (billing_site.permissions) refuses an inactive actor before asking has_perm.
    is_active = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"

    def __repr__(self) -> str:
        return f"ApiKeyPrincipal({self.api_key.prefix!r})"

    def get_username(self) -> str:
        return self.api_key.prefix

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def has_scope(self, scope: str) -> bool:
        return scope in self.api_key.scopes


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>`: a request without that scheme is left to the other authentications; one
    with it and a malformed, unknown, revoked or expired key is 401 `invalid_api_key`."""

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:  # the scheme and the key
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE, code="invalid_api_key")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID_KEY_MESSAGE, code="invalid_api_key") from None
        try:
            api_key = api_key_authenticate(key=key)
        except ApplicationError as error:
            # Raised as DRF's AuthenticationFailed so the 401 carries WWW-Authenticate (authenticate_header).
            raise exceptions.AuthenticationFailed(error.message, code=error.code) from None
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def api_key_of(request: Request) -> ApiKey | None:
    """The API key the request authenticated with, or None (a JWT or session user, or nobody)."""
    user = getattr(request, "user", None)
    return user.api_key if isinstance(user, ApiKeyPrincipal) else None


def ApiKeyScopeRequired(scope: str) -> type[BasePermission]:
    """A permission class: an API-key request needs `scope` (else 403 `insufficient_scope`).

    An anonymous request is refused (401). Other authenticated requests (a JWT or session user) are not this
    class's business and pass: the view decides what they may see, or allows only ApiKeyAuthentication.
    """

    class _ScopeRequired(BasePermission):
        message = f"This API key does not have the scope {scope}."
        code = "insufficient_scope"

        def has_permission(self, request: Request, view: Any) -> bool:
            if not (request.user and request.user.is_authenticated):
                return False
            api_key = api_key_of(request)
            return api_key is None or scope in api_key.scopes

    _ScopeRequired.__name__ = f"ApiKeyScopeRequired_{scope.replace(':', '_')}"
    _ScopeRequired.__qualname__ = _ScopeRequired.__name__
    return _ScopeRequired


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of ApiKeyAuthentication (drf-spectacular finds it by `target_class`)."""

    target_class = "billing.api.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A server-to-server key made by staff: `Authorization: Api-Key bsk_...`.",
        }
