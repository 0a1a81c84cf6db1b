"""Auth endpoints: register, obtain and refresh a token pair, change the password, log out."""

from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from billing_site.api.throttling import ScopedThrottle

from . import services
from .serializers import (
    LogoutSerializer,
    PasswordChangeSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    TokenObtainPairSerializer,
    TokenPairSerializer,
    TokenRefreshSerializer,
    UserSerializer,
)


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"
    api_error_codes = {400: ["weak_password"], 409: ["username_taken"]}

    @extend_schema(request=RegisterSerializer, responses={201: RegisterResponseSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        # The submitted address, even when it was not attached because another account has it (see user_register).
        shown_user = {**UserSerializer(user).data, "email": serializer.validated_data["email"]}
        body = {"user": shown_user, "tokens": services.tokens_issue(user=user)}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenObtainView(jwt_views.TokenObtainPairView):
    serializer_class = TokenObtainPairSerializer
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"
    api_error_codes = {401: ["no_active_account"], 429: ["account_locked"]}


class TokenRefreshView(jwt_views.TokenRefreshView):
    serializer_class = TokenRefreshSerializer
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"
    api_error_codes = {401: ["no_active_account", "password_changed"]}


class PasswordChangeView(APIView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"
    api_error_codes = {400: ["wrong_password", "weak_password"], 429: ["account_locked"]}

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={200: OpenApiResponse(TokenPairSerializer, description="A new token pair for this client")},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        """Change the password; every refresh and access token issued before stops working."""
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_password_change(user=request.user, request=request, **serializer.validated_data)
        if isinstance(request.successful_authenticator, SessionAuthentication):
            update_session_auth_hash(request, user)  # this browser session stays logged in, no other
        return Response(services.tokens_issue(user=user))


class LogoutView(APIView):
    api_error_codes = {400: ["token_not_valid"]}

    @extend_schema(request=LogoutSerializer, responses={204: OpenApiResponse(description="Logged out")}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_logout(user=request.user, refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)
