"""Production settings pass `check --deploy`; configuration comes from the environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRIPE_", "DJANGO_", "DATABASE"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
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
    "AWS_STORAGE_BUCKET_NAME": "billing-prod",
    "STRIPE_SECRET_KEY": "sk_live_" + "x" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "y" * 24,
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
