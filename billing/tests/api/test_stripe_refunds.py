"""Card refunds through Stripe (localstripe): a credit note's refund asked of Stripe by a job, once; refunds made in
Stripe's dashboard brought back by `charge.refunded` and by the resync as credit notes of ours, once each."""

from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
import stripe
from django.core.management import call_command
from django.test import Client

from billing.enums import (
    BalanceEntryKind,
    CreditNoteReason,
    CreditSettlement,
    InvoiceStatus,
    JobKind,
    PaymentStatus,
    RefundMethod,
    RefundStatus,
)
from billing.models import CreditNote, Customer, CustomerBalanceEntry, Invoice, Payment, Refund
from billing.models.stripe import StripeWebhookEvent, StripeWebhookEventStatus
from billing.providers import payment_provider
from billing.providers.base import RemoteRefund, RemoteRefundItem
from billing.services.credit_notes import credit_note_issue
from billing.services.provider_sync import refund_remote_apply
from billing.tests.stripe_support import signed, stripe_event
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import job_run

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/payment/webhook"


def card_paid_invoice(client: Any, card: Any) -> tuple[Invoice, Payment]:
    """The pro plan's first invoice (108,900 KRW), paid by card through a Stripe subscription."""
    response = client.post(
        "/api/payment/subscribe",
        {"plan": "pro", "billing_period": "monthly", "payment_method_id": card()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    invoice = Invoice.objects.get(subscription_link__subscription=response.json()["subscription_id"])
    payment = Payment.objects.get(invoice=invoice)
    assert (invoice.status, payment.amount, payment.provider_reference[:3]) == (InvoiceStatus.PAID, 108900, "pi_")
    return invoice, payment


def card_refund_issue(invoice: Invoice, actor: Any, amount: int) -> tuple[Refund, Job]:
    """A credit note of `amount` given back by refund; its card refund pending, its job not run yet (the test
    transaction never commits, so nothing runs on commit)."""
    note = credit_note_issue(
        invoice=invoice,
        reason=CreditNoteReason.GOODWILL,
        actor=actor,
        amount=amount,
        settlement=CreditSettlement.REFUND,
    )
    refund = Refund.objects.get(credit_note=note)
    job = Job.objects.get(kind=JobKind.REFUND_PROVIDER_CREATE, key=f"refund:{refund.pk}")
    return refund, job


def stripe_refunds(payment: Payment, stripe_api: dict[str, Any]) -> list[Any]:
    return list(stripe.Refund.list(payment_intent=payment.provider_reference, **stripe_api).auto_paging_iter())


def deliver(payload: dict[str, Any], django_capture_on_commit_callbacks: Any) -> StripeWebhookEvent:
    """POST a signed event; its processing job runs on commit, in-process. The event's record afterwards."""
    body, signature = signed(payload)
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().generic(
            "POST", WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
    assert response.status_code == 200, response.json()
    return StripeWebhookEvent.objects.get(stripe_event_id=payload["id"])


def resync() -> str:
    out = StringIO()
    call_command("billing_sync_stripe", "--no-progress", stdout=out)
    return out.getvalue()


# --- refunds we ask Stripe for ------------------------------------------------------------------------------------


def test_a_credit_note_refund_to_the_card_is_made_in_stripe_by_its_job(
    stripe_plans, customer_client, card, stripe_api, billing_staff_user
):
    invoice, payment = card_paid_invoice(customer_client, card)
    refund, job = card_refund_issue(invoice, billing_staff_user, 33000)
    assert (refund.method, refund.status, refund.amount, refund.payment_id) == (
        RefundMethod.CARD,
        RefundStatus.PENDING,
        33000,
        payment.pk,
    )
    assert stripe_refunds(payment, stripe_api) == []  # nothing asked of Stripe before the job

    run = job_run(job_id=job.pk)

    assert run is not None and run.status == JobStatus.DONE, run
    refund.refresh_from_db()
    [theirs] = stripe_refunds(payment, stripe_api)
    assert (theirs.amount, theirs.currency, theirs.status) == (33000, "krw", "succeeded")
    assert theirs.metadata["billing_refund_id"] == str(refund.pk)
    assert (refund.status, refund.provider_reference) == (RefundStatus.SUCCEEDED, theirs.id)
    assert refund.succeeded_at is not None
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.SUCCEEDED, 33000)
    assert (invoice.status, invoice.amount_refunded, invoice.amount_credited) == (InvoiceStatus.PAID, 33000, 33000)


def test_a_job_run_again_after_its_answer_was_lost_refunds_once(
    stripe_plans, customer_client, card, stripe_api, billing_staff_user
):
    invoice, payment = card_paid_invoice(customer_client, card)
    refund, job = card_refund_issue(invoice, billing_staff_user, 108900)
    lost = payment_provider().refund_create(refund=refund)  # Stripe refunded; the worker died before recording it

    run = job_run(job_id=job.pk)

    assert run is not None and run.status == JobStatus.DONE, run
    [theirs] = stripe_refunds(payment, stripe_api)
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert theirs.id == lost.reference == refund.provider_reference
    assert refund.status == RefundStatus.SUCCEEDED
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 108900)
    assert job_run(job_id=job.pk) is None  # done: a redelivered message runs nothing


def test_the_idempotency_key_alone_keeps_a_retry_from_refunding_twice(
    stripe_plans, customer_client, card, stripe_api, billing_staff_user, monkeypatch
):
    invoice, payment = card_paid_invoice(customer_client, card)
    refund, _ = card_refund_issue(invoice, billing_staff_user, 20000)
    first = payment_provider().refund_create(refund=refund)
    # Stripe's list does not show the first refund yet: only the idempotency key tells Stripe it is the same one.
    monkeypatch.setattr(stripe.Refund, "list", lambda **_: SimpleNamespace(auto_paging_iter=lambda: iter(())))
    again = payment_provider().refund_create(refund=refund)
    monkeypatch.undo()

    assert (again.reference, again.status) == (first.reference, "succeeded")
    assert [theirs.id for theirs in stripe_refunds(payment, stripe_api)] == [first.reference]


def test_stripe_refusing_the_refund_puts_its_money_on_the_balance(
    stripe_plans, customer_client, card, stripe_api, billing_staff_user, monkeypatch
):
    invoice, payment = card_paid_invoice(customer_client, card)
    refund, job = card_refund_issue(invoice, billing_staff_user, 50000)

    def refuse(**_: Any) -> Any:  # localstripe refunds anything; Stripe refuses e.g. a disputed charge
        raise stripe.InvalidRequestError("Charge ch_x has been charged back; cannot issue a refund.", param=None)

    monkeypatch.setattr(stripe.Refund, "create", refuse)
    run = job_run(job_id=job.pk)
    monkeypatch.undo()

    assert run is not None and run.status == JobStatus.DONE, run
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED and "charged back" in refund.failure_reason
    replacement = Refund.objects.get(replaces=refund)
    assert (replacement.method, replacement.status, replacement.amount) == (
        RefundMethod.BALANCE,
        RefundStatus.SUCCEEDED,
        50000,
    )
    entry = CustomerBalanceEntry.objects.get(refund=replacement)
    assert (entry.kind, entry.amount) == (BalanceEntryKind.REFUND_FAILED, 50000)
    assert entry.customer.credit_balance == 50000
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.amount_refunded, invoice.amount_refunded) == (0, 50000)  # given back, onto the balance
    assert stripe_refunds(payment, stripe_api) == []


def test_stripe_unreachable_leaves_the_refund_pending_and_the_job_retries(
    stripe_plans, customer_client, card, stripe_api, billing_staff_user, stripe_on
):
    invoice, payment = card_paid_invoice(customer_client, card)
    refund, job = card_refund_issue(invoice, billing_staff_user, 10000)
    stripe_on.stop()
    try:
        failed = job_run(job_id=job.pk)
    finally:
        stripe_on.start()

    assert failed is not None and failed.status == JobStatus.PENDING and "unavailable" in failed.result, failed
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING and not CustomerBalanceEntry.objects.filter(refund__isnull=False)
    job.refresh_from_db()
    retried = job_run(job_id=job.pk, now=job.run_after)

    assert retried is not None and retried.status == JobStatus.DONE, retried
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert [theirs.amount for theirs in stripe_refunds(payment, stripe_api)] == [10000]


def test_with_stripe_off_a_card_refund_goes_onto_the_balance(
    stripe_plans, customer_client, card, billing_staff_user, settings
):
    invoice, _ = card_paid_invoice(customer_client, card)
    refund, job = card_refund_issue(invoice, billing_staff_user, 30000)
    settings.STRIPE_ENABLED = False  # the manual provider cannot refund a card (refund_not_supported)

    run = job_run(job_id=job.pk)

    assert run is not None and run.status == JobStatus.DONE, run
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert Refund.objects.get(replaces=refund).method == RefundMethod.BALANCE
    assert Customer.objects.get(pk=invoice.customer_id).credit_balance == 30000


# --- refunds made in Stripe's dashboard -----------------------------------------------------------------------------


def test_a_refund_made_in_stripe_arrives_by_webhook_as_a_credit_note_once(
    stripe_plans, customer_client, card, stripe_api, django_capture_on_commit_callbacks
):
    invoice, payment = card_paid_invoice(customer_client, card)
    made = stripe.Refund.create(payment_intent=payment.provider_reference, amount=20000, **stripe_api)
    event = stripe_event(stripe_api, "charge.refunded", stripe.Charge.retrieve(made.charge, **stripe_api))

    first = deliver(event, django_capture_on_commit_callbacks)
    replay = deliver(event, django_capture_on_commit_callbacks)  # Stripe delivers an event again

    assert first.status == StripeWebhookEventStatus.PROCESSED and "credit note" in first.result, first.result
    assert replay.deliveries == 2
    note = CreditNote.objects.get(invoice=invoice)
    assert (note.total, note.pre_payment_amount, note.refund_amount, note.balance_amount) == (20000, 0, 20000, 0)
    assert note.reason == CreditNoteReason.OTHER and made.id in note.memo
    refund = Refund.objects.get(credit_note=note)
    assert (refund.method, refund.status, refund.provider_reference, refund.payment_id) == (
        RefundMethod.CARD,
        RefundStatus.SUCCEEDED,
        made.id,
        payment.pk,
    )
    again = stripe_event(stripe_api, "charge.refunded", stripe.Charge.retrieve(made.charge, **stripe_api))
    # Another event about the same charge (a later refund's) finds it recorded: nothing more.
    assert deliver(again, django_capture_on_commit_callbacks).result.endswith(f"refund {refund.pk}: succeeded")
    assert CreditNote.objects.filter(invoice=invoice).count() == Refund.objects.filter(invoice=invoice).count() == 1

    # The rest refunded in Stripe too: a second credit note, and the payment is refunded in full.
    rest = stripe.Refund.create(payment_intent=payment.provider_reference, amount=88900, **stripe_api)
    deliver(
        stripe_event(stripe_api, "charge.refunded", stripe.Charge.retrieve(rest.charge, **stripe_api)),
        django_capture_on_commit_callbacks,
    )
    assert sorted(Refund.objects.filter(invoice=invoice).values_list("amount", flat=True)) == [20000, 88900]
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 108900)
    assert (invoice.status, invoice.amount_credited, invoice.amount_refunded) == (InvoiceStatus.PAID, 108900, 108900)


def test_the_webhook_of_our_own_refund_completes_it_without_a_second_credit_note(
    stripe_plans, customer_client, card, stripe_api, billing_staff_user, django_capture_on_commit_callbacks
):
    invoice, payment = card_paid_invoice(customer_client, card)
    refund, _ = card_refund_issue(invoice, billing_staff_user, 40000)
    made = payment_provider().refund_create(refund=refund)  # the job's call; its answer not recorded yet
    charge = stripe.Refund.retrieve(made.reference, **stripe_api).charge

    result = deliver(
        stripe_event(stripe_api, "charge.refunded", stripe.Charge.retrieve(charge, **stripe_api)),
        django_capture_on_commit_callbacks,
    ).result

    assert f"refund {refund.pk} succeeded" in result
    refund.refresh_from_db()
    assert (refund.status, refund.provider_reference) == (RefundStatus.SUCCEEDED, made.reference)
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    payment.refresh_from_db()
    assert payment.amount_refunded == 40000


def test_the_resync_finds_refunds_made_while_webhooks_were_down(
    stripe_plans, customer_client, card, stripe_api, billing_staff_user
):
    invoice, payment = card_paid_invoice(customer_client, card)
    ours, _ = card_refund_issue(invoice, billing_staff_user, 30000)
    payment_provider().refund_create(refund=ours)  # made in Stripe; neither its answer nor its webhook arrived
    dashboard = stripe.Refund.create(payment_intent=payment.provider_reference, amount=15000, **stripe_api)

    first = resync()
    second = resync()

    assert "refunds" in first and dashboard.id in first and f"refund {ours.pk} succeeded" in first, first
    assert "Everything already agrees with Stripe: no changes." in second, second
    ours.refresh_from_db()
    assert ours.status == RefundStatus.SUCCEEDED
    foreign = Refund.objects.get(provider_reference=dashboard.id)
    assert (foreign.amount, foreign.status, foreign.credit_note.memo) == (
        15000,
        RefundStatus.SUCCEEDED,
        f"Refunded in Stripe ({dashboard.id})",
    )
    assert CreditNote.objects.filter(invoice=invoice).count() == 2
    payment.refresh_from_db()
    assert payment.amount_refunded == 45000


def test_a_refund_stripe_reports_failed_later_puts_its_money_on_the_balance(
    stripe_plans, customer_client, card, billing_staff_user
):
    # localstripe's refunds always succeed at once; Stripe's may fail days later (a closed card account). The
    # provider's report of that is built here as billing.providers.stripe reads it.
    invoice, payment = card_paid_invoice(customer_client, card)
    refund, _ = card_refund_issue(invoice, billing_staff_user, 25000)
    failed = RemoteRefundItem(
        reference="re_failed_later",
        amount=25000,
        status="failed",
        claimed_refund_id=str(refund.pk),
        failure_reason="expired_or_canceled_card",
    )
    remote = RemoteRefund(
        reference="ch_x",
        payment_references=(payment.provider_reference,),
        amount_refunded=0,
        refunded_in_full=False,
        provider_label="Stripe",
        refunds=(failed,),
    )

    said = refund_remote_apply(remote=remote)
    again = refund_remote_apply(remote=remote)

    assert "credited to the balance" in said and "already" not in said
    assert f"refund {refund.pk}: failed" in again
    refund.refresh_from_db()
    assert (refund.status, refund.provider_reference, refund.failure_reason) == (
        RefundStatus.FAILED,
        "re_failed_later",
        "expired_or_canceled_card",
    )
    assert CustomerBalanceEntry.objects.filter(kind=BalanceEntryKind.REFUND_FAILED, amount=25000).count() == 1
    assert not CreditNote.objects.filter(memo__contains="re_failed_later").exists()
    payment.refresh_from_db()
    assert payment.amount_refunded == 0


# --- refused because the payment is refunded already --------------------------------------------------------------


def already_refunded_refusal(code: str | None) -> Any:
    """Stripe.Refund.create as Stripe answers when the charge's refunds already take what is asked (localstripe
    refunds more than was paid)."""

    def refuse(**_: Any) -> Any:
        raise stripe.InvalidRequestError("Charge ch_x has already been refunded.", param=None, code=code)

    return refuse


@pytest.mark.parametrize("code", ["charge_already_refunded", "amount_too_large", None])
def test_a_refund_refused_after_a_dashboard_refund_returns_the_money_once(
    stripe_plans,
    customer_client,
    card,
    stripe_api,
    billing_staff_user,
    monkeypatch,
    django_capture_on_commit_callbacks,
    code,
):
    invoice, payment = card_paid_invoice(customer_client, card)
    # Staff refund it all in Stripe's dashboard (its webhook not processed yet) and issue a credit note to the card.
    dashboard = stripe.Refund.create(payment_intent=payment.provider_reference, amount=108900, **stripe_api)
    refund, job = card_refund_issue(invoice, billing_staff_user, 108900)
    monkeypatch.setattr(stripe.Refund, "create", already_refunded_refusal(code))
    run = job_run(job_id=job.pk)
    monkeypatch.undo()

    assert run is not None and run.status == JobStatus.DONE and dashboard.id in run.result, run
    refund.refresh_from_db()
    assert (refund.status, refund.provider_reference) == (RefundStatus.SUCCEEDED, dashboard.id)
    assert not Refund.objects.filter(replaces=refund).exists()
    event = stripe_event(stripe_api, "charge.refunded", stripe.Charge.retrieve(dashboard.charge, **stripe_api))
    said = deliver(event, django_capture_on_commit_callbacks).result
    replay = deliver(event, django_capture_on_commit_callbacks).result

    assert said.endswith(f"refund {refund.pk}: succeeded") and replay == said, (said, replay)
    assert not CustomerBalanceEntry.objects.filter(customer_id=invoice.customer_id).exclude(kind="opening").exists()
    assert Customer.objects.get(pk=invoice.customer_id).credit_balance == 0
    assert CreditNote.objects.filter(invoice=invoice).count() == Refund.objects.filter(invoice=invoice).count() == 1
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.amount_refunded == payment.amount == 108900
    assert (invoice.amount_credited, invoice.amount_refunded) == (108900, 108900)


def test_a_refund_refused_as_already_refunded_matching_no_dashboard_refund_stays_pending_for_staff(
    stripe_plans,
    customer_client,
    card,
    stripe_api,
    billing_staff_user,
    monkeypatch,
    caplog,
    django_capture_on_commit_callbacks,
):
    invoice, payment = card_paid_invoice(customer_client, card)
    dashboard = stripe.Refund.create(payment_intent=payment.provider_reference, amount=20000, **stripe_api)
    refund, job = card_refund_issue(invoice, billing_staff_user, 108900)  # more than Stripe has left to refund
    monkeypatch.setattr(stripe.Refund, "create", already_refunded_refusal("amount_too_large"))
    run = job_run(job_id=job.pk)
    monkeypatch.undo()

    assert run is not None and run.status == JobStatus.DONE and "left pending" in run.result, run
    refund.refresh_from_db()
    assert (refund.status, refund.provider_reference) == (RefundStatus.PENDING, "")
    assert "Staff must check" in refund.failure_reason and "already been refunded" in refund.failure_reason
    assert any(r.levelname == "ERROR" and str(refund.pk) in r.getMessage() for r in caplog.records)
    deliver(
        stripe_event(stripe_api, "charge.refunded", stripe.Charge.retrieve(dashboard.charge, **stripe_api)),
        django_capture_on_commit_callbacks,
    )
    assert not Refund.objects.filter(replaces=refund).exists()
    assert Customer.objects.get(pk=invoice.customer_id).credit_balance == 0
    payment.refresh_from_db()
    assert payment.amount_refunded <= payment.amount
