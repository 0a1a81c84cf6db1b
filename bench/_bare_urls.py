"""URLs of the load benchmark's baseline: the project's own, plus a bare DRF endpoint (bench only).

GET /bench/bare answers a tiny JSON document after DRF's default authentication (the same JWT check as the
project's endpoints) and nothing else: no selector, no query beyond the token's user, no throttle. It is the
floor of gunicorn + Django + DRF under the same load, which the real endpoints are compared with.
"""

from typing import Any

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BareView(APIView):
    throttle_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        return Response({"ok": True, "user": request.user.pk})


urlpatterns = [
    path("bench/bare", BareView.as_view()),
    path("", include("billing_site.urls")),
]
