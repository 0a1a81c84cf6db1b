"""Non-API URLs of the storage app: the local backend's signed downloads and direct uploads."""

from django.urls import path

from .views import signed_download, signed_upload

urlpatterns = [
    path("files/signed/<str:token>", signed_download, name="storage-signed-download"),
    path("files/signed-upload", signed_upload, name="storage-signed-upload"),
]
