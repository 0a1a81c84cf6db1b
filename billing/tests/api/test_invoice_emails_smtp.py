"""Invoice emails through a real SMTP server (the harness's aiosmtpd): one message per issued invoice with the Korean
subject, the amount and the stored PDF's bytes, nothing lost in an SMTP outage, nothing doubled under concurrency."""

from contextlib import suppress
from datetime import timedelta

import pytest
import stripe
from django.utils import timezone

from billing.enums import EmailKind
from billing.models import Invoice
from billing.services.invoice_emails import invoice_issued_email_queue
from billing.tests.factories import CustomerFactory, InvoiceFactory
from billing.tests.stripe_support import DECLINING_CARD, signed, stripe_event
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import job_run
from billing_site.mail.models import Email, EmailStatus

from ..helpers import run_concurrently, stored_bytes

pytestmark = pytest.mark.django_db
CREATE = "/api/payment/invoice"


def _issue(client, django_capture_on_commit_callbacks, amount: int = 99_000) -> Invoice:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CREATE, {"amount_krw": amount, "description": "Pro 플랜 3월"}, format="json")
    assert response.status_code == 201, response.content
    return Invoice.objects.get(pk=response.json()["invoice_id"])


def _send_job(email: Email) -> Job:
    return Job.objects.get(key=f"mail.send:{email.pk}:{email.sends_requested}")


def test_issuing_an_invoice_delivers_one_korean_message_with_the_stored_pdf(
    postgresql, customer, customer_client, smtp_mail, django_capture_on_commit_callbacks
):
    invoice = _issue(customer_client, django_capture_on_commit_callbacks)

    messages = smtp_mail.messages()
    assert len(messages) == 1
    message = messages[0]
    assert message.recipients == (customer.email,)
    # Django folds an encoded Subject onto a continuation line; Python's parser keeps the fold's leading space.
    assert message.subject.strip() == f"[주식회사 빌링사이트] 청구서 {invoice.number} 발행 안내"
    assert "₩108,900" in message.body("plain") and "₩108,900" in message.body("html")
    assert f"입금자명(참조): {invoice.number}" in message.body("plain")
    assert message.attachments() == {f"invoice-{invoice.number}.pdf": stored_bytes(invoice)}
    email = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))
    assert email.status == EmailStatus.SENT and email.attempts == 1
    assert email.provider_message_id == message.message["Message-ID"]


def test_an_smtp_outage_keeps_the_invoice_and_delivers_it_later_once(
    postgresql, customer, customer_client, smtp_mail, django_capture_on_commit_callbacks
):
    smtp_mail.stop()

    invoice = _issue(customer_client, django_capture_on_commit_callbacks)

    assert invoice.status == "open"
    email = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))
    assert email.status == EmailStatus.PENDING and email.attempts == 1 and email.last_error
    job = _send_job(email)
    assert job.status == JobStatus.PENDING

    smtp_mail.start()
    later = timezone.now() + timedelta(hours=1)
    run = job_run(job_id=job.pk, now=later)
    assert run is not None and run.status == JobStatus.DONE
    assert job_run(job_id=job.pk, now=later + timedelta(hours=1)) is None  # done: a redelivery sends nothing

    messages = smtp_mail.messages()
    assert len(messages) == 1
    assert invoice.number in messages[0].subject
    assert messages[0].attachments() == {f"invoice-{invoice.number}.pdf": stored_bytes(invoice)}
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (EmailStatus.SENT, 2, "")


def test_a_refusing_server_leaves_the_email_pending_for_a_retry(
    postgresql, customer, customer_client, smtp_mail, django_capture_on_commit_callbacks
):
    smtp_mail.refuse_with = "451 4.3.0 try again later"

    invoice = _issue(customer_client, django_capture_on_commit_callbacks)

    email = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))
    assert email.status == EmailStatus.PENDING and "451" in email.last_error
    assert smtp_mail.messages() == []


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_the_same_send_job_give_one_message(postgresql, smtp_mail):
    customer = CustomerFactory.create(business=True)
    smtp_mail.stop()  # the send at commit fails, so the job waits for its retry
    invoice = InvoiceFactory.create(customer=customer, status="open")
    email = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))
    job = _send_job(email)
    assert job.status == JobStatus.PENDING
    smtp_mail.start()
    later = timezone.now() + timedelta(hours=1)

    results = run_concurrently(lambda _: job_run(job_id=job.pk, now=later), 2)

    assert not [result for result in results if isinstance(result, BaseException)], results
    assert sorted(result is None for result in results) == [False, True]  # one ran it, the other found it taken
    assert len(smtp_mail.messages()) == 1
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_concurrent_queue_calls_for_one_invoice_give_one_email_and_one_message(postgresql, smtp_mail):
    customer = CustomerFactory.create(business=True, email="", cc_emails=[])
    invoice = InvoiceFactory.create(customer=customer, status="open")  # no address yet: no email
    assert not Email.objects.exists()
    type(customer).objects.filter(pk=customer.pk).update(email="buyer@example.co.kr")

    results = run_concurrently(lambda _: invoice_issued_email_queue(invoice=Invoice.objects.get(pk=invoice.pk)), 4)

    assert not [result for result in results if isinstance(result, BaseException)], results
    assert len({result.pk for result in results}) == 1
    assert Email.objects.filter(kind=EmailKind.INVOICE_ISSUED).count() == 1
    messages = smtp_mail.messages()
    assert len(messages) == 1 and messages[0].recipients == ("buyer@example.co.kr",)


def _checkout(client) -> dict:
    response = client.post("/api/payment/checkout", {"plan": "pro", "billing_period": "monthly"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _webhook(client, capture, payload: bytes, signature: str) -> None:
    with capture(execute=True):  # the event is applied by its job, on commit; its emails are sent on that commit
        response = client.generic(
            "POST", "/api/payment/webhook", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    assert response.status_code == 200, response.content


def test_a_declined_card_mails_payment_failed_once_however_often_stripe_reports_it(
    stripe_plans, customer, customer_client, card, stripe_api, smtp_mail, django_capture_on_commit_callbacks
):
    body = _checkout(customer_client)
    intent_id = body["card"]["payment_intent_id"]
    stripe.PaymentIntent.modify(intent_id, payment_method=card(DECLINING_CARD), **stripe_api)
    with pytest.raises(stripe.CardError):
        stripe.PaymentIntent.confirm(intent_id, **stripe_api)
    intent = stripe.PaymentIntent.retrieve(intent_id, **stripe_api)
    payload, signature = signed(stripe_event(stripe_api, "payment_intent.payment_failed", intent))

    _webhook(customer_client, django_capture_on_commit_callbacks, payload, signature)
    _webhook(customer_client, django_capture_on_commit_callbacks, payload, signature)  # Stripe redelivers

    invoice = Invoice.objects.get(pk=body["invoice_id"])
    failed = [message for message in smtp_mail.messages() if "결제 실패" in message.subject]
    assert len(failed) == 1
    assert invoice.number in failed[0].subject and "₩108,900" in failed[0].body("plain")
    assert "사유: " in failed[0].body("plain")
    assert Email.objects.get(kind=EmailKind.PAYMENT_FAILED).occurrence.startswith("ch_")


def test_a_card_payment_mails_one_receipt(
    stripe_plans, customer, customer_client, card, stripe_api, smtp_mail, django_capture_on_commit_callbacks
):
    body = _checkout(customer_client)
    intent_id = body["card"]["payment_intent_id"]
    stripe.PaymentIntent.modify(intent_id, payment_method=card(), **stripe_api)
    intent = stripe.PaymentIntent.confirm(intent_id, **stripe_api)
    payload, signature = signed(stripe_event(stripe_api, "payment_intent.succeeded", intent))

    _webhook(customer_client, django_capture_on_commit_callbacks, payload, signature)
    _webhook(customer_client, django_capture_on_commit_callbacks, payload, signature)

    invoice = Invoice.objects.get(pk=body["invoice_id"])
    receipts = [message for message in smtp_mail.messages() if "영수증" in message.subject]
    assert len(receipts) == 1
    assert invoice.number in receipts[0].subject
    assert "결제금액: ₩108,900" in receipts[0].body("plain") and "결제수단: 카드" in receipts[0].body("plain")


def test_a_declined_payment_of_a_stripe_invoice_mails_payment_failed_once(
    stripe_on, customer, customer_client, card, stripe_api, smtp_mail, django_capture_on_commit_callbacks
):
    invoice = _issue(customer_client, django_capture_on_commit_callbacks)
    assert invoice.stripe_invoice_id  # the Stripe copy, payable on its hosted page (or by Stripe's own collection)
    stripe_customer = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api).customer
    declining = stripe.PaymentMethod.attach(card(DECLINING_CARD), customer=stripe_customer, **stripe_api).id
    stripe.Customer.modify(stripe_customer, invoice_settings={"default_payment_method": declining}, **stripe_api)
    with suppress(stripe.CardError):  # Stripe answers the decline with 402; localstripe only records it
        stripe.Invoice.pay(invoice.stripe_invoice_id, **stripe_api)
    declined = stripe.Invoice.retrieve(invoice.stripe_invoice_id, **stripe_api)
    assert declined.status == "open" and declined.attempt_count == 1
    payload, signature = signed(stripe_event(stripe_api, "invoice.payment_failed", declined))

    _webhook(customer_client, django_capture_on_commit_callbacks, payload, signature)
    _webhook(customer_client, django_capture_on_commit_callbacks, payload, signature)  # Stripe redelivers

    failed = [message for message in smtp_mail.messages() if "결제 실패" in message.subject]
    assert len(failed) == 1
    assert failed[0].recipients == (customer.email,)
    assert invoice.number in failed[0].subject and "결제(₩108,900)가 처리되지 않았습니다" in failed[0].body("plain")
    assert Email.objects.get(kind=EmailKind.PAYMENT_FAILED).occurrence == f"{invoice.stripe_invoice_id}:1"


def test_with_stripe_the_issued_email_waits_for_the_hosted_page_and_links_it(
    stripe_on, customer, customer_client, smtp_mail, django_capture_on_commit_callbacks
):
    invoice = _issue(customer_client, django_capture_on_commit_callbacks)

    # Both jobs start at the commit, the email's first: it found no page yet and waits for its retry.
    assert invoice.stripe_hosted_invoice_url
    email = Email.objects.get(kind=EmailKind.INVOICE_ISSUED, object_id=str(invoice.pk))
    assert smtp_mail.messages() == [] and email.status == EmailStatus.PENDING
    run = job_run(job_id=_send_job(email).pk, now=timezone.now() + timedelta(hours=1))
    assert run is not None and run.status == JobStatus.DONE

    messages = smtp_mail.messages()
    assert len(messages) == 1
    assert invoice.stripe_hosted_invoice_url in messages[0].body("plain")
    assert f"입금자명(참조): {invoice.number}" not in messages[0].body("plain")
    assert messages[0].attachments() == {f"invoice-{invoice.number}.pdf": stored_bytes(invoice)}
