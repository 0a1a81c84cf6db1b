"""Invoice and payment emails: one per event and recipient, in the customer's language, with the stored PDF
(or a signed link over the size limit), the amount in ₩, Seoul dates and how to pay (locmem backend)."""

from datetime import timedelta

import pytest
from django.db import transaction

from billing.enums import EmailKind, InvoicePdfStatus, PaymentMethod
from billing.models import Invoice, Payment
from billing.providers.base import RemotePayment
from billing.services.invoice_emails import (
    invoice_issued_email_queue,
    invoice_overdue_reminder_queue,
    payment_failed_email_queue,
    payment_received_email_queue,
)
from billing.services.invoices import InvoiceLineInput, invoice_issue, invoice_void
from billing.services.payments import card_payment_record, payment_record
from billing.services.provider_sync import payment_remote_apply
from billing_site.mail.models import Email, EmailStatus
from billing_site.mail.services import email_send
from storage.tests.helpers import fetch

from ..helpers import stored_bytes

pytestmark = pytest.mark.django_db


def _korean_day(day):
    return f"{day.year}년 {day.month}월 {day.day}일"


def _html(message):
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return html


def test_issued_invoice_mails_the_korean_invoice_with_its_stored_pdf(issued, mailoutbox, customer):
    invoice = issued(99_000)

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [customer.email]
    assert invoice.number in message.subject and "청구서" in message.subject
    assert "발행 안내" in message.subject
    for body in (message.body, _html(message)):
        assert "₩108,900" in body
        assert _korean_day(invoice.due_date) in body
        assert "국민은행" in body and "123456-01-234567" in body
    assert f"입금자명(참조): {invoice.number}" in message.body  # the invoice number is the transfer reference
    assert "style=" in _html(message) and "<style" not in _html(message)  # inline CSS only
    (name, content, mimetype), *others = message.attachments
    assert not others
    assert (name, mimetype) == (f"invoice-{invoice.number}.pdf", "application/pdf")
    assert content == stored_bytes(invoice)
    email = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))
    assert (email.status, email.language, email.subject) == (EmailStatus.SENT, "ko", message.subject)
    assert email.user == customer.user


def test_english_customer_gets_the_english_email(issued, mailoutbox, customer):
    customer.preferred_language = "en"
    customer.save(update_fields=["preferred_language"])

    invoice = issued(99_000)

    message = mailoutbox[0]
    assert message.subject == f"[Billing Site Inc.] Invoice {invoice.number} issued"
    assert "Amount due: ₩108,900" in message.body
    assert f"Due date: {invoice.due_date:%d %b %Y}" in message.body
    assert f"Reference: {invoice.number}" in message.body and "KB Kookmin Bank" in message.body
    assert "청구서" not in message.body
    assert message.attachments[0][1] == stored_bytes(invoice)


def test_cc_addresses_of_the_customer_are_copied(issued, mailoutbox, customer):
    customer.cc_emails = ["finance@example.co.kr", "ceo@example.co.kr"]
    customer.save(update_fields=["cc_emails"])

    issued(50_000)

    assert mailoutbox[0].to == [customer.email]
    assert mailoutbox[0].cc == ["finance@example.co.kr", "ceo@example.co.kr"]


def test_a_pdf_over_the_size_limit_is_linked_not_attached(issued, mailoutbox, settings):
    settings.MAIL_ATTACHMENT_MAX_BYTES = 100

    invoice = issued(99_000)

    message = mailoutbox[0]
    assert message.attachments == []
    assert "청구서 PDF는 아래 링크에서" in message.body
    lines = message.body.splitlines()
    link = lines[next(index for index, line in enumerate(lines) if "아래 링크에서" in line) + 1]
    assert link in _html(message).replace("&amp;", "&")
    status, content, _ = fetch(link)
    assert status == 200 and content == stored_bytes(invoice)


def test_a_pending_pdf_is_rendered_by_the_email_itself(issue, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=False):  # neither the PDF job nor the email job runs
        invoice = issue(30_000)
    assert Invoice.objects.get(pk=invoice.pk).pdf_status == InvoicePdfStatus.PENDING
    email = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))

    assert email_send(email_id=email.pk) == "sent"

    invoice.refresh_from_db()
    assert invoice.pdf_status == InvoicePdfStatus.READY
    assert mailoutbox[0].attachments[0][1] == stored_bytes(invoice)


def test_stripe_hosted_page_replaces_the_bank_details(issue, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(99_000)
        Invoice.objects.filter(pk=invoice.pk).update(stripe_hosted_invoice_url="https://invoice.stripe.com/i/acct_1/x")

    message = mailoutbox[0]
    assert "https://invoice.stripe.com/i/acct_1/x" in message.body
    assert "https://invoice.stripe.com/i/acct_1/x" in _html(message)
    assert "123456-01-234567" not in message.body


def test_zero_total_invoice_says_nothing_is_due(customer, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(
            customer=customer,
            lines=[InvoiceLineInput("Pro 플랜 (월간)", 10_000), InvoiceLineInput("크레딧", -10_000)],
        )

    assert len(mailoutbox) == 1
    body = mailoutbox[0].body
    assert invoice.number in mailoutbox[0].subject
    assert "결제하실 금액이 없습니다" in body
    assert "계좌번호" not in body


def test_the_same_event_queued_twice_mails_once(issued, django_capture_on_commit_callbacks, mailoutbox):
    invoice = issued(99_000)

    with django_capture_on_commit_callbacks(execute=True):
        again = invoice_issued_email_queue(invoice=invoice)
        once_more = invoice_issued_email_queue(invoice=invoice)

    assert again is not None and once_more is not None and again.pk == once_more.pk
    assert Email.objects.filter(kind=EmailKind.INVOICE_ISSUED).count() == 1
    assert len(mailoutbox) == 1


def test_a_customer_without_email_gets_no_row_and_no_error(issued, mailoutbox, customer):
    customer.email = ""
    customer.save(update_fields=["email"])

    invoice = issued(99_000)

    assert invoice.status == "open"
    assert not Email.objects.exists()
    assert mailoutbox == []
    assert invoice_issued_email_queue(invoice=invoice) is None


def test_an_invoice_voided_before_sending_is_skipped(issue, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(99_000)
        invoice_void(invoice=invoice, actor=None)

    assert mailoutbox == []
    assert Email.objects.get(kind=EmailKind.INVOICE_ISSUED).status == EmailStatus.SKIPPED


def test_each_payment_gets_its_receipt(issued, django_capture_on_commit_callbacks, mailoutbox):
    invoice = issued(99_000)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        first = payment_record(invoice=invoice, amount=8_900, method=PaymentMethod.BANK_TRANSFER)
    with django_capture_on_commit_callbacks(execute=True):
        card_payment_record(invoice=invoice, amount=100_000, reference="pi_receipt_1")

    assert len(mailoutbox) == 2
    bank, card = mailoutbox
    for message in (bank, card):
        assert invoice.number in message.subject and "영수증" in message.subject
        assert "[영수증]" in message.body and invoice.number in message.body
    assert "결제금액: ₩8,900" in bank.body and "결제수단: 계좌이체" in bank.body
    assert "남은 결제금액: ₩100,000" in bank.body
    assert "결제금액: ₩100,000" in card.body and "결제수단: 카드" in card.body
    assert "모두 결제되었습니다" in card.body
    receipts = Email.objects.filter(kind=EmailKind.PAYMENT_RECEIVED).order_by("pk")
    paid = Payment.objects.filter(invoice=invoice).order_by("pk").values_list("pk", flat=True)
    assert [email.object_id for email in receipts] == [str(first.pk), str(paid[1])]
    with django_capture_on_commit_callbacks(execute=True):
        payment_received_email_queue(payment=first)
    assert len(mailoutbox) == 2


def _failed_attempt(invoice, charge: str, message: str = "Your card was declined.") -> RemotePayment:
    return RemotePayment(
        reference="pi_failed",
        invoice_id=invoice.pk,
        status="requires_payment_method",
        amount=invoice.total,
        failed=True,
        failure_reference=charge,
        failure_code="card_declined",
        failure_message=message,
    )


def test_each_failed_card_attempt_mails_once(issued, django_capture_on_commit_callbacks, mailoutbox):
    invoice = issued(99_000)
    mailoutbox.clear()

    for charge in ("ch_first", "ch_first", "ch_second"):  # the first attempt's event arrives twice
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            payment_remote_apply(remote=_failed_attempt(invoice, charge))

    assert len(mailoutbox) == 2
    for message in mailoutbox:
        assert invoice.number in message.subject and "결제 실패" in message.subject
        assert "₩108,900" in message.body
        assert "사유: Your card was declined." in message.body
        assert f"입금자명(참조): {invoice.number}" in message.body
    occurrences = set(Email.objects.filter(kind=EmailKind.PAYMENT_FAILED).values_list("occurrence", flat=True))
    assert occurrences == {"ch_first", "ch_second"}


def test_a_failure_mail_is_skipped_once_the_invoice_is_paid(issued, django_capture_on_commit_callbacks, mailoutbox):
    invoice = issued(99_000)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        payment_failed_email_queue(invoice=invoice, attempt_reference="ch_late", amount=invoice.total)
        payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER)

    assert [message.subject for message in mailoutbox if "결제 실패" in message.subject] == []
    assert Email.objects.get(kind=EmailKind.PAYMENT_FAILED).status == EmailStatus.SKIPPED


def test_overdue_reminder_once_per_dunning_step(issued, django_capture_on_commit_callbacks, mailoutbox, customer):
    invoice = issued(99_000)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        invoice_overdue_reminder_queue(invoice=invoice, step=3)
        invoice_overdue_reminder_queue(invoice=invoice, step=3)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_overdue_reminder_queue(invoice=invoice, step=7)

    assert len(mailoutbox) == 2
    three, seven = mailoutbox
    assert invoice.number in three.subject and "납부기한 경과" in three.subject
    assert "(3일 경과)" in three.body and "(7일 경과)" in seven.body
    assert _korean_day(invoice.due_date) in three.body and "결제하실 금액: ₩108,900" in three.body
    assert sorted(Email.objects.filter(kind=EmailKind.INVOICE_OVERDUE).values_list("occurrence", flat=True)) == [
        "3",
        "7",
    ]


def test_no_overdue_reminder_for_a_paid_invoice(issued, django_capture_on_commit_callbacks, mailoutbox):
    invoice = issued(99_000)
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER)
    invoice.refresh_from_db()

    assert invoice_overdue_reminder_queue(invoice=invoice, step=3) is None
    assert not Email.objects.filter(kind=EmailKind.INVOICE_OVERDUE).exists()
    with pytest.raises(ValueError):
        invoice_overdue_reminder_queue(invoice=invoice, step=-1)


def test_english_overdue_reminder_counts_days(issued, django_capture_on_commit_callbacks, mailoutbox, customer):
    customer.preferred_language = "en"
    customer.save(update_fields=["preferred_language"])
    invoice = issued(99_000)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        invoice_overdue_reminder_queue(invoice=invoice, step=1)

    assert mailoutbox[0].subject == f"[Billing Site Inc.] Invoice {invoice.number} is overdue"
    assert f"was due on {invoice.due_date:%d %b %Y} (1 day ago)" in mailoutbox[0].body
    assert invoice.due_date - invoice.issue_date == timedelta(days=invoice.days_until_due)
