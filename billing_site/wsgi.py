"""WSGI entry point; defaults to production settings (DJANGO_SETTINGS_MODULE, in the environment or .env, wins)."""

from django.core.wsgi import get_wsgi_application

from billing_site.settings import settings_module_select

settings_module_select(default="billing_site.settings.production")
application = get_wsgi_application()
