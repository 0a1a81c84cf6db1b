"""Test-only URLconf: the project's URLs plus views that fail on purpose, to test the error conventions."""

from django.contrib.auth import get_user_model
from rest_framework import generics, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_site.api.routers import api_path
from billing_site.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401


class BoomView(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("/secret/path/settings.py leaked?")


class StaffOnlyView(APIView):
    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username"]


class UserListView(generics.ListAPIView):
    serializer_class = UserSerializer
    queryset = get_user_model().objects.order_by("id")


urlpatterns = [
    *urlpatterns,
    api_path("api/test/boom", BoomView.as_view()),
    api_path("api/test/staff-only", StaffOnlyView.as_view()),
    api_path("api/test/users", UserListView.as_view()),
]
