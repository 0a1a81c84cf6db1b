"""Settings for a developer's machine: debug on, SQLite and local files unless the environment says otherwise."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import SECRET_KEY, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [  # noqa: F405
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ]

if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY: the development key is only used with DEBUG on.")
    # Public (it is in the repository), so only ever used with DEBUG on, on a developer's machine.
    SECRET_KEY = "django-insecure-local-development-key-never-use-it-on-a-server"  # noqa: S105

if not EMAIL_URL and not ANYMAIL_ESP:  # noqa: F405
    # Readable mail on a developer's machine: one .log file per message under media/emails (`make run` says so).
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(MEDIA_ROOT / "emails")  # noqa: F405
