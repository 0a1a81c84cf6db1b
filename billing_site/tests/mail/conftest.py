"""Fixtures of the email tests: a test-only kind of email whose renderer writes what its context says."""

from typing import Any

import pytest

from billing_site.mail.models import Email
from billing_site.mail.registry import EmailSkip, RenderedEmail, email_renderer
from billing_site.mail.services import email_queue

NOTICE = "tests.notice"


@email_renderer(NOTICE)
def notice(email: Email) -> RenderedEmail:
    """The subject and text come from the context, so a test controls them (a CR/LF subject, a skip)."""
    if email.context.get("skip"):
        raise EmailSkip("the object moved on")
    subject = email.context.get("subject", f"Notice {email.object_id}")
    return RenderedEmail(subject=subject, text=f"Body of notice {email.object_id}.\n", html="<p>Notice</p>")


@pytest.fixture(autouse=True)
def _mail_settings(settings: Any) -> None:
    settings.DEFAULT_FROM_EMAIL = "Billing <billing@example.com>"
    settings.MAIL_MAX_ATTEMPTS = 8


def notice_queue(object_id: Any = 1, *, to: str | None = "buyer@example.com", **options: Any) -> Email | None:
    """Queue a notice about object `object_id` (tests.thing) to `to`."""
    return email_queue(kind=NOTICE, object_type="tests.thing", object_id=object_id, to=to, **options)
