"""Non-API URLs of the storage app: the local backend's signed downloads."""

from django.urls import path

from .views import signed_download

urlpatterns = [path("files/signed/<str:token>", signed_download, name="storage-signed-download")]
