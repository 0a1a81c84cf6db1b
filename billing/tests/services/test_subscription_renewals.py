"""Renewals: one invoice per ended period (never two), period-end cancellation, past due and back, the command."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from billing.models import Invoice, InvoiceNumberSequence
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionInvoiceReason
from billing.services.renewals import subscriptions_renew_all
from billing.services.subscriptions import subscription_cancel, subscription_create, subscription_renew
from billing.tests.factories import CustomerFactory, InvoiceFactory, SubscriptionInvoiceFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db


def renew(subscription, day):
    return subscription_renew(subscription=subscription, as_of=day, now=seoul(day))


def test_nothing_is_due_before_the_period_ends(pro_from_jan_31):
    outcome = renew(pro_from_jan_31, date(2025, 2, 27))

    assert (outcome.action, outcome.invoices) == ("nothing_due", [])


def test_renewal_invoices_the_next_period_and_advances_from_the_anchor(pro_from_jan_31):
    february = renew(pro_from_jan_31, date(2025, 2, 28))
    march = renew(pro_from_jan_31, date(2025, 3, 31))

    subscription = Subscription.objects.get(pk=pro_from_jan_31.pk)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        date(2025, 3, 31),
        date(2025, 4, 30),
    )
    assert february.action == march.action == "renewed"
    (invoice,) = february.invoices
    assert (invoice.status, invoice.total, invoice.issue_date) == ("open", 108_900, date(2025, 2, 28))
    line = invoice.lines.get()
    assert (line.amount, line.period_start, line.period_end) == (99_000, date(2025, 2, 28), date(2025, 3, 30))
    assert [(link.reason, link.period_start, link.period_end) for link in subscription.period_invoices.all()] == [
        (SubscriptionInvoiceReason.CREATE, date(2025, 1, 31), date(2025, 2, 28)),
        (SubscriptionInvoiceReason.CYCLE, date(2025, 2, 28), date(2025, 3, 31)),
        (SubscriptionInvoiceReason.CYCLE, date(2025, 3, 31), date(2025, 4, 30)),
    ]


def test_renewing_twice_for_one_day_creates_one_invoice(pro_from_jan_31):
    first = subscriptions_renew_all(as_of=date(2025, 2, 28), now=seoul(date(2025, 2, 28)))
    second = subscriptions_renew_all(as_of=date(2025, 2, 28), now=seoul(date(2025, 2, 28)))

    assert (first.invoices, first.count("renewed")) == (1, 1)
    assert (second.invoices, second.count("renewed"), second.processed) == (0, 0, 0)
    assert SubscriptionInvoice.objects.filter(subscription=pro_from_jan_31).count() == 2


def test_missed_runs_invoice_every_missed_period_once(pro_from_jan_31):
    outcome = renew(pro_from_jan_31, date(2025, 5, 1))

    assert [invoice.lines.get().period_start for invoice in outcome.invoices] == [
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]
    assert renew(pro_from_jan_31, date(2025, 5, 1)).invoices == []


def test_the_database_refuses_a_second_invoice_for_one_period(pro_from_jan_31, customer):
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionInvoiceFactory(
            subscription=pro_from_jan_31,
            invoice=InvoiceFactory(customer=customer, subtotal=0, line=None),
            reason=SubscriptionInvoiceReason.CYCLE,
            period_start=date(2025, 1, 31),
            period_end=date(2025, 2, 28),
        )


def test_a_period_already_invoiced_stops_the_renewal_before_a_number_is_taken(pro_from_jan_31, customer):
    # As if another run had linked the February period an instant earlier.
    draft = InvoiceFactory(customer=customer, subtotal=0, line=None)
    SubscriptionInvoiceFactory(
        subscription=pro_from_jan_31,
        invoice=draft,
        reason=SubscriptionInvoiceReason.CYCLE,
        period_start=date(2025, 2, 28),
        period_end=date(2025, 3, 31),
    )
    numbers_before = list(InvoiceNumberSequence.objects.values_list("day", "last_number"))

    with pytest.raises(ApplicationError) as refused:
        renew(pro_from_jan_31, date(2025, 2, 28))

    assert (refused.value.code, refused.value.status_code) == ("period_already_invoiced", 409)
    assert list(InvoiceNumberSequence.objects.values_list("day", "last_number")) == numbers_before
    assert Subscription.objects.get(pk=pro_from_jan_31.pk).current_period_end == date(2025, 2, 28)


def test_cancel_at_period_end_ends_at_the_boundary_without_an_invoice(pro_from_jan_31):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 10)))
    invoices_before = Invoice.objects.count()

    still_on = renew(pro_from_jan_31, date(2025, 2, 27))
    ended = renew(pro_from_jan_31, date(2025, 3, 2))

    subscription = Subscription.objects.get(pk=pro_from_jan_31.pk)
    assert still_on.action == "nothing_due"
    assert ended.action == "ended"
    assert (subscription.status, subscription.cancellation_reason) == ("canceled", "requested")
    assert subscription.ended_at == seoul(date(2025, 2, 28), hour=0)  # service stopped at the boundary
    assert subscription.canceled_at == seoul(date(2025, 2, 10))
    assert Invoice.objects.count() == invoices_before


def test_an_unpaid_invoice_past_its_due_date_makes_the_subscription_past_due_until_paid(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    )
    due = started.invoice.due_date
    assert due == date(2025, 1, 31)  # 30 days

    on_due_date = renew(started.subscription, due)
    day_after = renew(started.subscription, due + timedelta(days=1))

    assert on_due_date.action == "nothing_due"
    assert day_after.action == "renewed"  # 1 February: the period also ended
    assert Subscription.objects.get(pk=started.subscription.pk).status == "past_due"

    live = pay(started.invoice, now=seoul(date(2025, 2, 3)))

    assert (live.pk, live.status) == (started.subscription.pk, "active")


def test_the_run_reactivates_a_past_due_subscription_paid_without_the_hook(customer, plans):
    from billing.services.payments import payment_record

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="annual", now=seoul(date(2025, 1, 1))
    )
    renew(started.subscription, date(2025, 3, 1))
    assert Subscription.objects.get(pk=started.subscription.pk).status == "past_due"
    payment_record(invoice=started.invoice, amount=started.invoice.total, method="bank_transfer")

    summary = subscriptions_renew_all(as_of=date(2025, 3, 2), now=seoul(date(2025, 3, 2)))

    assert summary.count("reactivated") == 1
    assert Subscription.objects.get(pk=started.subscription.pk).status == "active"


def test_paying_the_overdue_invoice_reactivates_the_subscription_through_the_paid_hook(
    customer, plans, django_capture_on_commit_callbacks
):
    from billing.services.payments import payment_record

    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="annual", now=seoul(date(2025, 1, 1))
    )
    renew(started.subscription, date(2025, 3, 1))
    assert Subscription.objects.get(pk=started.subscription.pk).status == "past_due"

    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice=started.invoice, amount=started.invoice.total, method="bank_transfer")

    assert Subscription.objects.get(pk=started.subscription.pk).status == "active"


def test_an_unpaid_invoice_of_a_replaced_subscription_still_makes_the_new_one_past_due(customer, plans):
    old = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    )
    renew(old.subscription, date(2025, 2, 1))  # January unpaid and overdue; February invoiced
    new = subscription_create(
        customer=customer, plan=plans["free"], billing_period="monthly", now=seoul(date(2025, 2, 1)), when="now"
    )
    # The unpaid February invoice is voided (not one day used: nothing billed again, nothing credited)...
    assert (new.credit, new.carried, new.voided_invoice.status) == (0, 0, "void")
    assert (new.invoice.total, new.invoice.status) == (0, "paid")

    renew(new.subscription, date(2025, 2, 2))

    # ...but January, used in full and unpaid, is still owed and dunned on the subscription that replaced it.
    assert Subscription.objects.get(pk=new.subscription.pk).status == "past_due"
    assert pay(old.invoice, now=seoul(date(2025, 2, 2))).status == "active"


def test_a_renewal_uses_the_credit_balance(customer, plans):
    pay(
        subscription_create(
            customer=customer, plan=plans["enterprise"], billing_period="monthly", now=seoul(date(2025, 1, 1))
        ).invoice
    )
    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(date(2025, 1, 1)), when="now"
    )
    customer.refresh_from_db()
    assert customer.credit_balance == 490_000 - 29_000

    (invoice,) = renew(started.subscription, date(2025, 2, 1)).invoices

    assert [line.amount for line in invoice.lines.order_by("position")] == [29_000, -29_000]
    assert (invoice.total, invoice.status) == (0, "paid")
    customer.refresh_from_db()
    assert customer.credit_balance == 490_000 - 29_000 * 2


def test_a_renewal_keeps_the_price_the_subscription_started_with(pro_from_jan_31, plans):
    plans["pro"].monthly_price = 109_000
    plans["pro"].save()

    (invoice,) = renew(pro_from_jan_31, date(2025, 2, 28)).invoices

    assert invoice.subtotal == 99_000


def test_the_command_prints_a_summary_and_is_idempotent(pro_from_jan_31, plans):
    other = CustomerFactory(user__username="canceller")
    leaving = subscription_create(
        customer=other, plan=plans["starter"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )
    pay(leaving.invoice)
    subscription_cancel(subscription=leaving.subscription)
    out = StringIO()

    call_command("billing_run_renewals", "--as-of", "2025-02-28", "--no-progress", stdout=out, stderr=StringIO())
    again = StringIO()
    call_command("billing_run_renewals", "--as-of", "2025-02-28", "--no-progress", stdout=again, stderr=StringIO())

    text = out.getvalue()
    assert "Renewals as of 2025-02-28: 2 subscription(s) looked at." in text
    assert "renewed: 1" in text
    assert "ended at period end: 1" in text
    assert "invoices issued: 1" in text
    assert "invoices issued: 0" in again.getvalue()
    assert Subscription.objects.get(pk=leaving.subscription.pk).status == "canceled"
    assert SubscriptionInvoice.objects.filter(subscription=pro_from_jan_31).count() == 2


def test_the_run_marks_past_due_an_active_subscription_whose_period_has_not_ended(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="annual", now=seoul(date(2025, 1, 1))
    )
    paying = CustomerFactory(user__username="payer")
    paid = subscription_create(customer=paying, plan=plans["pro"], billing_period="annual", now=seoul(date(2025, 1, 1)))
    pay(paid.invoice)

    summary = subscriptions_renew_all(as_of=date(2025, 2, 1), now=seoul(date(2025, 2, 1)))

    assert (summary.processed, summary.count("past_due"), summary.invoices) == (1, 1, 0)
    assert Subscription.objects.get(pk=started.subscription.pk).status == "past_due"
    assert Subscription.objects.get(pk=paid.subscription.pk).status == "active"


def test_a_renewal_that_also_marks_past_due_reports_both(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    )

    summary = subscriptions_renew_all(as_of=date(2025, 2, 1), now=seoul(date(2025, 2, 1)))

    assert (summary.count("renewed"), summary.count("past_due"), summary.invoices) == (1, 1, 1)
    assert Subscription.objects.get(pk=started.subscription.pk).status == "past_due"
