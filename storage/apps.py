"""App config of storage."""

from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "storage"
    verbose_name = "Files"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
