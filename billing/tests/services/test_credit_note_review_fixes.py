"""Credit notes against the rest of billing (issue 15 review): foreign-currency invoices and the balance, voiding a
credited unpaid invoice (and the system paths that do), and plan changes before or after a credit note."""

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import transaction

from billing.enums import CreditSettlement, InvoiceLineKind, InvoiceStatus, PaymentMethod
from billing.models import CreditNote, CreditNoteNumberSequence, Customer, CustomerBalanceEntry, Invoice, Refund
from billing.models.subscriptions import CancellationReason, Subscription, SubscriptionStatus
from billing.services.coupons import coupon_create, promotion_code_create
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import InvoiceLineInput, invoice_issue, invoice_void
from billing.services.payments import payment_record
from billing.services.subscription_states import dunning_refresh, subscription_lock
from billing.services.subscriptions import subscription_change_plan, subscription_create
from billing.services.subscriptions.lifecycle import subscription_cancel
from billing.services.subscriptions.subscribe import subscription_checkout
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 28)
JAN_1, JAN_11 = date(2025, 1, 1), date(2025, 1, 11)


def code_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value.code, refused.value.status_code


def fresh(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def balance_of(customer: Customer) -> int:
    return Customer.objects.get(pk=customer.pk).credit_balance


def books(customer: Customer) -> dict[str, object]:
    """What a refused credit note must leave as it was."""
    return {
        "notes": CreditNote.objects.count(),
        "refunds": Refund.objects.count(),
        "entries": CustomerBalanceEntry.objects.filter(customer=customer).count(),
        "numbers": list(CreditNoteNumberSequence.objects.values_list("day", "last_number")),
        "invoices": list(
            Invoice.objects.filter(customer=customer)
            .order_by("pk")
            .values_list("pk", "status", "amount_credited", "amount_remaining", "amount_refunded")
        ),
        "balance": balance_of(customer),
    }


# 1. A foreign-currency invoice: the balance is in the customer's currency only.


def usd_invoice(customer: Customer, *, paid_by: str | None) -> Invoice:
    assert customer.currency == "KRW"
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Thing", 10_000)], currency="USD")
    if paid_by is not None:
        payment_record(invoice=invoice, amount=invoice.total, method=paid_by, provider_reference=f"usd-{paid_by}")
    return fresh(invoice)


@pytest.mark.parametrize(
    ("paid_by", "settlement"),
    [
        (PaymentMethod.CARD, CreditSettlement.REFUND),  # a failed card refund would fall back to the balance
        (PaymentMethod.CARD, CreditSettlement.BALANCE),
        (PaymentMethod.BANK_TRANSFER, CreditSettlement.BALANCE),
    ],
)
def test_a_foreign_currency_credit_note_never_ends_on_the_balance(customer, paid_by, settlement):
    invoice = usd_invoice(customer, paid_by=paid_by)
    before = books(customer)

    refused = code_of(
        lambda: credit_note_issue(
            invoice=invoice, reason="goodwill", actor=None, settlement=settlement, bank_reference="BANK-1"
        )
    )

    assert refused == ("currency_mismatch", 409)
    assert books(customer) == before


def test_a_foreign_currency_credit_note_by_bank_transfer_or_before_payment_is_allowed(customer):
    paid = usd_invoice(customer, paid_by=PaymentMethod.BANK_TRANSFER)
    note = credit_note_issue(invoice=paid, reason="goodwill", actor=None, bank_reference="BANK-1", now=seoul(DAY))
    assert (note.currency, note.refund_amount, note.refunds.get().status) == ("USD", paid.total, "succeeded")

    unpaid = usd_invoice(customer, paid_by=None)
    # Only lowers what the invoice asks: nothing given back, so nothing can reach the balance.
    note = credit_note_issue(
        invoice=unpaid, reason="goodwill", actor=None, amount=1_100, settlement=CreditSettlement.BALANCE
    )
    assert (note.pre_payment_amount, note.balance_amount) == (1_100, 0)
    assert balance_of(customer) == 0


def test_a_foreign_currency_message_says_why(customer):
    invoice = usd_invoice(customer, paid_by=PaymentMethod.CARD)
    with pytest.raises(ApplicationError) as refused:
        credit_note_issue(invoice=invoice, reason="goodwill", actor=None)
    assert "USD" in refused.value.message and "KRW" in refused.value.message


# 2. Voiding a credited unpaid invoice.


def test_a_credited_unpaid_invoice_can_be_voided_and_keeps_its_credit_notes(customer):
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Pro", 99_000)])
    note = credit_note_issue(invoice=invoice, reason="goodwill", actor=None, amount=11_000)

    voided = invoice_void(invoice=invoice, actor=None)

    assert voided.status == InvoiceStatus.VOID
    assert list(fresh(invoice).credit_notes.values_list("number", "total")) == [(note.number, 11_000)]
    assert (voided.amount_credited, voided.amount_remaining) == (11_000, 108_900 - 11_000)


def test_a_credited_invoice_with_payments_is_still_refused(customer):
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Pro", 99_000)])
    payment_record(invoice=invoice, amount=1_000, method=PaymentMethod.BANK_TRANSFER)
    credit_note_issue(invoice=invoice, reason="goodwill", actor=None, amount=11_000)

    assert code_of(lambda: invoice_void(invoice=invoice, actor=None)) == ("invoice_has_payments", 409)
    assert fresh(invoice).status == InvoiceStatus.OPEN


def credited_checkout(customer: Customer, plans: Any) -> Any:
    started = subscription_checkout(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(DAY))
    credit_note_issue(invoice=started.invoice, reason="goodwill", actor=None, amount=1_000, now=seoul(DAY))
    return started


def test_canceling_an_incomplete_checkout_voids_its_credited_invoice(customer, plans):
    started = credited_checkout(customer, plans)

    subscription_cancel(subscription=started.subscription, immediately=True, actor=customer.user)

    assert Subscription.objects.get(pk=started.subscription.pk).status == SubscriptionStatus.CANCELED
    invoice = fresh(started.invoice)
    assert (invoice.status, invoice.credit_notes.count()) == (InvoiceStatus.VOID, 1)


def test_an_expiring_incomplete_checkout_voids_its_credited_invoice(customer, plans):
    started = credited_checkout(customer, plans)
    later = fresh(started.invoice).due_date + timedelta(days=1)

    with transaction.atomic():
        dunning_refresh(subscription_lock(subscription_id=started.subscription.pk), as_of=later, moment=seoul(later))

    expired = Subscription.objects.get(pk=started.subscription.pk)
    assert (expired.status, expired.cancellation_reason) == (
        SubscriptionStatus.CANCELED,
        CancellationReason.INCOMPLETE_EXPIRED,
    )
    assert fresh(started.invoice).status == InvoiceStatus.VOID


@pytest.mark.parametrize(
    ("credited_total", "carried"),
    [
        # 99,000 - 99,000 x 21 / 31 (67,064) = 31,936 used; the note took 10,000 of supply off: 21,936 is still owed.
        (11_000, 21_936),
        (88_000, 0),  # 80,000 of supply taken off: more than the days used, never below zero
    ],
)
def test_a_plan_change_from_a_credited_unpaid_invoice_carries_only_what_is_still_owed(
    customer, plans, credited_total, carried
):
    old = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    note = credit_note_issue(invoice=old.invoice, reason="goodwill", actor=None, amount=credited_total)
    assert note.subtotal == credited_total * 10 // 11

    started = subscription_change_plan(
        subscription=old.subscription, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11)
    )

    assert fresh(old.invoice).status == InvoiceStatus.VOID
    assert (started.credit, started.carried) == (0, carried)
    assert started.invoice.subtotal == 29_000 + carried
    assert balance_of(customer) == 0


# 3. A plan change already credited the unused days of the period it left.


def changed_after_paying(customer: Customer, plans: Any) -> tuple[Any, Any]:
    old = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    pay(old.invoice)
    started = subscription_change_plan(
        subscription=old.subscription, plan=plans["enterprise"], billing_period="monthly", now=seoul(JAN_11)
    )
    assert (started.credit, started.credit_on_invoice) == (67_064, 67_064)  # 99,000 x 21 / 31
    return old, started


@pytest.mark.parametrize("settlement", [CreditSettlement.REFUND, CreditSettlement.BALANCE])
def test_after_a_plan_change_the_old_invoice_gives_nothing_back(customer, plans, settlement):
    old, _ = changed_after_paying(customer, plans)
    before = books(customer)

    with pytest.raises(ApplicationError) as refused:
        credit_note_issue(
            invoice=old.invoice, reason="goodwill", actor=None, settlement=settlement, bank_reference="BANK-1"
        )

    assert (refused.value.code, refused.value.status_code) == ("invoice_period_credited", 409)
    assert "plan change" in refused.value.message
    assert books(customer) == before


def test_after_a_plan_change_the_new_invoice_can_be_credited(customer, plans):
    _, started = changed_after_paying(customer, plans)
    new_invoice = fresh(started.invoice)
    pay(new_invoice)

    note = credit_note_issue(
        invoice=new_invoice, reason="goodwill", actor=None, amount=11_000, settlement=CreditSettlement.BALANCE
    )
    assert note.balance_amount == 11_000
    assert balance_of(customer) == 11_000


def test_an_earlier_period_of_a_replaced_subscription_can_still_be_credited(customer, plans):
    first = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    pay(first.invoice)
    extra = invoice_issue(customer=customer, lines=[InvoiceLineInput("Setup", 10_000)])
    pay(extra)
    subscription_change_plan(
        subscription=first.subscription, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11)
    )

    note = credit_note_issue(invoice=extra, reason="goodwill", actor=None, bank_reference="BANK-1")
    assert note.refund_amount == 11_000


def test_a_credit_note_before_the_plan_change_lowers_its_credit(customer, plans):
    old = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))
    pay(old.invoice)
    credit_note_issue(invoice=old.invoice, reason="goodwill", actor=None, amount=11_000, bank_reference="BANK-1")

    started = subscription_change_plan(
        subscription=old.subscription, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_11)
    )

    # 97,900 of 108,900 stayed: 89,000 of supply paid for. 89,000 x 21 / 31 = 60,290.3 -> 60,290 (not 67,064).
    assert started.credit == 60_290


# 4. A `once` coupon's discount and a plan change.

NOV_2, NOV_17 = date(2026, 11, 2), date(2026, 11, 17)


def half_off_starter(customer: Customer, plans: Any) -> Any:
    coupon = coupon_create(actor=None, name="Half", duration="once", percent_off=50)
    promotion_code_create(actor=None, coupon=coupon, code="HALF")
    first = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(NOV_2), coupon="HALF"
    )
    assert first.invoice is not None
    assert list(first.invoice.lines.order_by("position").values_list("kind", "amount")) == [
        (InvoiceLineKind.ITEM, 29_000),
        (InvoiceLineKind.DISCOUNT, -14_500),
    ]
    return first


def test_a_plan_change_before_paying_a_discounted_month_bills_the_used_days_at_the_discounted_price(customer, plans):
    first = half_off_starter(customer, plans)

    second = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(NOV_17), when="now"
    )

    # 15 of 30 days used of a month that cost 14,500: 7,250 (not 29,000 - 14,500 = 14,500, the whole discounted month).
    assert fresh(first.invoice).status == InvoiceStatus.VOID
    assert (second.credit, second.carried) == (0, 7_250)
    assert list(second.invoice.lines.order_by("position").values_list("kind", "amount")) == [
        (InvoiceLineKind.ITEM, 99_000),
        (InvoiceLineKind.ITEM, 7_250),
    ]


def test_a_plan_change_after_paying_a_discounted_month_credits_only_what_was_paid(customer, plans):
    first = half_off_starter(customer, plans)
    pay(first.invoice)

    second = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(NOV_17), when="now"
    )

    # 14,500 of supply paid for the month: 14,500 x 15 / 30 = 7,250 credited (not 29,000 x 15 / 30).
    assert (second.credit, second.carried) == (7_250, 0)
