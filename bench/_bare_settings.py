"""Settings of the load benchmark's baseline app server: the project's local settings, URLs from bench/_bare_urls.

Selected with DJANGO_SETTINGS_MODULE=bench._bare_settings under the Procfile's own gunicorn command, so the
bare endpoint never exists in the production URLs.
"""

from billing_site.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench._bare_urls"
