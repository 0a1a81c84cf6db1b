"""The "credit note issued" email: once per credit note and recipient, in the customer's language, with the amounts
credited, how they were settled and the stored PDF attached (locmem backend)."""

from collections.abc import Callable
from typing import Any

import pytest

from billing.enums import CreditSettlement, EmailKind
from billing.models import CreditNote, Customer, Invoice
from billing.services.credit_notes import credit_note_issue
from billing.services.invoice_emails import credit_note_issued_email_queue
from billing.services.payments import payment_record_bank_transfer
from billing_site.mail.models import Email, EmailStatus

from ..helpers import stored_bytes

pytestmark = pytest.mark.django_db


def _html(message: Any) -> str:
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return str(html)


@pytest.fixture
def credit(
    issued: Callable[..., Invoice], billing_staff_user: Any, django_capture_on_commit_callbacks: Any
) -> Callable[..., CreditNote]:
    """A paid ₩108,900 invoice credited by billing staff (`credit_note_issue(**options)`), its commit run."""

    def make(**options: Any) -> CreditNote:
        invoice = issued(99_000)
        with django_capture_on_commit_callbacks(execute=True):
            payment_record_bank_transfer(invoice=invoice, amount=invoice.total, actor=billing_staff_user)
        with django_capture_on_commit_callbacks(execute=True):
            note = credit_note_issue(invoice=invoice, actor=billing_staff_user, **options)
        note.refresh_from_db()
        return note

    return make


def test_a_credit_note_mails_the_korean_note_with_its_stored_pdf(
    credit: Callable[..., CreditNote], mailoutbox: list[Any], customer: Customer
) -> None:
    note = credit(reason="goodwill", amount=54_450, settlement=CreditSettlement.BALANCE)

    (message,) = [message for message in mailoutbox if "수정 청구서" in message.subject]
    assert message.to == [customer.email]
    assert note.number in message.subject and note.invoice.number in message.subject
    for body in (message.body, _html(message)):
        assert note.number in body and note.invoice.number in body
        assert "₩54,450" in body and "₩49,500" in body and "₩4,950" in body
        assert "고객 보상" in body and "크레딧 잔액으로 적립" in body
    assert "style=" in _html(message) and "<style" not in _html(message)
    (name, content, mimetype), *others = message.attachments
    assert not others
    assert (name, mimetype) == (f"credit-note-{note.number}.pdf", "application/pdf")
    assert content == stored_bytes(note)
    email = Email.objects.get(kind=EmailKind.CREDIT_NOTE_ISSUED, object_id=str(note.pk))
    assert (email.status, email.language, email.user) == (EmailStatus.SENT, "ko", customer.user)


def test_english_customer_gets_the_english_email(
    credit: Callable[..., CreditNote], mailoutbox: list[Any], customer: Customer
) -> None:
    customer.preferred_language = "en"
    customer.save(update_fields=["preferred_language"])

    note = credit(reason="duplicate", bank_reference="KB-OUT-1")

    (message,) = [message for message in mailoutbox if "Credit note" in message.subject]
    assert message.subject == f"[Billing Site Inc.] Credit note {note.number} for invoice {note.invoice.number}"
    assert "Total credited (VAT included): ₩108,900" in message.body
    assert "Reason: Duplicate" in message.body and "Refunded: ₩108,900" in message.body
    assert "수정 청구서" not in message.body
    assert message.attachments[0][1] == stored_bytes(note)


def test_queued_once_per_credit_note(
    credit: Callable[..., CreditNote], django_capture_on_commit_callbacks: Any
) -> None:
    note = credit(reason="goodwill", settlement=CreditSettlement.BALANCE)
    with django_capture_on_commit_callbacks(execute=True):
        again = credit_note_issued_email_queue(credit_note=note)
    assert again is not None
    assert Email.objects.filter(kind=EmailKind.CREDIT_NOTE_ISSUED).count() == 1
    assert again.status == EmailStatus.SENT
