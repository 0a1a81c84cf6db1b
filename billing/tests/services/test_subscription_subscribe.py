"""Subscribing: the first invoice, auto-upgrade with pro rata credit, credit balance, refusals."""

from datetime import date

import pytest

from billing.enums import InvoiceStatus
from billing.models import Invoice
from billing.models.subscriptions import (
    CancellationReason,
    Subscription,
    SubscriptionInvoice,
    SubscriptionInvoiceReason,
)
from billing.services.subscriptions import subscription_change_plan, subscription_create
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

MONTHLY, ANNUAL = "monthly", "annual"


def lines_of(invoice: Invoice) -> list[tuple[str, int, date | None, date | None]]:
    return [
        (line.description, line.amount, line.period_start, line.period_end)
        for line in invoice.lines.order_by("position")
    ]


def test_subscribing_starts_today_and_issues_the_first_periods_invoice(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 1, 31))
    )

    subscription, invoice = started.subscription, started.invoice
    assert (subscription.status, subscription.price_amount, subscription.currency) == ("active", 99_000, "KRW")
    assert (subscription.current_period_start, subscription.current_period_end) == (
        date(2025, 1, 31),
        date(2025, 2, 28),
    )
    assert subscription.next_billing_date == date(2025, 2, 28)
    assert started.replaced is None
    assert (invoice.status, invoice.subtotal, invoice.tax, invoice.total) == ("open", 99_000, 9_900, 108_900)
    assert invoice.number.startswith("20250131-")
    assert invoice.issue_date == date(2025, 1, 31)
    assert lines_of(invoice) == [("프로 플랜 (월간)", 99_000, date(2025, 1, 31), date(2025, 2, 27))]
    link = SubscriptionInvoice.objects.get(invoice=invoice)
    assert (link.subscription_id, link.reason, link.period_start, link.period_end) == (
        subscription.pk,
        SubscriptionInvoiceReason.CREATE,
        date(2025, 1, 31),
        date(2025, 2, 28),
    )


def test_an_english_customer_gets_english_lines(customer, plans):
    customer.preferred_language = "en"
    customer.save()

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period=ANNUAL, now=seoul(date(2024, 2, 29))
    )

    assert started.subscription.current_period_end == date(2025, 2, 28)
    assert lines_of(started.invoice) == [("Starter plan (annual)", 290_000, date(2024, 2, 29), date(2025, 2, 27))]


def test_the_free_plan_gets_a_zero_invoice_that_is_paid_at_once(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["free"], billing_period=MONTHLY, now=seoul(date(2025, 3, 3))
    )

    assert started.subscription.status == "active"
    assert (started.invoice.total, started.invoice.status) == (0, InvoiceStatus.PAID)


def test_same_plan_and_period_again_is_already_subscribed(customer, plans):
    first = subscription_create(
        customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 1, 5))
    )

    with pytest.raises(ApplicationError) as refused:
        subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 1, 6)))

    assert (refused.value.code, refused.value.status_code) == ("already_subscribed", 409)
    assert list(Subscription.objects.filter(customer=customer)) == [first.subscription]
    assert Invoice.objects.filter(customer=customer).count() == 1


def test_upgrade_ends_the_old_subscription_now_and_credits_its_unused_days(customer, plans):
    old = subscription_create(
        customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(date(2025, 1, 1))
    )
    pay(old.invoice)  # only a paid period is credited (test_plan_change_credit.py: the unpaid ones)

    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 1, 16))
    )

    replaced = Subscription.objects.get(pk=old.subscription.pk)
    assert (replaced.status, replaced.cancellation_reason) == ("canceled", CancellationReason.REPLACED)
    assert replaced.ended_at == seoul(date(2025, 1, 16))
    assert started.replaced.pk == replaced.pk
    assert started.subscription.replaces_id == replaced.pk
    # 29,000 x 16 unused of 31 days = 14,967.7 -> 14,967 (truncated to the won)
    assert (started.credit, started.credit_on_invoice, started.credit_to_balance) == (14_967, 14_967, 0)
    assert lines_of(started.invoice) == [
        ("프로 플랜 (월간)", 99_000, date(2025, 1, 16), date(2025, 2, 15)),
        ("미사용 기간 크레딧: 스타터 플랜 (월간)", -14_967, date(2025, 1, 16), date(2025, 1, 31)),
    ]
    assert (started.invoice.subtotal, started.invoice.tax, started.invoice.total) == (84_033, 8_403, 92_436)
    assert Subscription.objects.filter(customer=customer, status__in=["active", "past_due", "incomplete"]).count() == 1


def test_changing_only_the_billing_period_is_a_plan_change(customer, plans):
    pay(
        subscription_create(
            customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 1, 1))
        ).invoice
    )

    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period=ANNUAL, now=seoul(date(2025, 1, 1)), when="now"
    )

    assert started.credit == 99_000  # not a day used
    assert started.subscription.current_period_end == date(2026, 1, 1)
    assert started.invoice.subtotal == 990_000 - 99_000


def test_a_credit_larger_than_the_new_charge_goes_to_the_balance_and_pays_later_invoices(customer, plans):
    enterprise = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period=MONTHLY, now=seoul(date(2025, 1, 1))
    )
    pay(enterprise.invoice)

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(date(2025, 1, 2)), when="now"
    )

    # 490,000 x 30 / 31 = 474,193.5 -> 474,193: 29,000 on the invoice, 445,193 to the balance.
    assert (started.credit, started.credit_on_invoice, started.credit_to_balance) == (474_193, 29_000, 445_193)
    assert (started.invoice.subtotal, started.invoice.total, started.invoice.status) == (0, 0, InvoiceStatus.PAID)
    customer.refresh_from_db()
    assert customer.credit_balance == 445_193

    # The next plan change uses the balance before anything is owed; the starter period was paid by credit
    # that came from money, so it is credited too.
    upgraded = subscription_create(
        customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 1, 2))
    )

    assert upgraded.credit == 29_000  # the starter period, unused
    assert upgraded.balance_used == 70_000
    assert [line[1] for line in lines_of(upgraded.invoice)] == [99_000, -29_000, -70_000]
    assert lines_of(upgraded.invoice)[2][0] == "크레딧 잔액 사용"
    assert upgraded.invoice.total == 0
    customer.refresh_from_db()
    assert customer.credit_balance == 445_193 - 70_000


def test_a_plan_change_the_day_after_the_period_ended_credits_nothing(customer, plans):
    pay(
        subscription_create(
            customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 1, 1))
        ).invoice
    )

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(date(2025, 2, 2)), when="now"
    )

    assert started.credit == 0
    assert len(lines_of(started.invoice)) == 1


def test_a_retired_plan_cannot_be_subscribed_to(customer, plans):
    plans["starter"].is_active = False
    plans["starter"].save()

    with pytest.raises(ApplicationError) as refused:
        subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY)

    assert refused.value.code == "plan_not_available"
    assert not Subscription.objects.exists()


def test_a_card_payment_method_is_refused_while_stripe_is_off(customer, plans, settings):
    settings.STRIPE_ENABLED = False

    with pytest.raises(ApplicationError) as refused:
        subscription_create(
            customer=customer, plan=plans["pro"], billing_period=MONTHLY, payment_method_id="pm_card_visa"
        )

    assert refused.value.code == "card_payments_unavailable"
    assert not Subscription.objects.exists()


def test_an_unknown_billing_period_is_refused(customer, plans):
    with pytest.raises(ApplicationError) as refused:
        subscription_create(customer=customer, plan=plans["pro"], billing_period="weekly")

    assert refused.value.code == "invalid_billing_period"


def test_change_plan_for_the_admin_moves_a_live_subscription(customer, plans):
    old = subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(date(2025, 4, 1)))
    pay(old.invoice)

    started = subscription_change_plan(
        subscription=old.subscription, plan=plans["enterprise"], now=seoul(date(2025, 4, 1))
    )

    assert (started.subscription.plan_id, started.subscription.billing_period) == (plans["enterprise"].pk, MONTHLY)
    assert started.credit == 99_000
    with pytest.raises(ApplicationError) as refused:
        subscription_change_plan(subscription=old.subscription, plan=plans["starter"])
    assert (refused.value.code, refused.value.status_code) == ("subscription_not_active", 409)


def test_customers_do_not_affect_each_other(customer, other_customer, plans):
    subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY)
    theirs = subscription_create(customer=other_customer, plan=plans["pro"], billing_period=MONTHLY)

    assert theirs.replaced is None
    assert Subscription.objects.filter(status="active").count() == 2
