"""Celery application; without a broker (CELERY_BROKER_URL unset) tasks run eagerly in-process.

A worker (`celery -A billing_site worker`) defaults to production settings, like the web servers."""

from celery import Celery

from billing_site.settings import settings_module_select

settings_module_select(default="billing_site.settings.production")

app = Celery("billing_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
