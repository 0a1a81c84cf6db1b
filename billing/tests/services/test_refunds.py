"""A card refund's life: asked of the provider by its job, then succeeded, pending at the provider, or failed (its money
onto the credit balance instead, by a balance refund replacing it and a ledger entry)."""

from datetime import date
from typing import Any

import pytest

from billing.enums import BalanceEntryKind, PaymentMethod, PaymentStatus, RefundMethod, RefundStatus
from billing.models import Customer, CustomerBalanceEntry, Invoice, Payment, Refund
from billing.providers.base import RefundOutcome, RemoteRefund, RemoteRefundItem
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.services.payments import payment_record
from billing.services.refunds import refund_fail, refund_provider_create, refund_succeed
from billing.tests.helpers import seoul
from billing_site.errors import ApplicationError

DAY = date(2026, 11, 28)


class AnsweringProvider:
    """A payment provider that answers every refund the same way and remembers what it was asked."""

    def __init__(self, outcome: RefundOutcome | Exception) -> None:
        self.outcome = outcome
        self.asked: list[int] = []

    def refund_create(self, *, refund: Refund) -> RefundOutcome:
        self.asked.append(refund.pk)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


@pytest.fixture
def provider_answers(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(outcome: RefundOutcome | Exception) -> AnsweringProvider:
        provider = AnsweringProvider(outcome)
        monkeypatch.setattr("billing.services.refunds.payment_provider", lambda: provider)
        return provider

    return install


@pytest.fixture
def card_refund(customer: Customer) -> Refund:
    """A pending card refund of 30,000 of a 108,900 invoice paid by card."""
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Pro", 99_000)])
    payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.CARD, provider_reference="pi_1")
    note = credit_note_issue(invoice=invoice, reason="goodwill", actor=None, amount=30_000, now=seoul(DAY))
    refund: Refund = note.refunds.get()
    assert (refund.method, refund.status) == (RefundMethod.CARD, RefundStatus.PENDING)
    return refund


def refreshed(refund: Refund) -> tuple[Refund, Payment, Invoice, Customer]:
    refund = Refund.objects.get(pk=refund.pk)
    assert refund.payment_id is not None
    return (
        refund,
        Payment.objects.get(pk=refund.payment_id),
        refund.invoice,
        Customer.objects.get(pk=refund.customer_id),
    )


def test_the_manual_provider_cannot_refund_a_card_so_the_money_goes_to_the_balance(card_refund):
    result = refund_provider_create(refund_id=card_refund.pk)

    refund, payment, invoice, customer = refreshed(card_refund)
    assert "refund_not_supported" in result
    assert (refund.status, refund.failed_at is not None) == (RefundStatus.FAILED, True)
    assert "not supported" in refund.failure_reason
    replacement = refund.replaced_by
    assert (replacement.method, replacement.status, replacement.amount, replacement.payment) == (
        RefundMethod.BALANCE,
        RefundStatus.SUCCEEDED,
        30_000,
        None,
    )
    assert replacement.credit_note_id == refund.credit_note_id
    entry = CustomerBalanceEntry.objects.get(customer=customer)
    assert (entry.kind, entry.amount, entry.refund, entry.credit_note_id) == (
        BalanceEntryKind.REFUND_FAILED,
        30_000,
        replacement,
        refund.credit_note_id,
    )
    assert customer.credit_balance == 30_000
    assert (payment.amount_refunded, payment.status) == (0, PaymentStatus.SUCCEEDED)
    assert (invoice.amount_refunded, invoice.amount_credited) == (30_000, 30_000)  # still given back
    assert "nothing to ask" in refund_provider_create(refund_id=card_refund.pk)  # the job again: a no-op


def test_the_job_runs_once_the_credit_note_commits(customer, django_capture_on_commit_callbacks):
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Pro", 99_000)])
    payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.CARD, provider_reference="pi_9")

    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_issue(invoice=invoice, reason="duplicate", actor=None)

    [card, balance] = note.refunds.order_by("pk")
    assert (card.method, card.status, balance.method, balance.replaces) == ("card", "failed", "balance", card)
    assert Customer.objects.get(pk=customer.pk).credit_balance == invoice.total


def test_a_refund_the_provider_made_succeeds_with_its_reference(card_refund, provider_answers):
    provider = provider_answers(RefundOutcome(reference="re_1", status="succeeded"))

    refund_provider_create(refund_id=card_refund.pk)

    refund, payment, _, customer = refreshed(card_refund)
    assert (refund.status, refund.provider_reference, provider.asked) == ("succeeded", "re_1", [refund.pk])
    assert refund.succeeded_at is not None
    assert (payment.amount_refunded, customer.credit_balance) == (30_000, 0)
    assert refund_succeed(refund=refund).succeeded_at == refund.succeeded_at  # idempotent
    with pytest.raises(ApplicationError) as refused:
        refund_fail(refund=refund, reason="too late")
    assert (refused.value.code, refused.value.status_code) == ("refund_not_pending", 409)


def test_a_refund_pending_at_the_provider_keeps_its_reference_and_is_not_asked_again(card_refund, provider_answers):
    provider = provider_answers(RefundOutcome(reference="re_2", status="pending"))

    refund_provider_create(refund_id=card_refund.pk)
    refund_provider_create(refund_id=card_refund.pk)

    refund, *_ = refreshed(card_refund)
    assert (refund.status, refund.provider_reference, provider.asked) == ("pending", "re_2", [refund.pk])
    assert refund_succeed(refund=refund, reference="re_2").status == "succeeded"  # its event, later


def test_a_refund_the_provider_refused_goes_to_the_balance(card_refund, provider_answers):
    provider_answers(RefundOutcome(reference="re_3", status="failed", failure_reason="expired_or_canceled_card"))

    refund_provider_create(refund_id=card_refund.pk)

    refund, payment, invoice, customer = refreshed(card_refund)
    assert (refund.status, refund.provider_reference, refund.failure_reason) == (
        "failed",
        "re_3",
        "expired_or_canceled_card",
    )
    assert (payment.amount_refunded, customer.credit_balance, invoice.amount_refunded) == (0, 30_000, 30_000)


def test_an_unreachable_provider_leaves_the_refund_pending_for_the_retry(card_refund, provider_answers):
    provider_answers(ApplicationError("stripe_unavailable", "Stripe is down.", status_code=503))

    with pytest.raises(ApplicationError):
        refund_provider_create(refund_id=card_refund.pk)

    refund, payment, *_ = refreshed(card_refund)
    assert (refund.status, payment.amount_refunded) == ("pending", 30_000)


def test_failing_twice_writes_one_replacement_and_one_entry(card_refund):
    refund_fail(refund=card_refund, reason="declined")
    again = refund_fail(refund=card_refund, reason="declined again")

    assert (again.status, again.failure_reason) == ("failed", "declined")
    assert Refund.objects.filter(replaces=card_refund).count() == 1
    assert CustomerBalanceEntry.objects.filter(kind=BalanceEntryKind.REFUND_FAILED).count() == 1
    with pytest.raises(ApplicationError) as refused:
        refund_succeed(refund=card_refund, reference="re_late")
    assert refused.value.code == "refund_not_pending"


def test_after_a_failed_refund_the_payment_can_be_refunded_again_never_past_what_was_paid(card_refund):
    refund_fail(refund=card_refund, reason="declined")
    invoice = card_refund.invoice

    note = credit_note_issue(invoice=invoice, reason="goodwill", actor=None)  # the rest: 78,900

    refund = note.refunds.get()
    payment = Payment.objects.get(pk=card_refund.payment_id)
    assert (refund.amount, payment.amount_refunded, payment.status) == (78_900, 78_900, PaymentStatus.SUCCEEDED)
    invoice.refresh_from_db()
    # 30,000 onto the balance (the failed card refund) and 78,900 to the card: everything that was paid, once.
    assert (invoice.amount_refunded, invoice.amount_paid, invoice.amount_credited) == (108_900, 108_900, 108_900)


def already_refunded(*items: RemoteRefundItem) -> RefundOutcome:
    """The provider refused because the payment's refunds (made in its dashboard too) already take the refund."""
    charge = RemoteRefund(
        reference="ch_1",
        payment_references=("pi_1",),
        amount_refunded=sum(item.amount for item in items),
        refunded_in_full=False,
        provider_label="Stripe",
        refunds=items,
    )
    return RefundOutcome(
        reference="", status="pending", failure_reason="Stripe refused: already refunded", already_refunded=charge
    )


def test_a_refund_refused_as_already_refunded_becomes_the_dashboard_refund_not_a_balance_credit(
    card_refund, provider_answers
):
    provider_answers(
        already_refunded(
            RemoteRefundItem(reference="re_small", amount=10_000, status="succeeded"),
            RemoteRefundItem(reference="re_failed", amount=30_000, status="failed"),
            RemoteRefundItem(reference="re_big", amount=50_000, status="succeeded"),
            RemoteRefundItem(reference="re_exact", amount=30_000, status="succeeded"),
        )
    )

    said = refund_provider_create(refund_id=card_refund.pk)

    refund, payment, invoice, customer = refreshed(card_refund)
    assert "matched to re_exact" in said
    assert (refund.status, refund.provider_reference) == (RefundStatus.SUCCEEDED, "re_exact")
    assert not Refund.objects.filter(replaces=refund).exists()
    assert customer.credit_balance == 0 and not CustomerBalanceEntry.objects.filter(customer=customer).exists()
    assert (payment.amount_refunded, invoice.amount_refunded) == (30_000, 30_000)


def test_a_dashboard_refund_already_recorded_is_not_matched_again(card_refund, provider_answers, caplog):
    other = Refund.objects.create(
        credit_note=card_refund.credit_note,
        invoice=card_refund.invoice,
        customer=card_refund.customer,
        payment=card_refund.payment,
        amount=1,
        currency="KRW",
        method=RefundMethod.CARD,
        status=RefundStatus.SUCCEEDED,
        succeeded_at=seoul(DAY),
        provider_reference="re_known",
    )
    provider_answers(
        already_refunded(
            RemoteRefundItem(reference="re_known", amount=40_000, status="succeeded"),
            RemoteRefundItem(
                reference="re_claimed", amount=40_000, status="succeeded", claimed_refund_id=str(other.pk)
            ),
            RemoteRefundItem(reference="re_short", amount=29_999, status="succeeded"),
        )
    )

    said = refund_provider_create(refund_id=card_refund.pk)

    refund, _, _, customer = refreshed(card_refund)
    assert "left pending for staff" in said
    assert (refund.status, refund.provider_reference) == (RefundStatus.PENDING, "")
    assert "Staff must check" in refund.failure_reason
    assert any(record.levelname == "ERROR" for record in caplog.records)
    assert customer.credit_balance == 0 and not Refund.objects.filter(replaces=refund).exists()
