"""The upcoming invoice: the same lines and totals as the invoice the renewal (or the change) then issues, and
nothing written by asking."""

from datetime import date

import pytest

from billing.models import Customer, Invoice, InvoiceNumberSequence
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionPause
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_create,
    subscription_quantity_change,
    subscription_renew,
    subscription_upcoming,
)
from billing.services.subscriptions.preview import UpcomingInvoice, UpcomingLine
from billing.tests.factories import SubscriptionPlanFactory
from billing.tests.helpers import balance_give, seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job
from billing_site.mail.models import Email

pytestmark = pytest.mark.django_db

MONTHLY = "monthly"
JAN_1, JAN_11 = date(2025, 1, 1), date(2025, 1, 11)


def as_upcoming(invoice: Invoice, *, on: date, proration: bool) -> UpcomingInvoice:
    return UpcomingInvoice(
        date=on,
        lines=[
            UpcomingLine(
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                amount=line.amount,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for line in invoice.lines.order_by("position")
        ],
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        currency=invoice.currency,
        proration=proration,
    )


def everything(customer: Customer) -> tuple:
    return (
        list(Invoice.objects.order_by("pk").values_list("pk", "status", "number", "total")),
        SubscriptionInvoice.objects.count(),
        Email.objects.count(),
        Job.objects.count(),
        list(InvoiceNumberSequence.objects.order_by("day").values_list("day", "last_number")),
        list(Subscription.objects.order_by("pk").values()),
        Customer.objects.get(pk=customer.pk).credit_balance,
    )


@pytest.fixture
def pro_paid(customer, plans) -> Subscription:
    started = subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(JAN_1))
    pay(started.invoice)
    return started.subscription


def test_the_upcoming_renewal_is_what_the_renewal_issues(customer, pro_paid):
    balance_give(customer, 5_000)

    upcoming = subscription_upcoming(subscription=pro_paid, actor=customer.user, now=seoul(JAN_11))
    (invoice,) = subscription_renew(subscription=pro_paid, as_of=date(2025, 2, 1), now=seoul(date(2025, 2, 1))).invoices

    assert upcoming == as_upcoming(invoice, on=date(2025, 2, 1), proration=False)
    assert [line.amount for line in upcoming.lines] == [99_000, -5_000]
    assert (upcoming.subtotal, upcoming.tax, upcoming.total) == (94_000, 9_400, 103_400)


def test_the_upcoming_renewal_has_the_pending_change_applied(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_11))

    upcoming = subscription_upcoming(subscription=pro_paid, now=seoul(JAN_11))
    (invoice,) = subscription_renew(subscription=pro_paid, as_of=date(2025, 2, 1), now=seoul(date(2025, 2, 1))).invoices

    assert upcoming == as_upcoming(invoice, on=date(2025, 2, 1), proration=False)
    assert upcoming.total == 31_900


def test_previewing_writes_nothing(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_11))
    balance_give(customer, 5_000)
    before = everything(customer)

    subscription_upcoming(subscription=pro_paid, now=seoul(JAN_11))
    subscription_upcoming(subscription=pro_paid, plan=plans["enterprise"], now=seoul(JAN_11))
    subscription_upcoming(subscription=pro_paid, plan=plans["free"], now=seoul(JAN_11))

    assert everything(customer) == before


def test_the_preview_of_an_upgrade_is_the_invoice_it_then_issues(customer, plans, pro_paid):
    upcoming = subscription_upcoming(subscription=pro_paid, plan=plans["enterprise"], now=seoul(JAN_11))
    started = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period=MONTHLY, now=seoul(JAN_11)
    )

    assert upcoming == as_upcoming(started.invoice, on=JAN_11, proration=True)
    assert [line.amount for line in upcoming.lines] == [490_000, -(99_000 * 21 // 31)]


def test_the_preview_of_a_downgrade_is_the_invoice_at_the_period_end(customer, plans, pro_paid):
    upcoming = subscription_upcoming(subscription=pro_paid, plan=plans["starter"], now=seoul(JAN_11))

    assert (upcoming.date, upcoming.subtotal, upcoming.proration) == (date(2025, 2, 1), 29_000, False)
    assert not Subscription.objects.get(pk=pro_paid.pk).has_pending_change


def test_the_preview_of_more_seats_is_the_update_invoice(customer):
    team = SubscriptionPlanFactory.create(slug="team", monthly_price=10_000, per_seat=True)
    started = subscription_create(customer=customer, plan=team, billing_period=MONTHLY, quantity=3, now=seoul(JAN_1))

    upcoming = subscription_upcoming(subscription=started.subscription, quantity=5, now=seoul(JAN_11))
    changed = subscription_quantity_change(subscription=started.subscription, quantity=5, now=seoul(JAN_11))

    assert upcoming == as_upcoming(changed.invoice, on=JAN_11, proration=True)
    assert upcoming.total == 14_902


def test_a_trial_previews_its_first_invoice_at_trial_end(customer):
    plan = SubscriptionPlanFactory.create(slug="trial-pro", monthly_price=99_000, trial_days=14)
    trial = subscription_create(customer=customer, plan=plan, billing_period=MONTHLY, now=seoul(JAN_1)).subscription

    upcoming = subscription_upcoming(subscription=trial, now=seoul(JAN_11))
    (invoice,) = subscription_renew(subscription=trial, as_of=date(2025, 1, 15), now=seoul(date(2025, 1, 15))).invoices

    assert upcoming == as_upcoming(invoice, on=date(2025, 1, 15), proration=False)
    assert upcoming.lines[0].period_start == date(2025, 1, 15)


def test_no_upcoming_invoice_when_it_ends_or_is_paused_without_a_date(customer, pro_paid):
    subscription_cancel(subscription=pro_paid, now=seoul(JAN_11))
    with pytest.raises(ApplicationError) as ending:
        subscription_upcoming(subscription=pro_paid, now=seoul(JAN_11))
    assert (ending.value.code, ending.value.status_code) == ("no_upcoming_invoice", 409)

    Subscription.objects.filter(pk=pro_paid.pk).update(status="paused", cancel_at_period_end=False)
    SubscriptionPause.objects.create(subscription=pro_paid, paused_on=JAN_11, resume_on=None)
    with pytest.raises(ApplicationError) as paused:
        subscription_upcoming(subscription=pro_paid, now=seoul(JAN_11))
    assert paused.value.code == "no_upcoming_invoice"

    subscription_cancel(subscription=pro_paid, immediately=True, now=seoul(JAN_11))
    with pytest.raises(ApplicationError) as canceled:
        subscription_upcoming(subscription=pro_paid, now=seoul(JAN_11))
    assert canceled.value.code == "no_upcoming_invoice"


def test_another_customer_cannot_preview(other_customer, pro_paid):
    with pytest.raises(ApplicationError) as refused:
        subscription_upcoming(subscription=pro_paid, actor=other_customer.user)

    assert refused.value.code == "permission_denied"
