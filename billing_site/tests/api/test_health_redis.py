"""Readiness checks Redis when the Celery broker is Redis: a PING with a short timeout; no answer is not ready."""

import socket
import threading
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from ..helpers import dead_port

pytestmark = pytest.mark.django_db

# The RESP3 answers a Redis server gives to what redis-py sends on connecting (HELLO 3, CLIENT SETINFO, SELECT)
# and to PING.
ANSWERS = {
    b"HELLO": b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n",
    b"CLIENT": b"+OK\r\n",
    b"SELECT": b"+OK\r\n",
    b"PING": b"+PONG\r\n",
}


def _commands(stream: BinaryIO) -> Iterator[bytes]:
    """The name of each command a client sends (RESP arrays of bulk strings)."""
    while header := stream.readline():
        arguments = [stream.read(int(stream.readline()[1:]) + 2)[:-2] for _ in range(int(header[1:]))]
        yield arguments[0].upper()


@pytest.fixture
def redis_server() -> Iterator[int]:
    """A loopback server that answers like Redis to the commands of a readiness check; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with connection, connection.makefile("rb") as stream:
                for command in _commands(stream):
                    connection.sendall(ANSWERS.get(command, b"-ERR unknown command\r\n"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=5)


def test_ready_checks_redis_when_it_is_the_broker(api_client, settings, redis_server):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{redis_server}/0"

    response = api_client.get("/healthz/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["redis"]["ok"] is True
    assert body["failed"] == []


def test_unreachable_redis_fails_the_full_check_and_says_why(api_client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{dead_port()}/0"

    response = api_client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] is True


def test_unreachable_redis_degrades_readiness_without_failing_it(api_client, settings):
    """Requests still commit without Redis (their jobs wait as rows): the load balancer must keep every server."""
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{dead_port()}/0"

    response = api_client.get("/healthz/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["failed"] == [] and body["degraded"] == ["redis"]
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}


def test_without_a_redis_broker_redis_is_not_checked(api_client, settings):
    settings.CELERY_BROKER_URL = "memory://"

    response = api_client.get("/healthz/ready")

    assert response.status_code == 200
    assert "redis" not in response.json()["checks"]
