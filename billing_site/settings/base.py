"""Settings shared by every environment; everything that differs between machines comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from botocore.config import Config as BotoConfig
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from billing_site.logging import log_format_from_environment, logging_config, sentry_start
from billing_site.settings import env_file_read

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
env_file_read()  # .env (or DJANGO_ENV_FILE); variables already in the environment win

# --- Core -------------------------------------------------------------------
# No default here: local.py has a development key (with DEBUG on only), test.py its own, production.py refuses
# to start without a strong one. The key signs sessions, JWTs (unless JWT_SIGNING_KEY) and download URLs.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin, with the project's AdminSite (dashboard and language pages).
    "billing_site.admin.BillingAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "storages",
    "djstripe",
    "storage",
    "billing",
    "auditlog",
    "axes",
    "billing_site",
    "billing_site.jobs",
    "billing_site.mail",
]

MIDDLEWARE = [
    # First: every log line of the request, whichever middleware writes it, carries the request id.
    "billing_site.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "billing_site.middleware.ActingUserMiddleware",  # the session's user on log lines, once looked up
    "billing.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login (admin) into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "billing_site.urls"
WSGI_APPLICATION = "billing_site.wsgi.application"
ASGI_APPLICATION = "billing_site.asgi.application"
# API paths answer with and without a trailing slash themselves; redirecting would turn POSTs into GETs.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# SQLite is the zero-setup default; DATABASE_URL selects PostgreSQL (the test suite always uses it).
# Services own their transactions (@transaction.atomic), so ATOMIC_REQUESTS stays off: a request that
# stores an object on S3 and then fails in the database must see the failure to delete the object, and
# idempotency records must survive the request that failed.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# On PostgreSQL every connection waits at most this long for a lock and runs a statement at most this long
# (milliseconds; 0: no limit), then the statement is cancelled (billing_site.db) and the API answers 503
# `database_busy`. Celery worker processes (PDFs, renewals) get the longer statement limit.
DATABASE_LOCK_TIMEOUT_MS = env.int("DATABASE_LOCK_TIMEOUT_MS", default=5000)
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=30000)
WORKER_DATABASE_STATEMENT_TIMEOUT_MS = env.int("WORKER_DATABASE_STATEMENT_TIMEOUT_MS", default=300000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------
# django-axes first: it refuses a locked-out username or address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The client's address (throttles, login lockout) is the socket's unless proxies we run sit in front: NUM_PROXIES
# is how many of them append to X-Forwarded-For (billing_site.api.throttling.client_address). Never trust more
# than there are, or clients choose their own address.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# Failed logins (API token and admin alike) lock the username, and the client address, for a while.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
# A username with too many failures from anywhere (a botnet rotating addresses), or an address with too many
# failures against any usernames (password spraying).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "billing_site.api.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "billing_site.auth.lockout.lockout_response"
# Attempts while locked out are refused without being counted, so the lock ends AXES_COOLOFF_TIME after the
# failure that caused it, even while an attacker keeps trying.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Not True: a success would wipe every failure from the same address, including those against other usernames.
AXES_RESET_ON_SUCCESS = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no banner on every manage.py command; lockouts are still logged (WARNING)

# --- Locale -----------------------------------------------------------------
LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Seoul"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ---------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# S3 when a bucket is named, the local filesystem otherwise. Both give time-limited signed
# download URLs through the same `url(name, expire=..., parameters=...)` call (storage.signing).
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME", default="ap-northeast-2")
    # Empty (as in .env.example) is unset: path style for an endpoint of our own (LocalStack, MinIO), else auto.
    AWS_S3_ADDRESSING_STYLE = env("AWS_S3_ADDRESSING_STYLE", default="") or ("path" if AWS_S3_ENDPOINT_URL else "auto")
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = False
    AWS_S3_CUSTOM_DOMAIN = env("CLOUDFRONT_DOMAIN", default=None)
    AWS_CLOUDFRONT_KEY_ID = env("CLOUDFRONT_KEY_ID", default=None)
    AWS_CLOUDFRONT_KEY = env.str("CLOUDFRONT_PRIVATE_KEY", multiline=True, default="") or None
    # Fail fast when S3 is unreachable: a health check or upload must answer 503 in seconds, not hang.
    AWS_S3_CLIENT_CONFIG = BotoConfig(
        connect_timeout=env.float("AWS_S3_CONNECT_TIMEOUT", default=3.0),
        read_timeout=env.float("AWS_S3_READ_TIMEOUT", default=30.0),
        retries={"max_attempts": env.int("AWS_S3_MAX_ATTEMPTS", default=2), "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": AWS_S3_ADDRESSING_STYLE},
    )
    DEFAULT_STORAGE_BACKEND = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    DEFAULT_STORAGE_BACKEND = {"BACKEND": "storage.backends.SignedFileSystemStorage"}

STORAGES = {
    "default": DEFAULT_STORAGE_BACKEND,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "billing_site.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "billing_site.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "billing_site.api.errors.exception_handler",
    # DRF's defaults, with JSON bodies nested too deeply refused with a 400 instead of a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "billing_site.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env("THROTTLE_AUTH_RATE", default="20/min"),
        "uploads": env("THROTTLE_UPLOADS_RATE", default="60/hour"),
        # POST /api/payment/invoice: each call takes a number from the gapless invoice sequence.
        "invoices": env("THROTTLE_INVOICES_RATE", default="30/hour"),
        # POST /api/payment/webhook per client address; Stripe redelivers what was refused with 429.
        "webhook": env("THROTTLE_WEBHOOK_RATE", default="600/min"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    # DRF's own default (None) trusts the whole X-Forwarded-For header; ours counts trusted proxies.
    "NUM_PROXIES": NUM_PROXIES,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_TOKEN_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_TOKEN_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Tokens carry a hash of the password hash: a password change ends every access and refresh token at once.
    "CHECK_REVOKE_TOKEN": True,
}
# Without JWT_SIGNING_KEY, simplejwt signs with the final SECRET_KEY (set by local, test or production settings).
if env("JWT_SIGNING_KEY", default=""):
    SIMPLE_JWT["SIGNING_KEY"] = env("JWT_SIGNING_KEY")

SPECTACULAR_SETTINGS = {
    "TITLE": "billing_site API",
    "DESCRIPTION": "Files, plans, subscriptions, invoices and payment history of billing_site customers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema component per choice set that several serializers share.
    "ENUM_NAME_OVERRIDES": {
        "BillingPeriodEnum": "billing.periods.BillingPeriod",
        "FileCategoryEnum": "storage.models.StoredFile.Category",
        "BalanceEntryKindEnum": "billing.enums.BalanceEntryKind",
        "CreditNoteReasonEnum": "billing.enums.CreditNoteReason",
        "CreditSettlementEnum": "billing.enums.CreditSettlement",
        "RefundMethodEnum": "billing.enums.RefundMethod",
        "RefundStatusEnum": "billing.enums.RefundStatus",
        # Checkout's `method` (bank transfer only) keeps its name beside a refund's `method`.
        "MethodEnum": ["bank_transfer"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "billing_site.api.schema.strip_trailing_slashes",
    ],
}

# --- Caches (throttling counters) ------------------------------------------
# Per process by default, for developers; production requires a shared one (CACHE_URL=redis://...).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://billing-site")}
# True in production: a per-process cache is then a system-check error (billing_site.E001).
CACHE_MUST_BE_SHARED = False

# --- Health checks -----------------------------------------------------------
# /healthz and /healthz/ready reuse a check's result for this many seconds (per process; 0: never).
HEALTH_CHECK_CACHE_SECONDS = env.float("HEALTH_CHECK_CACHE_SECONDS", default=5.0)
# Seconds readiness waits for Redis (checked when CELERY_BROKER_URL is redis:// or rediss://) to connect and answer.
HEALTH_CHECK_REDIS_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_REDIS_TIMEOUT_SECONDS", default=2.0)

# --- Stripe (dj-stripe) -----------------------------------------------------
# Stripe is on when a secret key is set; dj-stripe is installed and migrated either way.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_ENABLED = bool(STRIPE_SECRET_KEY)
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY if STRIPE_LIVE_MODE else ""
STRIPE_TEST_SECRET_KEY = "" if STRIPE_LIVE_MODE else STRIPE_SECRET_KEY
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
DJSTRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
# A Stripe call gives up after this many seconds (the library's default is 80) and is retried this often on a
# network error, with the same idempotency key, so a retry never creates twice.
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=20)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Webhook signatures older than this are refused (replays); Stripe's own default.
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
# A failing webhook event is retried with exponential backoff (1 min, 2 min, ... at most 6 h) this many times,
# then left for staff (manage.py billing_retry_webhooks --all).
STRIPE_WEBHOOK_MAX_ATTEMPTS = env.int("STRIPE_WEBHOOK_MAX_ATTEMPTS", default=8)
if env("STRIPE_API_HOST", default=""):
    # Only for a local Stripe-compatible server; dj-stripe refuses this setting when DEBUG is off.
    STRIPE_API_HOST = env("STRIPE_API_HOST")

# --- Celery and background jobs (docs/operations.md) --------------------------
# Without a broker (CELERY_BROKER_URL unset) every job runs in this process right after the transaction that asked
# for it commits: `make run` needs no Redis. Production: redis://HOST:6379/0.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://")
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, and given back to the queue if its worker dies: jobs are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis down must not hold a web request: a message that cannot be sent in about a second is left to the sweeper.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600),
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
}
# A pending job whose message was sent this long ago and has not run is sent again by the sweeper.
JOBS_RESEND_AFTER_SECONDS = env.int("JOBS_RESEND_AFTER_SECONDS", default=300)
# The schedule beat keeps (Asia/Seoul). Each job is safe to run twice: two beats by mistake change nothing more.
# Done jobs are deleted after this many days (failed ones stay until staff retry them).
JOBS_KEEP_DONE_DAYS = env.int("JOBS_KEEP_DONE_DAYS", default=30)
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "jobs.sweep", "schedule": env.int("JOBS_SWEEP_SECONDS", default=60)},
    "jobs-purge": {"task": "jobs.purge", "schedule": crontab(minute="30", hour="4")},
    # BILLING_RENEWALS_EVERY_SECONDS: every N seconds instead (the two-beat fault test; a renewal run is idempotent).
    "billing-renewals": {
        "task": "billing.renewals",
        # Empty (as in .env.example) is unset, like 0.
        "schedule": int(env("BILLING_RENEWALS_EVERY_SECONDS", default="") or 0) or crontab(minute="5"),
    },
    "billing-webhook-retries": {"task": "billing.webhook_retries", "schedule": crontab(minute="*/5")},
    # Renewal notices daily at 10:00 (Seoul): a morning email, not one at midnight. A missed day is caught up.
    "billing-renewal-notices": {"task": "billing.renewal_notices", "schedule": crontab(minute="0", hour="10")},
    # Dunning daily at 10:15 (Seoul), after the night's renewals and with the morning's emails.
    "billing-dunning": {"task": "billing.dunning", "schedule": crontab(minute="15", hour="10")},
    "billing-provider-reconcile": {"task": "billing.provider_reconcile", "schedule": crontab(minute="*/10")},
    # Card subscriptions renewing within 3 days get the tax rate of their renewal at Stripe, daily at 03:25 (Seoul).
    "billing-provider-tax-rates": {"task": "billing.provider_tax_rates", "schedule": crontab(minute="25", hour="3")},
    # Usage alerts (80 % / 100 % of the included quantity) every 5 minutes; each run looks back 10 minutes.
    "billing-usage-alerts": {"task": "billing.usage_alerts", "schedule": crontab(minute="*/5")},
    # Next months' usage event partitions, daily at 03:10 (Seoul); a missed day changes nothing (12 months ahead).
    "billing-usage-partitions": {"task": "billing.usage_partitions", "schedule": crontab(minute="10", hour="3")},
    "billing-purge-idempotency-keys": {"task": "billing.purge_idempotency_keys", "schedule": crontab(minute="20")},
    "storage-purge-pending": {"task": "storage.purge_pending", "schedule": crontab(minute="40")},
}

# --- Email (billing_site.mail) -----------------------------------------------
# EMAIL_URL picks Django's email backend (django-environ's email_url): smtp://user:pass@host:25,
# smtp+tls://...:587 (STARTTLS, as is smtps://), smtp+ssl://...:465 (implicit TLS), consolemail:// (print),
# filemail:// (files under media/emails), dummymail:// (discard). Unset: local settings write files under
# media/emails, production refuses to start unless ANYMAIL_ESP names a provider. Every message is an Email row
# sent by a worker (docs/operations.md, "Email").
EMAIL_URL = env("EMAIL_URL", default="")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if EMAIL_URL:
    _email_config = env.email_url_config(EMAIL_URL)
    if _email_config["EMAIL_BACKEND"].endswith("filebased.EmailBackend") and not _email_config["EMAIL_FILE_PATH"]:
        _email_config["EMAIL_FILE_PATH"] = str(MEDIA_ROOT / "emails")
    vars().update({key: value for key, value in _email_config.items() if value is not None})
# A production provider through django-anymail instead of SMTP: amazon_ses, mailgun, postmark or sendgrid, with its
# credentials below (SES uses the AWS credentials of the process, like S3).
ANYMAIL_ESP = env("ANYMAIL_ESP", default="")
ANYMAIL_ESPS = ("amazon_ses", "mailgun", "postmark", "sendgrid")
if ANYMAIL_ESP:
    if ANYMAIL_ESP not in ANYMAIL_ESPS:
        raise ImproperlyConfigured(f"ANYMAIL_ESP must be one of {', '.join(ANYMAIL_ESPS)}, not {ANYMAIL_ESP!r}.")
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
    ANYMAIL = {
        key: value
        for key, value in {
            "MAILGUN_API_KEY": env("ANYMAIL_MAILGUN_API_KEY", default=""),
            "MAILGUN_SENDER_DOMAIN": env("ANYMAIL_MAILGUN_SENDER_DOMAIN", default=""),
            "MAILGUN_API_URL": env("ANYMAIL_MAILGUN_API_URL", default=""),
            "POSTMARK_SERVER_TOKEN": env("ANYMAIL_POSTMARK_SERVER_TOKEN", default=""),
            "SENDGRID_API_KEY": env("ANYMAIL_SENDGRID_API_KEY", default=""),
            "AMAZON_SES_CLIENT_PARAMS": {"region_name": env("ANYMAIL_AMAZON_SES_REGION", default="ap-northeast-2")},
        }.items()
        if value
    }
# Seconds an SMTP connection may wait: a dead mail server never holds a worker for long.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=15)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="빌링사이트 <billing@example.com>")
SERVER_EMAIL = env("SERVER_EMAIL", default="billing@example.com")
# Sending attempts of one email (backoff 30 s doubling, like every job) before it is marked failed.
MAIL_MAX_ATTEMPTS = env.int("MAIL_MAX_ATTEMPTS", default=8)
# An invoice PDF larger than this is linked (a signed URL valid MAIL_LINK_EXPIRES_HOURS) instead of attached.
MAIL_ATTACHMENT_MAX_BYTES = env.int("MAIL_ATTACHMENT_MAX_BYTES", default=5 * 1024 * 1024)
MAIL_LINK_EXPIRES_HOURS = env.int("MAIL_LINK_EXPIRES_HOURS", default=7 * 24)
# The public address of the site, for links in emails (password reset, the customer portal later).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# The link of the password reset email: the frontend's page, which posts uid, token and the new password to
# POST /api/auth/password/reset/confirm. {uid} and {token} are filled in when the email is sent.
# Empty (as in .env.example) is unset: the site's own /reset-password page.
PASSWORD_RESET_URL = env("PASSWORD_RESET_URL", default="") or SITE_URL + "/reset-password?uid={uid}&token={token}"
# How long a reset link works (Django's token generator); it also stops working once used or after a login.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=3600)

# --- storage app -------------------------------------------------------------
# (owned by the storage app; each setting documented in .env.example)
STORAGE_MAX_UPLOAD_BYTES = env.int("STORAGE_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
# Lifetime of the download URL embedded in file metadata responses (the presigned-url endpoint takes 24-168 h).
STORAGE_DOWNLOAD_URL_HOURS = env.int("STORAGE_DOWNLOAD_URL_HOURS", default=24)
# How long a direct-to-S3 presigned POST stays usable, and when an uncompleted upload counts as abandoned.
STORAGE_DIRECT_UPLOAD_EXPIRY_SECONDS = env.int("STORAGE_DIRECT_UPLOAD_EXPIRY_SECONDS", default=15 * 60)
STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS = env.int("STORAGE_PENDING_UPLOAD_MAX_AGE_HOURS", default=24)
# Lifetime of the signed link behind the admin's "open" column.
STORAGE_ADMIN_LINK_SECONDS = env.int("STORAGE_ADMIN_LINK_SECONDS", default=5 * 60)
if AWS_STORAGE_BUCKET_NAME:
    from boto3.s3.transfer import TransferConfig

    # storage.services writes with one streaming PutObject of its own (storage.backends.object_put); this keeps
    # any default_storage.save() up to the limit to one streaming PutObject too, where s3transfer's multipart
    # upload would buffer each part in memory (8 MB x 10 threads by default) and cost extra round trips.
    AWS_S3_TRANSFER_CONFIG = TransferConfig(
        multipart_threshold=STORAGE_MAX_UPLOAD_BYTES + 1,
        multipart_chunksize=8 * 1024 * 1024,
        max_concurrency=4,
    )

# --- billing app -------------------------------------------------------------
# (owned by the billing app; each setting documented in .env.example)
BILLING_DEFAULT_CURRENCY = env("BILLING_DEFAULT_CURRENCY", default="KRW")
# VAT in basis points (1000 = 10%), an integer: no float ever touches money. Fractions of a won are truncated.
BILLING_VAT_RATE_BASIS_POINTS = env.int("BILLING_VAT_RATE_BASIS_POINTS", default=1000)
# Scheduled VAT rate changes, "YYYY-MM-DD=basis points,...": the rate from that Seoul day on (billing.tax). An invoice
# keeps the rate of its issue day; BILLING_VAT_RATE_BASIS_POINTS is the rate before the first change.
BILLING_VAT_RATE_CHANGES = env.str("BILLING_VAT_RATE_CHANGES", default="")
BILLING_INVOICE_DUE_DAYS = env.int("BILLING_INVOICE_DUE_DAYS", default=30)
# Days before a renewal that its customer is told what it will charge (billing.renewal_notices); 0: no notices.
BILLING_RENEWAL_NOTICE_DAYS = env.int("BILLING_RENEWAL_NOTICE_DAYS", default=7)
# Days before a trial ends that its customer is told what the first invoice will be; 0: no notice.
BILLING_TRIAL_ENDING_NOTICE_DAYS = env.int("BILLING_TRIAL_ENDING_NOTICE_DAYS", default=3)
# Dunning of an overdue subscription invoice: a reminder (and, for cards, a provider retry) this many days after
# its due date, then the final action BILLING_DUNNING_FINAL_DAYS after it: "cancel" the subscription or mark the
# invoice "uncollectible".
BILLING_DUNNING_SCHEDULE = env.list("BILLING_DUNNING_SCHEDULE", cast=int, default=[1, 3, 7])
BILLING_DUNNING_FINAL_DAYS = env.int("BILLING_DUNNING_FINAL_DAYS", default=14)
BILLING_DUNNING_FINAL_ACTION = env("BILLING_DUNNING_FINAL_ACTION", default="cancel")
# The longest pause a customer may ask for (days); staff are not limited.
BILLING_PAUSE_MAX_DAYS = env.int("BILLING_PAUSE_MAX_DAYS", default=90)
# What customers may invoice themselves through POST /api/payment/invoice: "any" amount (the seed's behaviour) or
# "orders_only" (only their own orders). Production should use orders_only (docs/api/payments.md).
BILLING_CUSTOMER_INVOICES = env("BILLING_CUSTOMER_INVOICES", default="any")
# The seller as printed on every invoice PDF (Korean and English forms).
BILLING_SELLER = {
    "name": env("BILLING_SELLER_NAME", default="주식회사 빌링사이트"),
    "name_en": env("BILLING_SELLER_NAME_EN", default="Billing Site Inc."),
    "representative": env("BILLING_SELLER_REPRESENTATIVE", default="홍길동"),
    "business_registration_number": env("BILLING_SELLER_BUSINESS_NUMBER", default="123-45-67891"),
    "address": env("BILLING_SELLER_ADDRESS", default="서울특별시 강남구 테헤란로 123, 4층"),
    "address_en": env("BILLING_SELLER_ADDRESS_EN", default="4F, 123 Teheran-ro, Gangnam-gu, Seoul, Korea"),
    "phone": env("BILLING_SELLER_PHONE", default="02-1234-5678"),
    "email": env("BILLING_SELLER_EMAIL", default="billing@example.com"),
    "bank_name": env("BILLING_SELLER_BANK_NAME", default="국민은행"),
    "bank_name_en": env("BILLING_SELLER_BANK_NAME_EN", default="KB Kookmin Bank"),
    "bank_account": env("BILLING_SELLER_BANK_ACCOUNT", default="123456-01-234567"),
    "bank_account_holder": env("BILLING_SELLER_BANK_ACCOUNT_HOLDER", default="주식회사 빌링사이트"),
}
# A TrueType font with Hangul (and ₩) for invoice PDFs; a missing one is a system-check error (billing.E001).
BILLING_PDF_FONT_PATH = env("BILLING_PDF_FONT_PATH", default="/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
BILLING_PDF_FONT_BOLD_PATH = env(
    "BILLING_PDF_FONT_BOLD_PATH", default="/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf"
)
# Lifetime of the signed PDF link in API responses (GET /api/invoices/{id}/pdf always gives a fresh one).
BILLING_PDF_URL_EXPIRES_SECONDS = env.int("BILLING_PDF_URL_EXPIRES_SECONDS", default=3600)
# Stored responses of Idempotency-Key POSTs are replayed for this long, then purged.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# How long a request waits for a concurrent request with the same key to finish before answering 409.
IDEMPOTENCY_WAIT_SECONDS = env.int("IDEMPOTENCY_WAIT_SECONDS", default=10)

# --- Logging and error reports ------------------------------------------------
# Every line carries the request id and the acting user (or a job's id): billing_site.logging. LOG_FORMAT is
# plain (readable, the default here, in local and test) or json (one object per line; production's default).
LOG_FORMAT = log_format_from_environment("plain")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)

# Sentry only when a DSN is set: unhandled errors of requests and Celery tasks, without personal data.
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    sentry_start(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        release=env("SENTRY_RELEASE", default=None),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
