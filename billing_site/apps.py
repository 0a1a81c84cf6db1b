"""App config of the project package: registers its system checks and loads the Celery app."""

from django.apps import AppConfig


class BillingSiteConfig(AppConfig):
    name = "billing_site"
    verbose_name = "billing_site"

    def ready(self) -> None:
        # The Celery app is created here rather than in billing_site/__init__.py, so that importing the package
        # (as manage.py does to choose its settings) cannot choose the servers' settings module as a side effect.
        from . import celery, checks, db  # noqa: F401  (creates the Celery app; registers the system checks and
        # the database time limits of every new connection)
