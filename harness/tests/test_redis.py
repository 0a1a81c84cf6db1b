"""The harness's Redis: answers redis-py (through hiredis), keeps nothing on disk, comes back on the same port."""

import os
from pathlib import Path

import pytest
import redis
import redis.utils

from harness.control import RemoteServer


@pytest.fixture
def client(harness_redis):
    connection = redis.Redis.from_url(harness_redis.url, socket_connect_timeout=2, socket_timeout=5)
    yield connection
    connection.close()


def test_redis_answers_redis_py_through_hiredis(harness_redis, client):
    parser = client.connection_pool.make_connection()._parser

    assert redis.utils.HIREDIS_AVAILABLE is True
    assert type(parser).__name__ == "_HiredisParser"
    assert client.ping() is True
    assert os.environ["HARNESS_REDIS_URL"] == harness_redis.url
    assert harness_redis.url == f"redis://127.0.0.1:{harness_redis.port}/0"


def test_redis_keeps_nothing_on_disk_and_listens_on_loopback_only(client):
    config = client.config_get("*")

    assert (config["save"], config["appendonly"]) == ("", "no")
    assert config["bind"] == "127.0.0.1"
    assert config["protected-mode"] == "no"
    assert Path(config["dir"]).name.startswith("harness-redis-")


def test_redis_stops_and_comes_back_empty_on_the_same_port(harness_redis, client):
    """Under xdist the server belongs to the controller: the worker's proxy asks it to stop and start."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        assert isinstance(harness_redis, RemoteServer)
    port = harness_redis.port
    client.set("harness:before-restart", "1")

    harness_redis.stop()
    stopped = harness_redis.running
    with pytest.raises(redis.ConnectionError):
        client.ping()
    harness_redis.start()

    assert stopped is False
    assert harness_redis.running is True
    assert harness_redis.port == port
    assert client.ping() is True
    assert client.get("harness:before-restart") is None


def test_redis_reset_empties_every_database(harness_redis, client):
    other_database = redis.Redis.from_url(harness_redis.url.rsplit("/", 1)[0] + "/3")
    client.set("harness:reset", "1")
    other_database.set("harness:reset", "1")

    harness_redis.reset()

    assert client.dbsize() == 0
    assert other_database.dbsize() == 0
    other_database.close()
