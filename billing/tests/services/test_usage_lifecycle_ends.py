"""Metered usage at a dunning cancellation and around a pause: the usage not billed yet up to the end of the day is
invoiced on an invoice of its own, the paused days are never billed, and events of closed days are refused."""

from datetime import date, datetime

import pytest

from billing.enums import InvoiceLineKind
from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionInvoiceReason
from billing.services.dunning import dunning_run
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_create,
    subscription_renew,
    subscription_upcoming,
)
from billing.services.subscriptions.lifecycle import subscription_resume
from billing.services.subscriptions.pause import subscription_pause
from billing.services.usage_ingest import IngestResult, usage_events_ingest
from billing.tests.factories import BillableMetricFactory, PlanChargeFactory, SubscriptionPlanFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay

pytestmark = pytest.mark.django_db

JAN_31 = date(2025, 1, 31)
FEB_10 = date(2025, 2, 10)
FEB_14 = date(2025, 2, 14)


@pytest.fixture
def metered_plan():
    """₩10,000 a month, 100 API calls included, ₩10 per call beyond."""
    api_calls = BillableMetricFactory(code="api_calls", name="API 호출", name_en="API calls", unit="건")
    plan = SubscriptionPlanFactory(slug="metered", monthly_price=10_000)
    PlanChargeFactory(plan=plan, metric=api_calls, included_quantity=100, unit_amount=10)
    return plan


@pytest.fixture
def subscribed(customer, metered_plan):
    """The metered plan from 31 January 2025, its first invoice paid: due for renewal on 28 February."""
    started = subscription_create(customer=customer, plan=metered_plan, billing_period="monthly", now=seoul(JAN_31))
    pay(started.invoice, now=seoul(JAN_31))
    return started.subscription


@pytest.fixture
def dunning_cancels(settings):
    settings.BILLING_DUNNING_SCHEDULE = [1, 3, 7]
    settings.BILLING_DUNNING_FINAL_DAYS = 14
    settings.BILLING_DUNNING_FINAL_ACTION = "cancel"


def send(customer: Customer, day: date, count: int, *, hour: int = 8, sent: datetime | None = None) -> IngestResult:
    """`count` API calls of the customer at `hour` o'clock (Seoul) on `day`, sent then (or at `sent`)."""
    stamp = seoul(day, hour)
    events = [
        {"event_id": f"{stamp.isoformat()}-{index}", "metric": "api_calls", "value": 1, "timestamp": stamp.isoformat()}
        for index in range(count)
    ]
    return usage_events_ingest(events=events, caller=customer, api_key=None, now=sent or stamp)


def refused(result: IngestResult) -> set[str]:
    assert not result.accepted
    return {rejection.code for rejection in result.rejected}


def billed_until(customer: Customer) -> datetime | None:
    return Customer.objects.get(pk=customer.pk).usage_billed_until


def usage_invoices(subscription: Subscription) -> list[SubscriptionInvoice]:
    """The invoices of the subscription's usage alone (reason update), oldest first."""
    return list(
        SubscriptionInvoice.objects.filter(subscription=subscription, reason=SubscriptionInvoiceReason.UPDATE)
        .select_related("invoice")
        .order_by("id")
    )


def usage_quantity(invoice: Invoice) -> int:
    usage = invoice.lines.get(kind=InvoiceLineKind.USAGE).usage
    assert usage is not None
    return int(usage["quantity"])


def renew(subscription: Subscription, day: date):
    return subscription_renew(subscription=subscription, as_of=day, now=seoul(day))


def test_the_dunning_cancellation_invoices_the_usage_up_to_the_end_of_the_day(customer, metered_plan, dunning_cancels):
    started = subscription_create(
        customer=customer, plan=metered_plan, billing_period="monthly", now=seoul(date(2025, 1, 1))
    )
    assert started.invoice.due_date == JAN_31  # never paid
    assert send(customer, date(2025, 1, 20), 150).accepted
    renew(started.subscription, date(2025, 2, 1))  # January's usage joins February's invoice
    assert send(customer, date(2025, 2, 5), 300).accepted
    assert send(customer, FEB_14, 20, hour=8).accepted  # the day of the final step, before it

    summary = dunning_run(as_of=FEB_14, now=seoul(FEB_14))

    canceled = Subscription.objects.get(pk=started.subscription.pk)
    assert summary.count("cancel") == 1
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "unpaid")
    (link,) = usage_invoices(canceled)
    assert (link.period_start, link.period_end) == (date(2025, 2, 1), date(2025, 2, 15))
    line = link.invoice.lines.get()
    assert (line.kind, line.usage["quantity"], line.amount) == ("usage", 320, 2_200)  # (320 - 100) x ₩10
    assert (link.invoice.status, link.invoice.total) == ("open", 2_420)  # with VAT
    assert billed_until(customer) == seoul(date(2025, 2, 15), hour=0)
    # Later that day the backend sends more of today's usage: the day is invoiced, refused.
    assert refused(send(customer, FEB_14, 1, hour=22)) == {"period_closed"}
    assert send(customer, date(2025, 2, 15), 1, hour=0).accepted  # the next day is not closed


def test_a_dunning_write_off_bills_no_usage_and_closes_nothing(customer, metered_plan, dunning_cancels, settings):
    settings.BILLING_DUNNING_FINAL_ACTION = "uncollectible"
    started = subscription_create(
        customer=customer, plan=metered_plan, billing_period="monthly", now=seoul(date(2025, 1, 1))
    )
    renew(started.subscription, date(2025, 2, 1))
    send(customer, date(2025, 2, 5), 300)

    assert dunning_run(as_of=FEB_14, now=seoul(FEB_14)).count("uncollectible") == 1

    assert usage_invoices(started.subscription) == []
    assert billed_until(customer) == seoul(date(2025, 2, 1), hour=0)  # where the renewal left it
    assert Subscription.objects.get(pk=started.subscription.pk).status == "past_due"


def test_a_dunning_cancellation_of_a_paused_subscription_bills_no_paused_day(customer, metered_plan, dunning_cancels):
    started = subscription_create(
        customer=customer, plan=metered_plan, billing_period="monthly", now=seoul(date(2025, 1, 1))
    )
    send(customer, date(2025, 1, 5), 150)
    subscription_pause(subscription=started.subscription, resume_on=None, now=seoul(date(2025, 1, 10)))
    assert send(customer, date(2025, 1, 20), 300).accepted  # while paused: accepted, never billed

    dunning_run(as_of=FEB_14, now=seoul(FEB_14))

    assert Subscription.objects.get(pk=started.subscription.pk).status == "canceled"
    (at_pause,) = usage_invoices(started.subscription)  # the pause's, nothing at the cancellation
    assert (at_pause.period_start, at_pause.period_end) == (date(2025, 1, 1), date(2025, 1, 11))
    assert usage_quantity(at_pause.invoice) == 150
    assert billed_until(customer) == seoul(date(2025, 2, 15), hour=0)


def test_the_pause_bills_the_usage_so_far_and_the_paused_days_are_never_billed(customer, subscribed):
    send(customer, date(2025, 2, 3), 150)
    send(customer, FEB_10, 50, hour=8)  # the day of the pause, before it

    subscription_pause(subscription=subscribed, resume_on=date(2025, 3, 10), now=seoul(FEB_10))

    (at_pause,) = usage_invoices(subscribed)
    assert (at_pause.period_start, at_pause.period_end) == (JAN_31, date(2025, 2, 11))
    assert (usage_quantity(at_pause.invoice), at_pause.invoice.subtotal, at_pause.invoice.total) == (200, 1_000, 1_100)
    assert billed_until(customer) == seoul(date(2025, 2, 11), hour=0)
    assert refused(send(customer, FEB_10, 1, hour=22)) == {"period_closed"}  # the pause's day is invoiced
    assert send(customer, date(2025, 2, 20), 400).accepted  # a paused day: accepted now, never billed

    resumed = renew(subscribed, date(2025, 3, 10))  # the run resumes it with its 18 carried days

    assert ("resumed" in resumed.actions, resumed.invoices) == (True, [])
    assert billed_until(customer) == seoul(date(2025, 3, 10), hour=0)
    assert refused(send(customer, date(2025, 2, 25), 1, sent=seoul(date(2025, 3, 12)))) == {"period_closed"}
    send(customer, date(2025, 3, 15), 300)

    (renewal,) = renew(subscribed, date(2025, 3, 28)).invoices

    line = renewal.lines.get(kind=InvoiceLineKind.USAGE)
    assert (line.usage["quantity"], line.amount) == (300, 2_000)  # only the resumed days': (300 - 100) x ₩10
    assert (line.period_start, line.period_end) == (date(2025, 3, 10), date(2025, 3, 27))
    assert len(usage_invoices(subscribed)) == 1  # nothing billed twice, nothing else on its own


def test_resuming_early_bills_from_the_resume_day_on(customer, subscribed):
    subscription_pause(subscription=subscribed, resume_on=date(2025, 3, 10), now=seoul(FEB_10))
    send(customer, date(2025, 2, 15), 500)  # paused
    send(customer, date(2025, 2, 20), 120, hour=8)  # the resume day, before the resume: a day of service

    subscription_resume(subscription=subscribed, now=seoul(date(2025, 2, 20)))

    assert billed_until(customer) == seoul(date(2025, 2, 20), hour=0)
    assert refused(send(customer, date(2025, 2, 19), 1, hour=23, sent=seoul(date(2025, 2, 20)))) == {"period_closed"}
    send(customer, date(2025, 2, 22), 80)
    assert usage_invoices(subscribed) == []  # nothing was used before the pause: no usage invoice at it
    subscription = Subscription.objects.get(pk=subscribed.pk)
    assert subscription.current_period_end == date(2025, 3, 10)  # 18 carried days from 20 February

    (renewal,) = renew(subscription, date(2025, 3, 10)).invoices

    line = renewal.lines.get(kind=InvoiceLineKind.USAGE)
    assert (line.usage["quantity"], line.period_start) == (200, date(2025, 2, 20))


def test_a_pause_with_nothing_carried_bills_no_paused_day_at_the_renewal_that_resumes_it(customer, subscribed):
    """Paused on its renewal day before the run, nothing carries over: the run that resumes it renews it at once,
    and the usage it bills starts on the resume day."""
    send(customer, date(2025, 2, 27), 150)
    subscription_pause(subscription=subscribed, resume_on=date(2025, 3, 10), now=seoul(date(2025, 2, 28)))
    (at_pause,) = usage_invoices(subscribed)
    assert (at_pause.period_end, usage_quantity(at_pause.invoice)) == (date(2025, 3, 1), 150)
    send(customer, date(2025, 3, 5), 700)  # paused

    outcome = renew(subscribed, date(2025, 3, 10))

    (renewal,) = outcome.invoices
    assert outcome.actions[:2] == ("resumed", "renewed")
    assert not renewal.lines.filter(kind=InvoiceLineKind.USAGE).exists()
    assert billed_until(customer) == seoul(date(2025, 3, 10), hour=0)


def test_the_upcoming_invoice_of_a_paused_subscription_shows_no_paused_day(customer, subscribed):
    subscription_pause(subscription=subscribed, resume_on=date(2025, 3, 10), now=seoul(FEB_10))
    send(customer, date(2025, 2, 15), 500)  # paused

    upcoming = subscription_upcoming(subscription=subscribed, now=seoul(date(2025, 2, 16)))

    assert [line.amount for line in upcoming.lines] == [10_000]  # the plan, no usage
    assert billed_until(customer) == seoul(date(2025, 2, 11), hour=0)  # a preview writes nothing


def test_a_plan_without_charges_has_no_usage_invoice_at_the_pause(customer):
    plain = SubscriptionPlanFactory(slug="plain", monthly_price=10_000)
    started = subscription_create(customer=customer, plan=plain, billing_period="monthly", now=seoul(JAN_31))
    pay(started.invoice, now=seoul(JAN_31))
    invoices_before = Invoice.objects.count()

    paused = subscription_pause(subscription=started.subscription, resume_on=None, now=seoul(FEB_10))

    assert paused.status == "paused"
    assert Invoice.objects.count() == invoices_before


def test_canceling_a_paused_subscription_bills_no_paused_day(customer, subscribed):
    send(customer, date(2025, 2, 3), 150)
    subscription_pause(subscription=subscribed, resume_on=date(2025, 3, 10), now=seoul(FEB_10))
    assert send(customer, date(2025, 2, 20), 400).accepted  # a paused day: accepted, never billed

    subscription_cancel(subscription=subscribed, immediately=True, now=seoul(date(2025, 2, 25)))

    assert Subscription.objects.get(pk=subscribed.pk).status == "canceled"
    (at_pause,) = usage_invoices(subscribed)  # the pause's only: the cancellation bills no paused day
    assert usage_quantity(at_pause.invoice) == 150
    assert billed_until(customer) == seoul(date(2025, 2, 26), hour=0)
    assert refused(send(customer, date(2025, 2, 25), 1, hour=23)) == {"period_closed"}
