"""Owns the test SMTP server: aiosmtpd on 127.0.0.1 and a free port, in the test process, keeping what it receives.

Each test process (each xdist worker) runs its own, so tests read their own messages. It speaks real SMTP over
TCP: Django's smtp backend connects, says EHLO, MAIL FROM, RCPT TO and DATA, as it would to a production server.
`refuse_with` makes it answer DATA with an error (a full disk, a greylisting 451), `refuse_recipients` refuses
those addresses at RCPT (quoting them, as real servers do); `stop()` closes the port (an
outage); `start()` opens the same port again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from harness.process import free_port

# aiosmtpd logs every SMTP command at INFO ("mail.log"): noise in a failing test's output.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server accepted it: the envelope and the parsed content."""

    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        # A long non-ASCII subject is folded onto a continuation line; unfolded, it keeps the fold's leading space.
        return str(self.message["Subject"]).strip()

    def body(self, subtype: str) -> str:
        """The text/<subtype> part, decoded."""
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}" and not part.get_filename():
                return str(part.get_content())
        raise LookupError(f"no text/{subtype} part")

    def attachments(self) -> dict[str, bytes]:
        """Attached files by name: their decoded bytes."""
        found: dict[str, bytes] = {}
        for part in self.message.walk():
            name = part.get_filename()
            if name:
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes), name
                found[name] = payload
        return found


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, smtp_server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.server.lock:
            if address.lower() in self.server.refuse_recipients:
                # As Postfix words it: the refused address is quoted back in the reply.
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp_server: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            refusal = self.server.refuse_with
            if refusal:
                return refusal
            self.server.received.append(
                ReceivedMessage(
                    mail_from=envelope.mail_from,
                    recipients=tuple(envelope.rcpt_tos),
                    raw=bytes(envelope.original_content or envelope.content),
                )
            )
        return "250 OK"


class SmtpServer:
    """A real SMTP server for the tests of this process: `messages()` is what it accepted, in order."""

    name = "smtp"

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.received: list[ReceivedMessage] = []
        self.refuse_with = ""
        self.refuse_recipients: set[str] = set()
        self._controller: Any = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            # decode_data False: the raw bytes, so attachments compare byte for byte.
            controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, decode_data=False)
            controller.start()
            self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.refuse_with = ""
            self.refuse_recipients = set()

    def messages(self) -> list[ReceivedMessage]:
        with self.lock:
            return list(self.received)


_server: SmtpServer | None = None


def smtp_server() -> SmtpServer:
    """This process's SMTP server, started on first use."""
    global _server
    if _server is None:
        _server = SmtpServer()
    return _server.start()
