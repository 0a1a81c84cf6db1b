"""billing_site project package; loads the Celery app so tasks register with Django."""

from .celery import app as celery_app

__all__ = ["celery_app"]
