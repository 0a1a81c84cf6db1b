"""The files API, one viewset: upload, metadata, list, signed download URLs, delete, and direct-to-S3 uploads."""

import datetime
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from billing_site.api.filters import FilterBackend
from billing_site.api.throttling import ScopedThrottle
from billing_site.errors import ApplicationError
from storage import selectors, services
from storage.models import StoredFile
from storage.upload_handlers import limited_upload_handlers

from .filters import FileFilter
from .serializers import (
    FileSerializer,
    FileUploadSerializer,
    PresignedUrlRequestSerializer,
    PresignedUrlSerializer,
    UploadUrlRequestSerializer,
    UploadUrlSerializer,
)

# A UUID with or without its dashes; anything else is not a file route at all (Django's 404).
FILE_ID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
FILE_ID_PARAMETER = OpenApiParameter("file_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
TAGS = ["files"]
# What the size limit and the bucket refuse, wherever bytes arrive.
UPLOAD_ERROR_CODES: dict[int, list[str]] = {413: ["file_too_large"], 503: ["storage_unavailable"]}
# Extra error codes per route for the schema, beyond what auth, paging and throttles give (billing_site.api.schema).
ERROR_CODES: dict[str, dict[int, list[str]]] = {
    "list": {400: ["validation_error"]},
    # GET and DELETE of one file were one view, and the schema documents them alike.
    "retrieve": {409: ["file_attached"], 503: ["storage_unavailable"]},
    "destroy": {409: ["file_attached"], 503: ["storage_unavailable"]},
    "upload": {
        400: [
            "file_required",
            "empty_file",
            "unsupported_file_type",
            "document_too_complex",
            "invalid_category",
            "category_mismatch",
        ],
        **UPLOAD_ERROR_CODES,
    },
    "upload_url": {400: ["unsupported_file_type", "invalid_category", "category_mismatch"], **UPLOAD_ERROR_CODES},
    "presigned_url": {400: ["invalid_expiry"], 404: ["not_found"], 409: ["file_not_ready"]},
    "complete": {
        400: ["empty_file", "unsupported_file_type", "document_too_complex"],
        409: ["upload_missing"],
        **UPLOAD_ERROR_CODES,
    },
}


def _owner(request: Request) -> User:
    """The signed-in customer (every route of the viewset requires one)."""
    return cast(User, request.user)


def _download_url_for(request: Request) -> Callable[[StoredFile], str | None]:
    """What FileSerializer puts in `url`: a signed download URL of an available file, valid for a day."""
    lifetime = datetime.timedelta(hours=settings.STORAGE_DOWNLOAD_URL_HOURS)

    def url_for(file: StoredFile) -> str | None:
        if file.status != StoredFile.Status.AVAILABLE:
            return None
        url, _expires_at = services.file_signed_url(file=file, expires_in=lifetime)
        return request.build_absolute_uri(url)

    return url_for


@extend_schema_view(
    list=extend_schema(
        parameters=[
            # Stated as the contract always had it (the backend would add minLength to the enum).
            OpenApiParameter("category", str, enum=StoredFile.Category.values, description="Only this category."),
        ],
        summary="List your files, newest first",
    ),
    retrieve=extend_schema(parameters=[FILE_ID_PARAMETER], summary="File metadata"),
    destroy=extend_schema(
        parameters=[FILE_ID_PARAMETER],
        responses={204: OpenApiResponse(description="Deleted from the bucket and the list")},
        summary="Delete a file",
    ),
)
@extend_schema(tags=TAGS)
class FileViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    # A customer's own files; another customer's file is 404 `not_found`, as if it did not exist. Parsers and
    # throttles are @action arguments and error codes are looked up by action, so each route keeps exactly the
    # ones it had as a view of its own. (Comments, not a docstring: the schema would show it on every operation.)

    queryset = StoredFile.objects.none()  # the model, for the schema; requests read through the selectors
    serializer_class = FileSerializer
    filter_backends = [FilterBackend]
    filterset_class = FileFilter
    lookup_url_kwarg = "file_id"
    lookup_value_regex = FILE_ID
    throttle_scope: str | None = None  # set per route by @action
    # Only the upload form sets this: its body must meet the size limit while it streams in.
    streams_upload = False

    @property
    def api_error_codes(self) -> dict[int, list[str]]:
        return ERROR_CODES.get(self.action or "", {})

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        if self.streams_upload:
            # Before anything reads the body: the size limit must see the upload as it streams in.
            request.upload_handlers = limited_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[StoredFile]:
        return selectors.file_list(owner=_owner(self.request))

    def get_object(self) -> StoredFile:
        return selectors.file_get(owner=_owner(self.request), file_id=self.kwargs[self.lookup_url_kwarg])

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "url_for": _download_url_for(self.request)}

    def perform_destroy(self, instance: StoredFile) -> None:
        services.file_delete(file=instance, by_customer=True)

    @extend_schema(request=FileUploadSerializer, responses={201: FileSerializer}, summary="Upload a file")
    @action(
        detail=False,
        methods=["post"],
        parser_classes=[MultiPartParser],
        throttle_classes=[ScopedThrottle],
        throttle_scope="uploads",
        streams_upload=True,
    )
    def upload(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError(
                "file_required",
                "Send the file as multipart field `file`.",
                fields={"file": ["This field is required."]},
            )
        stored = services.file_store(
            owner=_owner(request),
            content=upload,
            original_name=upload.name or "",
            category=cast(QueryDict, request.data).get("category") or None,  # the multipart form's fields
        )
        return Response(self.get_serializer(stored).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=UploadUrlRequestSerializer,
        responses={201: UploadUrlSerializer},
        summary="Start a direct upload: a presigned POST form straight to the bucket",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="upload-url",
        parser_classes=[JSONParser],
        throttle_classes=[ScopedThrottle],
        throttle_scope="uploads",
    )
    def upload_url(self, request: Request) -> Response:
        serializer = UploadUrlRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pending, form, expires_at = services.file_direct_upload_start(
            owner=_owner(request), **serializer.validated_data
        )
        body = {
            "file": self.get_serializer(pending).data,
            "upload": {"url": request.build_absolute_uri(form["url"]), "fields": form["fields"]},
            "expires_at": expires_at,
            "max_bytes": services.max_upload_bytes(),
        }
        return Response(UploadUrlSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=PresignedUrlRequestSerializer,
        responses={200: PresignedUrlSerializer},
        summary="A time-limited download URL (24-168 hours)",
    )
    @action(detail=False, methods=["post"], url_path="presigned-url", parser_classes=[JSONParser])
    def presigned_url(self, request: Request) -> Response:
        serializer = PresignedUrlRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        file = selectors.file_get(owner=_owner(request), file_id=serializer.validated_data["file_id"])
        hours = serializer.validated_data["expires_in_hours"]
        url, expires_at = services.file_signed_url(file=file, expires_in=datetime.timedelta(hours=hours))
        return Response(PresignedUrlSerializer({"url": request.build_absolute_uri(url), "expires_at": expires_at}).data)

    @extend_schema(
        parameters=[FILE_ID_PARAMETER],
        request=None,
        responses={200: FileSerializer},
        summary="Finish a direct upload: its bytes are checked, then it is available",
    )
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, file_id: str) -> Response:
        file = services.file_direct_upload_complete(file=self.get_object())
        return Response(self.get_serializer(file).data)
