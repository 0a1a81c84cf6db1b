"""The files API: upload, metadata, list, signed download URLs, delete, and direct-to-S3 uploads."""

import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing_site.api.pagination import LimitOffsetPagination
from billing_site.api.throttling import ScopedThrottle
from billing_site.errors import ApplicationError
from storage import selectors, services
from storage.models import StoredFile
from storage.upload_handlers import limited_upload_handlers

from .serializers import (
    FileSerializer,
    FileUploadSerializer,
    PresignedUrlRequestSerializer,
    PresignedUrlSerializer,
    UploadUrlRequestSerializer,
    UploadUrlSerializer,
)

FILE_ID_PARAMETER = OpenApiParameter("file_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
TAGS = ["files"]


def _file_body(request: Request, file: StoredFile) -> dict[str, Any]:
    return FileSerializer(file, context={"url_for": _url_for(request)}).data


def _url_for(request: Request) -> Any:
    lifetime = datetime.timedelta(hours=settings.STORAGE_DOWNLOAD_URL_HOURS)

    def url_for(file: StoredFile) -> str | None:
        if file.status != StoredFile.Status.AVAILABLE:
            return None
        url, _expires_at = services.file_signed_url(file=file, expires_in=lifetime)
        return request.build_absolute_uri(url)

    return url_for


class FileUploadView(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "uploads"
    api_error_codes = {
        400: [
            "file_required",
            "empty_file",
            "unsupported_file_type",
            "document_too_complex",
            "invalid_category",
            "category_mismatch",
        ],
        413: ["file_too_large"],
        503: ["storage_unavailable"],
    }

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Before anything reads the body: the size limit must see the upload as it streams in.
        request.upload_handlers = limited_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request=FileUploadSerializer, responses={201: FileSerializer}, tags=TAGS, summary="Upload a file")
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ApplicationError(
                "file_required",
                "Send the file as multipart field `file`.",
                fields={"file": ["This field is required."]},
            )
        stored = services.file_store(
            owner=request.user,
            content=upload,
            original_name=upload.name or "",
            category=request.data.get("category") or None,
        )
        return Response(_file_body(request, stored), status=status.HTTP_201_CREATED)


class FileListView(APIView):
    pagination_class = LimitOffsetPagination
    api_error_codes = {400: ["invalid_category"]}

    @extend_schema(
        parameters=[
            OpenApiParameter("category", str, enum=StoredFile.Category.values, description="Only this category."),
        ],
        responses={200: FileSerializer(many=True)},
        tags=TAGS,
        summary="List your files, newest first",
    )
    def get(self, request: Request) -> Response:
        files = selectors.file_list(owner=request.user, category=request.query_params.get("category"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(files, request, view=self)
        url_for = _url_for(request)
        return paginator.get_paginated_response(FileSerializer(page, many=True, context={"url_for": url_for}).data)


class FileDetailView(APIView):
    api_error_codes = {409: ["file_attached"], 503: ["storage_unavailable"]}

    @extend_schema(parameters=[FILE_ID_PARAMETER], responses={200: FileSerializer}, tags=TAGS, summary="File metadata")
    def get(self, request: Request, file_id: str) -> Response:
        return Response(_file_body(request, selectors.file_get(owner=request.user, file_id=file_id)))

    @extend_schema(
        parameters=[FILE_ID_PARAMETER],
        responses={204: OpenApiResponse(description="Deleted from the bucket and the list")},
        tags=TAGS,
        summary="Delete a file",
    )
    def delete(self, request: Request, file_id: str) -> Response:
        file = selectors.file_get(owner=request.user, file_id=file_id)
        services.file_delete(file=file, by_customer=True)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PresignedUrlView(APIView):
    parser_classes = [JSONParser]
    api_error_codes = {400: ["invalid_expiry"], 404: ["not_found"], 409: ["file_not_ready"]}

    @extend_schema(
        request=PresignedUrlRequestSerializer,
        responses={200: PresignedUrlSerializer},
        tags=TAGS,
        summary="A time-limited download URL (24-168 hours)",
    )
    def post(self, request: Request) -> Response:
        serializer = PresignedUrlRequestSerializer(data=request.data)
        if not serializer.is_valid():
            if "expires_in_hours" in serializer.errors:
                raise ApplicationError(
                    "invalid_expiry",
                    "expires_in_hours must be a whole number of hours between 24 and 168.",
                    fields={"expires_in_hours": [str(e) for e in serializer.errors["expires_in_hours"]]},
                )
            serializer.is_valid(raise_exception=True)
        file = selectors.file_get(owner=request.user, file_id=serializer.validated_data["file_id"])
        hours = serializer.validated_data["expires_in_hours"]
        url, expires_at = services.file_signed_url(file=file, expires_in=datetime.timedelta(hours=hours))
        return Response(PresignedUrlSerializer({"url": request.build_absolute_uri(url), "expires_at": expires_at}).data)


class UploadUrlView(APIView):
    parser_classes = [JSONParser]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "uploads"
    api_error_codes = {
        400: ["unsupported_file_type", "invalid_category", "category_mismatch"],
        413: ["file_too_large"],
        503: ["storage_unavailable"],
    }

    @extend_schema(
        request=UploadUrlRequestSerializer,
        responses={201: UploadUrlSerializer},
        tags=TAGS,
        summary="Start a direct upload: a presigned POST form straight to the bucket",
    )
    def post(self, request: Request) -> Response:
        serializer = UploadUrlRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pending, form, expires_at = services.file_direct_upload_start(owner=request.user, **serializer.validated_data)
        form = {"url": request.build_absolute_uri(form["url"]), "fields": form["fields"]}
        body = {
            "file": _file_body(request, pending),
            "upload": form,
            "expires_at": expires_at,
            "max_bytes": services.max_upload_bytes(),
        }
        return Response(UploadUrlSerializer(body).data, status=status.HTTP_201_CREATED)


class UploadCompleteView(APIView):
    api_error_codes = {
        400: ["empty_file", "unsupported_file_type", "document_too_complex"],
        409: ["upload_missing"],
        413: ["file_too_large"],
        503: ["storage_unavailable"],
    }

    @extend_schema(
        parameters=[FILE_ID_PARAMETER],
        request=None,
        responses={200: FileSerializer},
        tags=TAGS,
        summary="Finish a direct upload: its bytes are checked, then it is available",
    )
    def post(self, request: Request, file_id: str) -> Response:
        file = selectors.file_get(owner=request.user, file_id=file_id)
        return Response(_file_body(request, services.file_direct_upload_complete(file=file)))
