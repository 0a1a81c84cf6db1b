"""Invoice emails where Stripe bills: a declined payment of a Stripe invoice (renewal, hosted page) mails once per
attempt, and the "invoice issued" email waits a few sends for the Stripe page it links (locmem backend)."""

from datetime import timedelta

import pytest
import stripe
from django.db import transaction
from django.utils import timezone

from billing.enums import EmailKind, JobKind
from billing.models import Invoice
from billing.providers.base import RemoteInvoice
from billing.providers.stripe.invoices import remote_invoice
from billing.services.provider_sync import invoice_remote_apply
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import job_run
from billing_site.mail.models import Email, EmailStatus

pytestmark = pytest.mark.django_db

STRIPE_INVOICE = "in_1RenewalDeclined0000000"
HOSTED_URL = "https://invoice.stripe.com/i/acct_1/test_renewal"
BANK_ACCOUNT = "123456-01-234567"


@pytest.fixture
def issued(issued):
    """An issued invoice of 99,000 + VAT whose own emails went out, with `fields` set on it afterwards."""

    def make(**fields):
        invoice = issued(99_000)
        Invoice.objects.filter(pk=invoice.pk).update(**fields)
        invoice.refresh_from_db()
        return invoice

    return make


def _apply(capture, remote: RemoteInvoice) -> str:
    with capture(execute=True), transaction.atomic():  # as a webhook's job or the resync runs it
        return invoice_remote_apply(remote=remote)


def _open(attempts: int, message: str = "Your card was declined.") -> RemoteInvoice:
    return RemoteInvoice(
        reference=STRIPE_INVOICE,
        status="open",
        hosted_url=HOSTED_URL,
        attempt_count=attempts,
        failure_message=message,
    )


def _failed_mails(mailoutbox):
    return [message for message in mailoutbox if "결제 실패" in message.subject]


# --- a declined payment of a Stripe invoice -------------------------------------------------------------------------


def test_each_failed_attempt_of_a_stripe_invoice_mails_once(issued, django_capture_on_commit_callbacks, mailoutbox):
    invoice = issued(stripe_invoice_id=STRIPE_INVOICE, stripe_hosted_invoice_url=HOSTED_URL)
    mailoutbox.clear()

    # Finalized, never tried: nothing failed yet. Then attempt 1 fails, its event arrives twice (and a resync reads
    # it once more); Stripe's retry (attempt 2) fails as well.
    for attempts in (0, 1, 1, 1, 2):
        _apply(django_capture_on_commit_callbacks, _open(attempts))

    failed = _failed_mails(mailoutbox)
    assert len(failed) == 2 and len(mailoutbox) == 2
    for message in failed:
        assert message.to == [invoice.customer.email]
        assert invoice.number in message.subject
        assert "결제(₩108,900)가 처리되지 않았습니다" in message.body
        assert "사유: Your card was declined." in message.body
        assert HOSTED_URL in message.body  # pay again on Stripe's page
    occurrences = Email.objects.filter(kind=EmailKind.PAYMENT_FAILED).values_list("occurrence", flat=True)
    assert sorted(occurrences) == [f"{STRIPE_INVOICE}:1", f"{STRIPE_INVOICE}:2"]


def test_the_apply_says_what_it_did(issued, django_capture_on_commit_callbacks):
    invoice = issued(stripe_invoice_id=STRIPE_INVOICE)

    result = _apply(django_capture_on_commit_callbacks, _open(1))

    assert result == f"invoice {invoice}: hosted invoice page stored, payment attempt 1 failed, customer mailed"
    assert Invoice.objects.get(pk=invoice.pk).stripe_hosted_invoice_url == HOSTED_URL


def test_no_failure_mail_once_the_invoice_is_settled(issued, django_capture_on_commit_callbacks, mailoutbox):
    invoice = issued(stripe_invoice_id=STRIPE_INVOICE, stripe_hosted_invoice_url=HOSTED_URL)
    mailoutbox.clear()
    paid_on_retry = RemoteInvoice(
        reference=STRIPE_INVOICE, status="paid", amount_paid=invoice.total, payment_reference="pi_1", attempt_count=2
    )

    _apply(django_capture_on_commit_callbacks, paid_on_retry)
    _apply(django_capture_on_commit_callbacks, _open(3))  # a stale read after ours was paid: Stripe's copy is voided

    assert Invoice.objects.get(pk=invoice.pk).status == "paid"
    assert _failed_mails(mailoutbox) == []
    assert not Email.objects.filter(kind=EmailKind.PAYMENT_FAILED).exists()


def test_stripe_invoice_attempts_and_last_error_are_read():
    stripe_invoice = stripe.Invoice.construct_from(
        {
            "id": STRIPE_INVOICE,
            "object": "invoice",
            "status": "open",
            "attempt_count": 2,
            "payment_intent": {
                "id": "pi_1",
                "object": "payment_intent",
                "last_payment_error": {"message": "Your card has insufficient funds."},
            },
        },
        "sk_test_unused",
    )
    never_tried = stripe.Invoice.construct_from({"id": "in_2", "object": "invoice", "status": "open"}, "sk_test_x")

    remote = remote_invoice(stripe_invoice)

    assert (remote.attempt_count, remote.failure_message) == (2, "Your card has insufficient funds.")
    assert (remote_invoice(never_tried).attempt_count, remote_invoice(never_tried).failure_message) == (0, "")


# --- the "invoice issued" email and Stripe's hosted page ------------------------------------------------------------


def _issue_with_mirror_pending(issue, capture):
    """Issue as POST /api/payment/invoice does with Stripe on: the Stripe copy is a job, here one that has not run."""
    with capture(execute=True):
        invoice = issue(99_000)
        Job.objects.create(
            kind=JobKind.INVOICE_MIRROR, key=f"invoice_mirror:{invoice.pk}", payload={"invoice_id": invoice.pk}
        )
    return invoice


def _issued_email(invoice: Invoice) -> Email:
    return Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))


def _send_retry(email: Email, hours: int) -> None:
    job = Job.objects.get(key=f"mail.send:{email.pk}:{email.sends_requested}")
    assert job_run(job_id=job.pk, now=timezone.now() + timedelta(hours=hours)) is not None


def test_the_issued_email_links_a_stored_stripe_page(settings, issue, django_capture_on_commit_callbacks, mailoutbox):
    settings.STRIPE_ENABLED = True
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(99_000)
        Job.objects.create(kind=JobKind.INVOICE_MIRROR, key=f"invoice_mirror:{invoice.pk}", status=JobStatus.DONE)
        Invoice.objects.filter(pk=invoice.pk).update(stripe_hosted_invoice_url=HOSTED_URL)

    assert len(mailoutbox) == 1
    assert HOSTED_URL in mailoutbox[0].body and BANK_ACCOUNT not in mailoutbox[0].body
    assert _issued_email(invoice).attempts == 1


def test_the_issued_email_waits_for_the_stripe_page_and_then_links_it(
    settings, issue, django_capture_on_commit_callbacks, mailoutbox
):
    settings.STRIPE_ENABLED = True

    invoice = _issue_with_mirror_pending(issue, django_capture_on_commit_callbacks)

    email = _issued_email(invoice)
    assert mailoutbox == []
    assert email.status == EmailStatus.PENDING and email.attempts == 1 and "payment page" in email.last_error

    # The mirror job makes the Stripe copy and stores its page; the email's retry finds it.
    Invoice.objects.filter(pk=invoice.pk).update(stripe_hosted_invoice_url=HOSTED_URL)
    Job.objects.filter(key=f"invoice_mirror:{invoice.pk}").update(status=JobStatus.DONE)
    _send_retry(email, hours=1)

    assert len(mailoutbox) == 1
    assert HOSTED_URL in mailoutbox[0].body and BANK_ACCOUNT not in mailoutbox[0].body
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENT, 2)


def test_without_the_stripe_page_after_three_sends_the_bank_details_go_out(
    settings, issue, django_capture_on_commit_callbacks, mailoutbox
):
    settings.STRIPE_ENABLED = True
    invoice = _issue_with_mirror_pending(issue, django_capture_on_commit_callbacks)  # Stripe stays unreachable
    email = _issued_email(invoice)

    _send_retry(email, hours=1)
    assert mailoutbox == []
    _send_retry(email, hours=2)

    assert len(mailoutbox) == 1
    assert f"입금자명(참조): {invoice.number}" in mailoutbox[0].body and BANK_ACCOUNT in mailoutbox[0].body
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENT, 3)


def test_an_invoice_nobody_mirrors_is_mailed_at_once(settings, issue, django_capture_on_commit_callbacks, mailoutbox):
    settings.STRIPE_ENABLED = True  # a renewal of a bank-transfer subscription: no Stripe copy is scheduled

    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(99_000)

    assert len(mailoutbox) == 1 and BANK_ACCOUNT in mailoutbox[0].body
    assert _issued_email(invoice).attempts == 1
