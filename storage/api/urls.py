"""API routes of the storage app; each answers with and without a trailing slash."""

from billing_site.api.routers import api_path

from . import views

FILE_ID = r"(?P<file_id>[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})"

urlpatterns = [
    api_path("api/files", views.FileListView.as_view(), name="files-list"),
    api_path("api/files/upload", views.FileUploadView.as_view(), name="files-upload"),
    api_path("api/files/upload-url", views.UploadUrlView.as_view(), name="files-upload-url"),
    api_path("api/files/presigned-url", views.PresignedUrlView.as_view(), name="files-presigned-url"),
    api_path(f"api/files/{FILE_ID}", views.FileDetailView.as_view(), name="files-detail"),
    api_path(f"api/files/{FILE_ID}/complete", views.UploadCompleteView.as_view(), name="files-complete"),
]
