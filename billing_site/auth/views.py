"""Auth endpoints: register, obtain and refresh a token pair, log out."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views

from billing_site.api.throttling import ScopedThrottle

from . import services
from .serializers import LogoutSerializer, RegisterResponseSerializer, RegisterSerializer, UserSerializer


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"
    api_error_codes = {400: ["weak_password"], 409: ["username_taken", "email_taken"]}

    @extend_schema(request=RegisterSerializer, responses={201: RegisterResponseSerializer}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_register(**serializer.validated_data)
        body = {"user": UserSerializer(user).data, "tokens": services.tokens_issue(user=user)}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenObtainView(jwt_views.TokenObtainPairView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"


class TokenRefreshView(jwt_views.TokenRefreshView):
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"


class LogoutView(APIView):
    api_error_codes = {400: ["token_not_valid"]}

    @extend_schema(request=LogoutSerializer, responses={204: OpenApiResponse(description="Logged out")}, tags=["auth"])
    def post(self, request: Request) -> Response:
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_logout(user=request.user, refresh=serializer.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)
