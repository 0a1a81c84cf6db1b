"""API routes of the storage app: the files viewset, each path with and without a trailing slash."""

from billing_site.api.routers import Router

from .views import FileViewSet

router = Router()
# files-list, files-upload, files-upload-url, files-presigned-url, files-detail, files-complete; a file id must
# match FileViewSet.lookup_value_regex (a UUID), anything else is Django's 404 as before.
router.register("api/files", FileViewSet, basename="files")

urlpatterns = router.urls
