"""The staff back-office: every billing model registered (storage registers its own), dashboard, language switch.

Importing this package (Django's admin autodiscovery does) registers the model admins of its modules and adds
two URLs to the default admin site, without touching the project's urls.py:
/admin/dashboard/ (name `admin:billing_dashboard`) and /admin/language/ (`admin:billing_set_language`).
"""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path
from django.views.i18n import set_language

from . import customers, invoices, orders, payments, plans, subscriptions  # noqa: F401  (register the admins)
from .dashboard import dashboard_view
from .stripe import djstripe_custom_actions_guard, webhook_event_admin_register

webhook_event_admin_register()
djstripe_custom_actions_guard()

_default_get_urls = admin.site.get_urls


def _site_urls() -> list[URLPattern | URLResolver]:
    return [
        path("dashboard/", admin.site.admin_view(dashboard_view), name="billing_dashboard"),
        # Django's set_language (cookie + redirect to `next`), for staff who want the admin in English.
        path("language/", set_language, name="billing_set_language"),
        *_default_get_urls(),
    ]


if getattr(admin.site.get_urls, "__name__", "") != _site_urls.__name__:
    admin.site.get_urls = _site_urls  # type: ignore[method-assign]
