"""App config of the background jobs: loads the apps' job handlers once Django is ready."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "billing_site.jobs"
    label = "jobs"
    verbose_name = _("Background jobs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the `jobs.run` task that job_dispatch sends)
        from .registry import handlers_autodiscover

        handlers_autodiscover()
