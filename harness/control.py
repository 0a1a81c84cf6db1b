"""Lets pytest-xdist workers use the controller's servers: a small HTTP endpoint there, and proxies of its servers.

The servers are one per run and belong to the controller (the process that started them); a worker is another
process. Most tests only need the addresses, which workers inherit through the environment. A few stop and start
a server, or empty localstripe; a worker asks the controller to do that through this endpoint on 127.0.0.1
(`HARNESS_CONTROL_URL`). `harness.services()` in a worker returns `RemoteServer` proxies with the same surface.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.process import ServerProcess
from harness.s3 import s3_client

CONTROL_URL_VARIABLE = "HARNESS_CONTROL_URL"
# What a worker may ask of a server; anything else is refused.
ALLOWED_CALLS = frozenset({"start", "stop", "running", "reset", "register_webhook", "unregister_webhook", "log_tail"})
# The attributes a proxy copies, when its server has them.
EXPORTED_ATTRIBUTES = (
    "name",
    "url",
    "port",
    "bucket",
    "access_key_id",
    "secret_access_key",
    "region",
    "secret_key",
    "publishable_key",
    "localstripe_url",
)


class ControlServer:
    """The controller's endpoint: GET /servers describes them, POST /<server>/<call> runs an allowed call."""

    def __init__(self, servers: dict[str, ServerProcess], startup_seconds: float) -> None:
        self.servers = servers
        self.startup_seconds = startup_seconds
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(control.describe())

            def do_POST(self) -> None:
                _, server_name, call = self.path.split("/", 2)
                length = int(self.headers.get("Content-Length") or 0)
                arguments = json.loads(self.rfile.read(length) or b"{}")
                try:
                    self._answer({"result": control.call(server_name, call, arguments)})
                except Exception as error:  # the worker's test fails with the controller's reason
                    self._answer({"error": f"{type(error).__name__}: {error}"}, status=500)

            def _answer(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, name="harness-control", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def describe(self) -> dict[str, Any]:
        servers = {
            name: {
                attribute: getattr(server, attribute) for attribute in EXPORTED_ATTRIBUTES if hasattr(server, attribute)
            }
            for name, server in self.servers.items()
        }
        return {"servers": servers, "startup_seconds": self.startup_seconds}

    def call(self, server_name: str, call: str, arguments: dict[str, Any]) -> Any:
        if call not in ALLOWED_CALLS:
            raise ValueError(f"{call!r} is not a call a worker may make")
        attribute = getattr(self.servers[server_name], call)
        return attribute(**arguments) if callable(attribute) else attribute


def _request(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")  # noqa: S310
    # Starting LocalStack or localstripe again takes a while.
    try:
        with urllib.request.urlopen(request, timeout=180) as response:  # noqa: S310 (loopback)
            return json.load(response)
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"harness controller: {json.load(error).get('error')}") from None


class RemoteServer:
    """A worker's handle on one of the controller's servers: its addresses, and calls run by the controller."""

    def __init__(self, control_url: str, attributes: dict[str, Any]) -> None:
        self._control_url = control_url
        self.name: str = attributes["name"]
        self.url: str = attributes["url"]
        self.port: int = attributes["port"]
        self._attributes = attributes

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_attributes"][name]
        except KeyError:
            raise AttributeError(name) from None

    def _call(self, call: str, **arguments: Any) -> Any:
        return _request(f"{self._control_url}/{self.name}/{call}", arguments)["result"]

    @property
    def running(self) -> bool:
        return bool(self._call("running"))

    def start(self) -> None:
        self._call("start")

    def stop(self) -> None:
        self._call("stop")

    def log_tail(self, lines: int = 40) -> str:
        return str(self._call("log_tail", lines=lines))

    def reset(self) -> None:
        self._call("reset")

    def register_webhook(
        self, url: str, secret: str, events: list[str] | None = None, webhook_id: str = "harness"
    ) -> None:
        self._call("register_webhook", url=url, secret=secret, events=events, webhook_id=webhook_id)

    def unregister_webhook(self, webhook_id: str = "harness") -> None:
        self._call("unregister_webhook", webhook_id=webhook_id)

    def client(self) -> Any:
        """A boto3 S3 client, as `S3Server.client()` makes one (s3v4, path style)."""
        attributes = self._attributes
        return s3_client(self.url, attributes["access_key_id"], attributes["secret_access_key"], attributes["region"])

    def __repr__(self) -> str:
        return f"<RemoteServer {self.name} {self.url}>"


def remote_servers(control_url: str) -> tuple[dict[str, RemoteServer], float]:
    """The controller's servers as proxies, by name, and how long starting them took."""
    description = _request(f"{control_url}/servers")
    servers = {name: RemoteServer(control_url, attributes) for name, attributes in description["servers"].items()}
    return servers, float(description["startup_seconds"])
