"""API routes of the storage app (filled by the storage issue)."""

urlpatterns: list = []
