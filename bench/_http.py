"""A small asyncio HTTP/1.1 client with keep-alive for the load benchmark: one connection per simulated client.

No third-party client is installed in the project's virtualenv (httpx, aiohttp); threads with http.client would
spend a 2-core machine's CPU on 100 threads switching under the GIL. This speaks just enough HTTP/1.1 for our own
servers: Content-Length or chunked bodies, `Connection: close`, and one reconnect when a kept-alive connection
turns out closed before any byte of the answer arrived (the server closed it while idle).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class StaleConnectionError(ConnectionError):
    """The kept-alive connection was closed by the server before it answered anything."""


class HttpConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = False

    async def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Answer:
        for attempt in range(2):
            reused = self._used and self._writer is not None
            try:
                return await self._exchange(method, path, headers or {}, body)
            except StaleConnectionError:
                self.close()
                if not reused or attempt:
                    raise
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                self.close()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._used = False
        assert self._reader is not None and self._writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            if body:
                self._writer.write(body)
            await self._writer.drain()
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if not error.partial:
                raise StaleConnectionError("closed before answering") from error
            raise
        except (ConnectionResetError, BrokenPipeError) as error:
            # Nothing of an answer came: the server closed this connection (a gunicorn worker replaced after
            # max_requests) before reading the request, so it was not processed.
            raise StaleConnectionError(f"{type(error).__name__} before answering") from error
        self._used = True
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            payload = await self._reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            payload = await self._read_chunked()
        else:
            payload = await self._reader.read()
            fields["connection"] = "close"
        if fields.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, payload)

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
