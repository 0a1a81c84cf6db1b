"""The auth API, one viewset: register, obtain and refresh a token pair, change or reset the password, log out."""

from typing import Any, cast

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _
from drf_spectacular.plumbing import get_doc
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPES
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from billing_site.api.throttling import ScopedThrottle

from . import services
from .serializers import (
    LogoutSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestedSerializer,
    PasswordResetSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    TokenObtainPairSerializer,
    TokenPairSerializer,
    TokenRefreshSerializer,
    UserSerializer,
)

# What each route may refuse beyond what auth and throttles give, for the schema (billing_site.api.schema).
ERROR_CODES: dict[str, dict[int, list[str]]] = {
    "register": {400: ["weak_password"], 409: ["username_taken"]},
    "token": {401: ["no_active_account"], 429: ["account_locked"]},
    "token_refresh": {401: ["no_active_account", "password_changed"]},
    "password": {400: ["wrong_password", "weak_password"], 429: ["account_locked"]},
    "logout": {400: ["token_not_valid"]},
    "password_reset_confirm": {400: ["invalid_token", "weak_password"]},
}
# The answer to every well-formed reset request, whether or not an account has the address.
PASSWORD_RESET_REQUESTED = _("If an account has this email address, a link to reset its password is on its way.")
# The token routes take no credentials but answer a refused login with 401 and this challenge, as simplejwt's do.
TOKEN_ROUTES = ("token", "token_refresh")
TOKEN_CHALLENGE = f'{AUTH_HEADER_TYPES[0]} realm="{jwt_views.TokenViewBase.www_authenticate_realm}"'
# Login and registration: open to anyone, and throttled per client address (scope "auth").
OPEN_AND_THROTTLED: dict[str, Any] = {
    "permission_classes": [permissions.AllowAny],
    "authentication_classes": [],
    "throttle_classes": [ScopedThrottle],
    "throttle_scope": "auth",
}


@extend_schema(tags=["auth"])
class AuthViewSet(viewsets.GenericViewSet):
    # Accounts and tokens. Permissions, authentication and throttles are @action arguments, route by route.
    # (A comment, not a docstring: the schema would show it on every operation.)

    throttle_scope: str | None = None  # set per route by @action

    @property
    def api_error_codes(self) -> dict[int, list[str]]:
        return ERROR_CODES.get(self.action or "", {})

    def get_authenticate_header(self, request: Request) -> str | None:  # type: ignore[override]  # None is DRF's too
        if self.action in TOKEN_ROUTES:
            # Without it DRF would turn the 401 of a bad login into a 403, as these routes authenticate no one.
            return TOKEN_CHALLENGE
        return super().get_authenticate_header(request)

    def _token_response(self, request: Request) -> Response:
        """simplejwt's token views, as they answer: the serializer's pair, a bad token 401 `token_not_valid`."""
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as error:
            raise InvalidToken(error.args[0]) from error
        return Response(serializer.validated_data, status=status.HTTP_200_OK)

    @extend_schema(request=RegisterSerializer, responses={201: RegisterResponseSerializer})
    @action(detail=False, methods=["post"], serializer_class=RegisterSerializer, **OPEN_AND_THROTTLED)
    def register(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        # The submitted address, even when it was not attached because another account has it (see user_register).
        shown_user = {**UserSerializer(user).data, "email": serializer.validated_data["email"]}
        body = {"user": shown_user, "tokens": services.tokens_issue(user=user)}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(description=get_doc(jwt_views.TokenObtainPairView))
    @action(
        detail=False,
        methods=["post"],
        serializer_class=TokenObtainPairSerializer,
        **{**OPEN_AND_THROTTLED, "permission_classes": []},
    )
    def token(self, request: Request) -> Response:
        return self._token_response(request)

    @extend_schema(description=get_doc(jwt_views.TokenRefreshView))
    @action(
        detail=False,
        methods=["post"],
        url_path="token/refresh",
        serializer_class=TokenRefreshSerializer,
        **{**OPEN_AND_THROTTLED, "permission_classes": []},
    )
    def token_refresh(self, request: Request) -> Response:
        return self._token_response(request)

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={200: OpenApiResponse(TokenPairSerializer, description="A new token pair for this client")},
    )
    @action(
        detail=False,
        methods=["post"],
        serializer_class=PasswordChangeSerializer,
        throttle_classes=[ScopedThrottle],
        throttle_scope="auth",
    )
    def password(self, request: Request) -> Response:
        """Change the password; every refresh and access token issued before stops working."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_password_change(user=_signed_in(request), request=request, **serializer.validated_data)
        if isinstance(request.successful_authenticator, SessionAuthentication):
            update_session_auth_hash(request, user)  # this browser session stays logged in, no other
        return Response(services.tokens_issue(user=user))

    @extend_schema(
        request=PasswordResetSerializer,
        responses={202: OpenApiResponse(PasswordResetRequestedSerializer, description="The same for every address")},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="password/reset",
        serializer_class=PasswordResetSerializer,
        **OPEN_AND_THROTTLED,
    )
    def password_reset(self, request: Request) -> Response:
        """Email a password reset link to the account with this address, if there is one (at most one email per
        account every 15 minutes). The answer is the same either way."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response({"detail": str(PASSWORD_RESET_REQUESTED)}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={204: OpenApiResponse(description="Password set; every earlier token of the account is revoked")},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="password/reset/confirm",
        serializer_class=PasswordResetConfirmSerializer,
        **OPEN_AND_THROTTLED,
    )
    def password_reset_confirm(self, request: Request) -> Response:
        """Set a new password with the uid and token of a reset email. The link works once; every refresh and
        access token issued before stops working. Log in again with the new password."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=LogoutSerializer, responses={204: OpenApiResponse(description="Logged out")})
    @action(detail=False, methods=["post"], serializer_class=LogoutSerializer)
    def logout(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_logout(user=_signed_in(request), refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


def _signed_in(request: Request) -> User:
    """The caller of a route that requires a signed-in user."""
    return cast(User, request.user)
