"""Project URLs: admin, customer API (with and without trailing slash), API docs, health and signed files."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing_site.api.routers import api_path
from billing_site.health import healthz, healthz_live, healthz_ready

urlpatterns = [
    path("admin/", admin.site.urls),
    api_path("healthz", healthz, name="healthz"),
    api_path("healthz/live", healthz_live, name="healthz-live"),
    api_path("healthz/ready", healthz_ready, name="healthz-ready"),
    path("", include("billing_site.auth.urls")),
    api_path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    api_path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("storage.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("billing.api.stripe_urls")),
    path("", include("storage.urls")),
]

handler400 = "billing_site.api.errors.bad_request"
handler403 = "billing_site.api.errors.permission_denied"
handler404 = "billing_site.api.errors.page_not_found"
handler500 = "billing_site.api.errors.server_error"
