"""API routes of the auth viewset: /api/auth/..., each with and without a trailing slash."""

from billing_site.api.routers import Router

from .views import AuthViewSet

router = Router()
# auth-register, auth-token, auth-token-refresh, auth-password, auth-logout
router.register("api/auth", AuthViewSet, basename="auth")

urlpatterns = router.urls
