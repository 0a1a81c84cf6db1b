"""Queue, send and resend emails: a row written with the event, a message sent by a worker after commit.

The rule is the outbox rule of billing_site.jobs: `email_queue` runs in the transaction of the event and writes an
`Email` row (the unique constraint makes it once per object, kind, occurrence and recipient) plus its job; the
job renders the message from the object as it is then and hands it to the mail server, with no database lock
held. A failure is retried with the jobs' backoff until MAIL_MAX_ATTEMPTS, then the email is marked failed and
staff can send it again. A worker killed between the server's acceptance and our "sent" mark sends it once more,
with the same Message-ID (mail servers and clients drop the duplicate): SMTP offers nothing stronger.
"""

import logging
import re
from collections.abc import Iterable
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue, job_enqueue_new
from billing_site.permissions import permission_require

from .models import Email, EmailStatus
from .registry import EmailSkip, RenderedEmail, email_renderer_get, preview_rendering

logger = logging.getLogger(__name__)

SEND_JOB = "mail.send"
MAX_CC = 3
# As long as the mail.send job's lease: a worker that claimed an email this recently may still be talking to the
# mail server, so another one (a concurrent run, a redelivered message) waits rather than sends it a second time.
SEND_LEASE = timedelta(minutes=5)


class EmailBusy(Exception):
    """Another worker claimed this email moments ago and may be sending it: the job tries again later."""


def address_clean(value: str | None) -> str:
    """A single plain address, or "" when it is not one (control characters, a display name, junk)."""
    address = (value or "").strip()
    if not address or any(ord(char) < 32 or ord(char) == 127 for char in address):
        return ""
    try:
        validate_email(address)
    except ValidationError:
        return ""
    return address


def header_text(value: str) -> str:
    """Text safe for a header line: control characters (CR and LF above all) become spaces."""
    return " ".join("".join(" " if ord(char) < 32 or ord(char) == 127 else char for char in value).split())


def email_queue(
    *,
    kind: str,
    object_type: str,
    object_id: Any,
    to: str | None,
    cc: Iterable[str] = (),
    user: Any = None,
    language: str = "ko",
    occurrence: str = "",
    context: dict[str, Any] | None = None,
) -> Email | None:
    """The email about this object, created with its sending job if new; None when there is no address to use.

    Call it inside the transaction of the event: the row and the job commit (or roll back) with it, and the job
    runs once it commits. Asking again (a retry, a redelivered event, a concurrent request) returns the same row
    and sends nothing more. Addresses come from stored contacts only; a malformed one is dropped, never sent to.
    """
    if email_renderer_get(kind) is None:
        raise ValueError(f"No renderer is registered for emails of kind {kind!r}.")
    to_address = address_clean(to)
    if not to_address:
        logger.info("no %s email for %s %s: no usable address", kind, object_type, object_id)
        return None
    cc_addresses: list[str] = []
    for candidate in cc:
        address = address_clean(candidate)
        if address and address.lower() != to_address.lower() and address.lower() not in map(str.lower, cc_addresses):
            cc_addresses.append(address)
    email = Email(
        kind=kind,
        object_type=object_type,
        object_id=str(object_id),
        occurrence=str(occurrence),
        to_address=to_address,
        user_id=getattr(user, "pk", user),
        cc_addresses=cc_addresses[:MAX_CC],
        language=language or "ko",
        context=context or {},
    )
    # Insert first (the common case: a new event), in a savepoint: a duplicate, even one a concurrent transaction
    # is inserting right now, waits for it and then fails on the unique constraint; the row it made is the email.
    try:
        with transaction.atomic():
            email.save(force_insert=True)
            _send_enqueue(email, new=True)
    except IntegrityError:
        existing = (
            Email.objects.filter(
                kind=kind, object_type=object_type, object_id=str(object_id), occurrence=str(occurrence)
            )
            .filter(to_address=to_address)
            .first()
        )
        if existing is None:
            raise
        return existing
    return email


def _send_enqueue(email: Email, *, new: bool = False) -> None:
    """The send job of the email's current series; `new`: the email row was inserted just now, so is the job."""
    enqueue = job_enqueue_new if new else job_enqueue
    enqueue(
        kind=SEND_JOB,
        key=f"mail.send:{email.pk}:{email.sends_requested}",
        payload={"email_id": email.pk, "send": email.sends_requested},
    )


def _claim(email_id: int, send: int) -> Email | None:
    """Mark the email sending (one more attempt) in a short transaction; None when there is nothing to send."""
    with transaction.atomic():
        email = Email.objects.select_for_update().filter(pk=email_id).first()
        if email is None or email.sends_requested != send:
            return None  # gone, or a staff resend started a newer series with its own job
        if email.status not in (EmailStatus.PENDING, EmailStatus.SENDING):
            return None  # sent, failed or skipped: a redelivered message changes nothing
        if email.status == EmailStatus.SENDING and email.updated_at > timezone.now() - SEND_LEASE:
            raise EmailBusy(f"Email {email.pk} was claimed by another worker at {email.updated_at.isoformat()}.")
        # SENDING older than the lease means a worker died mid-send: it may or may not have gone out; send again
        # (same Message-ID).
        email.status = EmailStatus.SENDING
        email.attempts += 1
        email.save(update_fields=["status", "attempts", "updated_at"])
        return email


class EmailSendError(Exception):
    """A send that failed and will be retried; its text names no recipient."""


def _scrubbed(text: str, email: Email) -> str:
    """The error text with the email's addresses replaced: mail servers quote refused recipients."""
    for address in [email.to_address, *email.cc_addresses]:
        text = re.sub(re.escape(address), "<recipient>", text, flags=re.IGNORECASE)
    return text


def _message_id(email: Email) -> str:
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "billing.invalid"
    return f"<email-{email.pk}.{email.sends_requested}@{domain}>"


def _message(email: Email, rendered: RenderedEmail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=header_text(rendered.subject),
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to_address],
        cc=list(email.cc_addresses),
        headers={"Message-ID": _message_id(email), "Auto-Submitted": "auto-generated"},
        connection=get_connection(),
    )
    message.attach_alternative(rendered.html, "text/html")
    for attachment in rendered.attachments:
        message.attach(attachment.filename, attachment.content, attachment.mimetype)
    return message


def email_render(*, email: Email, preview: bool = False) -> RenderedEmail:
    """The message of an email as it would be sent now, in its language.

    `preview` (the admin's) renders it for a person to read: no reset token or signed link is made, no file
    rendered or read (registry.rendering_preview); a viewer of emails must never get what only the recipient may.
    """
    renderer = email_renderer_get(email.kind)
    if renderer is None:
        raise LookupError(f"No renderer is registered for emails of kind {email.kind!r}.")
    with translation.override(email.language):
        if preview:
            with preview_rendering():
                return renderer(email)
        return renderer(email)


def email_send(*, email_id: int, send: int = 1) -> str:
    """Send one email (the `mail.send` job). Raises to be retried with backoff; after MAIL_MAX_ATTEMPTS failures
    the email is marked failed and the job ends. Nothing is locked while the mail server is talked to."""
    email = _claim(email_id, send)
    if email is None:
        return "nothing to send"
    try:
        rendered = email_render(email=email)
        message = _message(email, rendered)
        message.send()
    except EmailSkip as skip:
        _finish(email, status=EmailStatus.SKIPPED, error=str(skip))
        logger.info("email %s (%s) skipped", email.pk, email.kind)
        return "skipped"
    except Exception as error:
        reason = _scrubbed(f"{type(error).__name__}: {error}", email)[:500]
        if email.attempts >= settings.MAIL_MAX_ATTEMPTS:
            _finish(email, status=EmailStatus.FAILED, error=reason)
            logger.error("email %s (%s) failed after %s attempts: %s", email.pk, email.kind, email.attempts, reason)
            return "failed"
        _finish(email, status=EmailStatus.PENDING, error=reason)
        # Without the original (a refused recipient's error names the address) so no log line carries it.
        raise EmailSendError(reason) from None
    status = getattr(message, "anymail_status", None)
    provider_id = getattr(status, "message_id", None) or message.extra_headers["Message-ID"]
    _finish(email, status=EmailStatus.SENT, subject=str(message.subject), provider_message_id=str(provider_id))
    logger.info("email %s (%s) sent, attempt %s", email.pk, email.kind, email.attempts)
    return "sent"


def _finish(
    email: Email, *, status: str, error: str = "", subject: str | None = None, provider_message_id: str = ""
) -> None:
    """Record the outcome of the attempt this worker claimed (a resend started meanwhile is left alone)."""
    now = timezone.now()
    values: dict[str, Any] = {"status": status, "last_error": error, "updated_at": now}
    if status == EmailStatus.SENT:
        values.update(sent_at=now, provider_message_id=provider_message_id[:255], subject=(subject or "")[:255])
    Email.objects.filter(pk=email.pk, sends_requested=email.sends_requested, status=EmailStatus.SENDING).update(
        **values
    )


@transaction.atomic
def email_resend(*, email: Email, actor: Any) -> Email:
    """Send an email again (staff, mail.resend_email): a failed one, or a sent one the customer says they lost.

    A new attempt series with its own job; an email still pending or being sent is refused (409).
    """
    permission_require(actor=actor, permission="mail.resend_email")
    locked = Email.objects.select_for_update().get(pk=email.pk)
    if locked.status in (EmailStatus.PENDING, EmailStatus.SENDING):
        raise ApplicationError("email_in_progress", "This email is being sent; wait for it.", status_code=409)
    locked.sends_requested += 1
    locked.attempts = 0
    locked.status = EmailStatus.PENDING
    locked.last_error = ""
    locked.save(update_fields=["sends_requested", "attempts", "status", "last_error", "updated_at"])
    _send_enqueue(locked)
    return locked
