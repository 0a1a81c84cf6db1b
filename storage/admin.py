"""Staff view of customer files: find them, open them through a short-lived signed link, delete them via the service.

Opening a file's bytes is not the same as seeing its record: storage.permissions decides (invoice PDFs for anyone
who may see files, customers' own uploads only with storage.open_upload)."""

import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from billing_site.errors import ApplicationError
from billing_site.permissions import permission_allowed

from . import services
from .models import StoredFile
from .permissions import OPEN_UPLOAD_PERMISSION, file_open_allowed


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> QuerySet[StoredFile]:
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "owner",
        "category",
        "human_size",
        "status",
        "created_at",
        "deleted_at",
        "protected",
        "open_link",
    ]
    list_filter = ["category", "status", DeletedFilter, "protected", "content_type", "created_at"]
    search_fields = [
        "original_name",
        "key",
        "sha256",
        "owner__username",
        "owner__email",
        "attached_type",
        "attached_id",
    ]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    readonly_fields = (
        "id",
        "owner",
        "key",
        "original_name",
        "content_type",
        "human_size",
        "size",
        "category",
        "sha256",
        "status",
        "created_at",
        "deleted_at",
        "attached_type",
        "attached_id",
        "protected",
        "open_link",
    )
    fields = readonly_fields

    @admin.display(description="size", ordering="size")
    def human_size(self, file: StoredFile) -> str:
        return filesizeformat(file.size)

    @admin.display(description="open")
    def open_link(self, file: StoredFile) -> str:
        if file.deleted_at is not None or file.status != StoredFile.Status.AVAILABLE:
            return "—"
        url = reverse("admin:storage_storedfile_open", args=[file.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">open</a>', url)

    @admin.display(description="open")
    def open_attached_link(self, file: StoredFile) -> str:
        """The link for users who may open only attached documents (invoice PDFs), not customers' uploads."""
        return self.open_link(file) if file.is_attached else "—"

    def _open_column(self, request: HttpRequest) -> str:
        may_open_uploads = permission_allowed(actor=request.user, permission=OPEN_UPLOAD_PERMISSION)
        return "open_link" if may_open_uploads else "open_attached_link"

    def get_list_display(self, request: HttpRequest) -> list[str | Callable[[Any], str | bool]]:
        return [
            self._open_column(request) if name == "open_link" else name for name in super().get_list_display(request)
        ]

    def get_fields(
        self, request: HttpRequest, obj: StoredFile | None = None
    ) -> list[str | list[str] | tuple[str, ...]]:
        return [
            self._open_column(request) if name == "open_link" else name for name in super().get_fields(request, obj)
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: StoredFile | None = None) -> list[str]:
        return [self._open_column(request) if name == "open_link" else name for name in self.readonly_fields]

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<uuid:file_id>/open/",
                self.admin_site.admin_view(self.open_view),
                name="storage_storedfile_open",
            )
        ]
        return custom + super().get_urls()

    def open_view(self, request: HttpRequest, file_id: str) -> HttpResponse:
        """Sign a URL at click time (not when the list renders) so the link staff follow is fresh and short-lived."""
        file = get_object_or_404(StoredFile, pk=file_id)
        if not self.has_view_permission(request, file) or not file_open_allowed(actor=request.user, file=file):
            raise PermissionDenied
        lifetime = datetime.timedelta(seconds=settings.STORAGE_ADMIN_LINK_SECONDS)
        try:
            url, _expires_at = services.file_signed_url(file=file, expires_in=lifetime)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:storage_storedfile_change", args=[file.pk]))
        return HttpResponseRedirect(url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # files arrive through uploads and invoices, never typed in

    def has_change_permission(self, request: HttpRequest, obj: StoredFile | None = None) -> bool:
        return False

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # Django runs a POST of the delete page in one transaction, which would keep the file's row locked while
        # file_delete removes the object from the bucket; file_delete owns its (short) transaction instead.
        return self._delete_view(request, object_id, extra_context)  # type: ignore[attr-defined]

    def delete_model(self, request: HttpRequest, obj: StoredFile) -> None:
        self._delete(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> None:
        for file in queryset.filter(deleted_at__isnull=True):
            self._delete(request, file)

    def _delete(self, request: HttpRequest, file: StoredFile) -> None:
        """Through the same service as the API: the object leaves the bucket, the row is marked deleted."""
        try:
            services.file_delete(file=file, by_customer=False)
        except ApplicationError as error:
            request._storage_delete_failed = True  # type: ignore[attr-defined]
            self.message_user(request, f"{file.original_name}: {error.message}", messages.ERROR)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        if getattr(request, "_storage_delete_failed", False):
            return HttpResponseRedirect(reverse("admin:storage_storedfile_change", args=[obj_id]))
        return super().response_delete(request, obj_display, obj_id)
