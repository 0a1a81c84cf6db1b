"""Celery application; without a broker (CELERY_BROKER_URL unset) tasks run eagerly in-process.

A worker (`celery -A billing_site worker`) defaults to production settings, like the web servers."""

from typing import Any

from celery import Celery, signals

from billing_site.settings import settings_module_select

settings_module_select(default="billing_site.settings.production")

app = Celery("billing_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.worker_process_init.connect
def _worker_database_role(**kwargs: Any) -> None:
    """Worker processes render PDFs and renew subscriptions: their statements get the worker's time limit."""
    from billing_site.db import database_role_set

    database_role_set("worker")


@signals.setup_logging.connect
def _keep_django_logging(**kwargs: Any) -> None:
    """Workers and beat log through Django's LOGGING (request/job ids, JSON in production), not Celery's own."""
