"""API routes of the billing app (filled by the billing issues)."""

urlpatterns: list = []
