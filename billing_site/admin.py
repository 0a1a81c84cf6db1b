"""The project's admin site: Django's, plus the pages that belong to no single model (dashboard, language switch)."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import URLPattern, URLResolver, path
from django.views.i18n import set_language


class BillingAdminSite(admin.AdminSite):
    """`admin.site` of this project (BillingAdminConfig makes it the default site).

    Adds /admin/dashboard/ (`admin:billing_dashboard`) and /admin/language/ (`admin:billing_set_language`).
    """

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # Imported here, not at the top: importing billing.admin registers its model admins on this very site,
        # which must exist by then.
        from billing.admin.dashboard import dashboard_view

        return [
            path("dashboard/", self.admin_view(dashboard_view), name="billing_dashboard"),
            # Django's set_language (cookie + redirect to `next`), for staff who want the admin in English.
            path("language/", set_language, name="billing_set_language"),
            *super().get_urls(),
        ]


class BillingAdminConfig(AdminConfig):
    """Replaces "django.contrib.admin" in INSTALLED_APPS, so that `admin.site` is a BillingAdminSite."""

    default_site = "billing_site.admin.BillingAdminSite"
