"""Settings for production: every secret from the environment, HTTPS only, no defaults that would be unsafe.

It refuses to load (ImproperlyConfigured) without a strong DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, a
DATABASE_URL that is not SQLite, a CACHE_URL shared by every process (throttle counters), NUM_PROXIES, and an S3
bucket unless STORAGE_LOCAL_SINGLE_HOST says this is a single-host install. Logs are JSON unless LOG_FORMAT=plain.
"""

from typing import cast

from django.core.exceptions import ImproperlyConfigured

from billing_site.logging import log_format_from_environment, logging_config
from billing_site.settings import PER_PROCESS_CACHE_BACKENDS

from .base import *  # noqa: F403
from .base import AWS_STORAGE_BUCKET_NAME, CACHES, DATABASES, LOG_LEVEL, NUM_PROXIES, SIMPLE_JWT, env


def _refuse(variable: str, problem: str) -> None:
    raise ImproperlyConfigured(f"Production settings: {variable} {problem} (see docs/operations.md).")


def _strong_key(key: str) -> bool:
    """Django's own rule for a usable SECRET_KEY (check --deploy, security.W009), plus our placeholders."""
    return len(key) >= 50 and len(set(key)) >= 5 and not key.startswith(("django-insecure-", "change-me"))


DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not _strong_key(SECRET_KEY):
    _refuse("DJANGO_SECRET_KEY", "must be set to a random value of at least 50 characters")
if "SIGNING_KEY" in SIMPLE_JWT and not _strong_key(cast(str, SIMPLE_JWT["SIGNING_KEY"])):
    _refuse("JWT_SIGNING_KEY", "must be a random value of at least 50 characters, or unset (DJANGO_SECRET_KEY)")
ALLOWED_HOSTS = [host for host in env.list("DJANGO_ALLOWED_HOSTS", default=[]) if host]
if not ALLOWED_HOSTS:
    _refuse("DJANGO_ALLOWED_HOSTS", "must name the host names the site answers to")
if not env("DATABASE_URL", default="") or DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _refuse("DATABASE_URL", "must point at PostgreSQL (SQLite is for a developer's machine)")
if not env("CACHE_URL", default="") or CACHES["default"]["BACKEND"] in PER_PROCESS_CACHE_BACKENDS:
    _refuse("CACHE_URL", "must be a cache every process shares, e.g. redis://host:6379/1 (throttle counters)")
if env("NUM_PROXIES", default=None) is None:
    # Behind a load balancer, 0 would make its address every client's: one bucket and one lockout for everybody.
    _refuse("NUM_PROXIES", "must say how many proxies of ours append to X-Forwarded-For (0: clients connect directly)")
CACHE_MUST_BE_SHARED = True
if not env("EMAIL_URL", default="") and not env("ANYMAIL_ESP", default=""):
    # Without it invoices, receipts and password resets would go nowhere while everything looks fine.
    _refuse("EMAIL_URL", "must name the mail server (smtp+tls://user:pass@host:587), or ANYMAIL_ESP a provider")
STORAGE_LOCAL_SINGLE_HOST = env.bool("STORAGE_LOCAL_SINGLE_HOST", default=False)
if not AWS_STORAGE_BUCKET_NAME and not STORAGE_LOCAL_SINGLE_HOST:
    # Files on one server's disk are missing on every other server (and for the workers that render PDFs there).
    _refuse(
        "AWS_STORAGE_BUCKET_NAME",
        "must name the S3 bucket for uploads and PDFs; local-disk media only with STORAGE_LOCAL_SINGLE_HOST=true, "
        "when web and workers run on one host",
    )

# Log lines are for machines here: one JSON object each, unless LOG_FORMAT=plain.
LOG_FORMAT = log_format_from_environment("json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)

if NUM_PROXIES:
    # Only a proxy of ours may say the request came over HTTPS; without one, clients could claim it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Health probes come over plain HTTP from load balancers inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz(/live|/ready)?/?$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
