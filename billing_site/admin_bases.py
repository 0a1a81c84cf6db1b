"""Bases of the apps' model admins that belong to no app (billing_site.admin is the site, which loads billing's)."""

from typing import Any

from django.contrib import admin


class SystemRecordAdmin(admin.ModelAdmin):
    """Rows only the system writes (background jobs, emails): every field read-only; nobody adds, changes or
    deletes one here, whatever their permissions (staff act on them through the actions the service checks)."""

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.concrete_fields]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
