"""billing_site project package. Importing it has no side effect: entry points choose the settings first
(billing_site.settings.settings_module_select), and the Celery app loads when Django's apps are ready (apps.py)."""
