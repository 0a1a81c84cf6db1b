"""App config of email: loads the apps' renderers (each app's `emails` module) once Django is ready."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailConfig(AppConfig):
    name = "billing_site.mail"
    label = "mail"
    verbose_name = _("Email")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .registry import renderers_autodiscover

        renderers_autodiscover()
