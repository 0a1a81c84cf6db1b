"""The deployment kit (deploy/): gunicorn starts from its config and serves; compose runs exactly the Procfile's
commands; the systemd units run as a non-root user from an environment file, hardened; production refuses
local-disk media unless the install says it is a single host."""

import configparser
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .test_settings import SERVER_ENV, run_python

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def procfile() -> dict[str, str]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], stderr: Path) -> None:
    """gunicorn binds before it boots its worker; give it the seconds a cold Django start takes."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, stderr.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not listen on {port}: {stderr.read_text()}")


def test_gunicorn_starts_from_the_procfile_command_and_serves_healthz(tmp_path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE", "AWS_", "STRIPE_"))},
        "DJANGO_ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "billing_site.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "CELERY_BROKER_URL": "memory://",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "LOG_FORMAT": "json",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        gunicorn = subprocess.Popen(shlex.split(procfile()["web"]), cwd=ROOT, env=env, stdout=out, stderr=err)
    try:
        _wait_until_listening(port, gunicorn, stderr)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "deploy-test-0123456789"}
        )
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 (our own server on loopback)
            status, request_id, body = response.status, response.headers["X-Request-ID"], json.load(response)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)

    assert (status, body["status"], request_id) == (200, "ok", "deploy-test-0123456789")
    assert gunicorn.returncode == 0, stderr.read_text()
    access = [json.loads(line) for line in stdout.read_text().splitlines()]
    assert [(line["path"], line["status"], line["request_id"]) for line in access] == [
        ("/healthz", 200, "deploy-test-0123456789")
    ]
    errors = [json.loads(line) for line in stderr.read_text().splitlines()]  # gunicorn's own lines, JSON too
    assert any("gthread" in line["message"] for line in errors)


def test_every_procfile_process_is_a_compose_service_with_the_same_command():
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    processes = procfile()

    assert set(processes) == {"web", "worker", "beat", "release"}
    for name, command in processes.items():
        assert name in services, f"Procfile process {name} is not a compose service"
        # Exec form for a single command; `sh -c` only where the Procfile chains commands with &&.
        assert services[name]["command"] in (shlex.split(command), ["sh", "-c", command]), name
    assert services["release"]["command"] == ["sh", "-c", processes["release"]]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["release"] == {"condition": "service_completed_successfully"}
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name


def test_the_release_step_migrates_then_compiles_messages_then_collects_static_files():
    steps = [shlex.split(step) for step in procfile()["release"].split("&&")]

    assert [step[step.index("manage.py") + 1] for step in steps] == ["migrate", "compilemessages", "collectstatic"]
    assert "--no-input" in steps[0]
    assert "--no-input" in steps[2]


@pytest.mark.parametrize(
    ("unit", "process"),
    [("billing-web.service", "web"), ("billing-worker@.service", "worker"), ("billing-beat.service", "beat")],
)
def test_systemd_units_run_the_procfile_command_as_a_non_root_user_hardened(unit, process):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(DEPLOY / "systemd" / unit)
    service = parser["Service"]

    assert service["User"] not in ("", "root")
    assert service["EnvironmentFile"].startswith("/etc/")
    assert service["Restart"] == "on-failure"
    assert (service["ProtectSystem"], service["NoNewPrivileges"], service["PrivateTmp"]) == ("strict", "true", "true")
    executable, *arguments = shlex.split(service["ExecStart"])
    program, *procfile_arguments = shlex.split(procfile()[process])
    assert Path(executable).name == program
    assert arguments[: len(procfile_arguments)] == procfile_arguments


# --- production refuses local-disk media unless it is a single host -----------------------------------------

WITHOUT_BUCKET = {k: v for k, v in SERVER_ENV.items() if k != "AWS_STORAGE_BUCKET_NAME"}
SHOW_STORAGE = (
    "import billing_site.wsgi; from django.conf import settings as s; print(s.STORAGES['default']['BACKEND'])"
)


def test_production_refuses_local_disk_media_without_the_single_host_flag():
    done = run_python(SHOW_STORAGE, env=WITHOUT_BUCKET)
    said_no = run_python(SHOW_STORAGE, env={**WITHOUT_BUCKET, "STORAGE_LOCAL_SINGLE_HOST": "false"})

    for refused in (done, said_no):
        assert refused.returncode != 0
        assert "ImproperlyConfigured" in refused.stderr
        assert "AWS_STORAGE_BUCKET_NAME" in refused.stderr
        assert "STORAGE_LOCAL_SINGLE_HOST" in refused.stderr


def test_a_single_host_install_may_keep_media_on_local_disk():
    done = run_python(SHOW_STORAGE, env={**WITHOUT_BUCKET, "STORAGE_LOCAL_SINGLE_HOST": "true"})

    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "storage.backends.SignedFileSystemStorage"
