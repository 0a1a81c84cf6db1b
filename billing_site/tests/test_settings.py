"""Production settings pass `check --deploy`; configuration comes from the environment.

Servers (wsgi, asgi, celery) default to production settings, which refuse to load without what production needs;
manage.py defaults to local settings for developers. Each configuration runs in its own process.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError

ROOT = Path(__file__).resolve().parents[2]
# Variables the settings read, which a developer's shell must not leak into these processes.
SETTINGS_VARIABLES = ("AWS_", "STRIPE_", "DJANGO_", "DATABASE", "CACHE_URL", "NUM_PROXIES", "JWT_", "LOGIN_")


def clean_environment(env: dict[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_VARIABLES)}
    return {**clean, "DJANGO_ENV_FILE": "", **env}  # no .env unless the test writes one


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "billing_site.settings.production",
    "DJANGO_SECRET_KEY": "k7Hq2vX9pLm4Rt8Wz1Yc6Nb3Df5Gj0Ks2Ua9Ei7Oo4Pq1Zx8Cv5Bn3Mm6Ll9Aa",
    "DJANGO_ALLOWED_HOSTS": "billing.example.com",
    "DATABASE_URL": "postgres://billing:password@db.example.com:5432/billing",
    "CACHE_URL": "redis://cache.example.com:6379/1",
    "NUM_PROXIES": "1",
    "AWS_STORAGE_BUCKET_NAME": "billing-prod",
    "STRIPE_SECRET_KEY": "sk_live_" + "x" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "y" * 24,
    "EMAIL_URL": "smtp+tls://billing:password@smtp.example.com:587",
}


def test_check_deploy_passes_with_production_settings():
    done = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}

    done = run_manage("check", env=env)

    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY" in done.stderr


def test_settings_come_from_the_environment():
    done = run_manage(
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.STRIPE_ENABLED, "
        "s.STORAGES['default']['BACKEND'], s.TIME_ZONE, s.LANGUAGE_CODE)",
        env={"DJANGO_SETTINGS_MODULE": "billing_site.settings.local"},
    )
    with_env = run_manage(
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.STRIPE_ENABLED, "
        "s.STORAGES['default']['BACKEND'])",
        env={**PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "billing_site.settings.local"},
    )

    assert done.stdout.split() == [
        "django.db.backends.sqlite3",
        "False",
        "storage.backends.SignedFileSystemStorage",
        "Asia/Seoul",
        "ko",
    ]
    assert with_env.stdout.split() == ["django.db.backends.postgresql", "True", "storages.backends.s3.S3Storage"]


# --- Issue 10 finding 11: servers default to production, which refuses unsafe defaults -----------------------

SERVER_IMPORTS = {
    "wsgi": "import billing_site.wsgi",
    "asgi": "import billing_site.asgi",
    # The Celery app reads Django's settings when its configuration is first used.
    "celery": "from billing_site.celery import app; app.conf.timezone",
}
SHOW_SETTINGS = "; from django.conf import settings as s; print(s.SETTINGS_MODULE, s.DEBUG)"
SERVER_ENV = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SETTINGS_MODULE"}


@pytest.mark.parametrize("server", SERVER_IMPORTS)
def test_servers_refuse_to_start_without_configuration(server):
    done = run_python(SERVER_IMPORTS[server], env={})

    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "DJANGO_SECRET_KEY" in done.stderr


@pytest.mark.parametrize("server", SERVER_IMPORTS)
def test_servers_default_to_production_settings(server):
    done = run_python(SERVER_IMPORTS[server] + SHOW_SETTINGS, env=SERVER_ENV)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["billing_site.settings.production", "False"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DJANGO_SECRET_KEY", None),
        ("DJANGO_SECRET_KEY", "change-me-to-a-long-random-string"),  # .env.example's placeholder
        ("DJANGO_SECRET_KEY", "django-insecure-local-development-key-never-use-it-on-a-server"),
        ("JWT_SIGNING_KEY", "change-me-too"),
        ("DJANGO_ALLOWED_HOSTS", None),
        ("DJANGO_ALLOWED_HOSTS", ""),
        ("DATABASE_URL", None),
        ("DATABASE_URL", "sqlite:////tmp/billing.sqlite3"),
        ("CACHE_URL", None),
        ("CACHE_URL", "locmemcache://billing-site"),
        ("CACHE_URL", "dummycache://"),
        ("NUM_PROXIES", None),
    ],
)
def test_production_refuses_to_start_with_an_unsafe_default(variable, value):
    env = {k: v for k, v in SERVER_ENV.items() if k != variable}
    if value is not None:
        env[variable] = value

    done = run_python("import billing_site.wsgi", env=env)

    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert variable in done.stderr


def test_base_settings_hold_no_usable_secret_key():
    done = run_python(
        "import django; from django.conf import settings; settings.SECRET_KEY",
        env={"DJANGO_SETTINGS_MODULE": "billing_site.settings.base"},
    )

    assert done.returncode != 0
    assert "The SECRET_KEY setting must not be empty" in done.stderr


def test_the_development_key_exists_only_with_debug_on():
    debug_on = run_manage(
        "shell", "-v", "0", "-c", "from django.conf import settings as s; print(s.SECRET_KEY)", env={}
    )
    debug_off = run_manage("check", env={"DJANGO_DEBUG": "false"})

    assert debug_on.returncode == 0, debug_on.stderr
    assert debug_on.stdout.strip().startswith("django-insecure-")
    assert debug_off.returncode != 0
    assert "DJANGO_SECRET_KEY" in debug_off.stderr


def test_manage_py_works_with_no_configuration_at_all():
    done = run_manage("check", env={})

    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_dotenv_settings_module_is_honoured_by_manage_py_and_the_servers(tmp_path):
    production_dotenv = tmp_path / "production.env"
    production_dotenv.write_text("".join(f"{k}={v}\n" for k, v in PRODUCTION_ENV.items()))
    local_dotenv = tmp_path / "local.env"
    local_dotenv.write_text("DJANGO_SETTINGS_MODULE=billing_site.settings.local\n")
    show = "from django.conf import settings as s; print(s.SETTINGS_MODULE, s.DEBUG)"

    manage = run_manage("shell", "-v", "0", "-c", show, env={"DJANGO_ENV_FILE": str(production_dotenv)})
    server = run_python("import billing_site.wsgi" + SHOW_SETTINGS, env={"DJANGO_ENV_FILE": str(local_dotenv)})
    environment_wins = run_python(
        "import billing_site.wsgi" + SHOW_SETTINGS,
        env={"DJANGO_ENV_FILE": str(production_dotenv), "DJANGO_SETTINGS_MODULE": "billing_site.settings.local"},
    )

    assert manage.stdout.split() == ["billing_site.settings.production", "False"], manage.stderr
    assert server.stdout.split()[-2:] == ["billing_site.settings.local", "True"], server.stderr
    assert environment_wins.stdout.split()[-2:] == ["billing_site.settings.local", "True"], environment_wins.stderr


# --- Issue 10 finding 7: throttle counters need a shared cache in production --------------------------------


def test_a_per_process_cache_is_a_system_check_error_where_a_shared_one_is_required(settings):
    from billing_site.checks import throttle_cache_check

    settings.CACHE_MUST_BE_SHARED = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    errors = throttle_cache_check()

    assert [(type(error), error.id) for error in errors] == [(Error, "billing_site.E001")]
    with pytest.raises(SystemCheckError, match=r"billing_site\.E001"):
        call_command("check", tags=["caches"])  # registered: `manage.py check` runs it


@pytest.mark.parametrize(
    ("required", "backend"),
    [
        (True, "django.core.cache.backends.redis.RedisCache"),
        (True, "django.core.cache.backends.db.DatabaseCache"),
        (False, "django.core.cache.backends.locmem.LocMemCache"),  # a developer's machine or the test suite
    ],
)
def test_shared_caches_pass_the_throttle_cache_check(settings, required, backend):
    from billing_site.checks import throttle_cache_check

    settings.CACHE_MUST_BE_SHARED = required
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://cache.example.com:6379/1"}}

    assert throttle_cache_check() == []


EMAIL_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, getattr(s, 'ANYMAIL', {}))"
)


def _email_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_manage("shell", "--verbosity", "0", "-c", EMAIL_SETTINGS, env=env)


def test_production_refuses_to_start_without_a_mail_server_or_provider():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "EMAIL_URL"}

    done = run_manage("check", env=env)

    assert done.returncode != 0
    assert "EMAIL_URL" in done.stderr


def test_email_url_and_anymail_provider_configure_djangos_email_backend():
    smtp = _email_settings({**PRODUCTION_ENV, "EMAIL_URL": "smtp+ssl://billing:secret@smtp.example.com:465"})
    provider = _email_settings(
        {
            **{k: v for k, v in PRODUCTION_ENV.items() if k != "EMAIL_URL"},
            "ANYMAIL_ESP": "postmark",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "server-token",
        }
    )
    unknown = run_manage("check", env={**PRODUCTION_ENV, "ANYMAIL_ESP": "carrier-pigeon"})

    assert smtp.returncode == 0, smtp.stderr
    assert smtp.stdout.split()[:5] == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "465",
        "False",
        "True",
    ]
    assert provider.returncode == 0, provider.stderr
    assert provider.stdout.startswith("anymail.backends.postmark.EmailBackend ")
    assert "'POSTMARK_SERVER_TOKEN': 'server-token'" in provider.stdout
    assert unknown.returncode != 0 and "ANYMAIL_ESP" in unknown.stderr
