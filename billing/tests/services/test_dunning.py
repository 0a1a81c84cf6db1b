"""Dunning: one reminder (and card retry) per step of the schedule, once, then the final action; payment stops it."""

from datetime import date

import pytest

from billing.enums import EmailKind, JobKind
from billing.models import Invoice
from billing.models.subscriptions import DunningStep, Subscription
from billing.services.dunning import DunningPlan, dunning_run
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_renew,
)
from billing.tests.factories import CustomerFactory, InvoiceFactory
from billing.tests.helpers import run_concurrently, seoul
from billing.tests.subscription_support import pay
from billing_site.jobs.models import Job
from billing_site.mail.models import Email

pytestmark = pytest.mark.django_db

DUE = date(2025, 1, 31)  # the first invoice of a subscription started on 1 January (30 days to pay)


@pytest.fixture
def unpaid(customer, plans):
    """Pro monthly from 1 January 2025, its first invoice (₩108,900) unpaid and due on 31 January."""
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    )
    assert started.invoice.due_date == DUE
    return started


@pytest.fixture(autouse=True)
def schedule(settings):
    settings.BILLING_DUNNING_SCHEDULE = [1, 3, 7]
    settings.BILLING_DUNNING_FINAL_DAYS = 14
    settings.BILLING_DUNNING_FINAL_ACTION = "cancel"


def run(day):
    return dunning_run(as_of=day, now=seoul(day))


def steps(invoice):
    return list(DunningStep.objects.filter(invoice=invoice).values_list("step", "days_after_due", "action", "done_on"))


def reminders(invoice):
    return list(
        Email.objects.filter(kind=EmailKind.INVOICE_OVERDUE, object_id=str(invoice.pk))
        .order_by("id")
        .values_list("occurrence", flat=True)
    )


def test_each_step_of_the_schedule_is_done_once_with_its_email(unpaid):
    invoice = unpaid.invoice
    done = {day: run(day) for day in [DUE, date(2025, 2, 1), date(2025, 2, 2), date(2025, 2, 3), date(2025, 2, 7)]}

    assert done[DUE].steps == 0  # not overdue on its due date
    assert [done[day].count("reminder") for day in sorted(done)] == [0, 1, 0, 1, 1]
    assert steps(invoice) == [
        (1, 1, "reminder", date(2025, 2, 1)),
        (2, 3, "reminder", date(2025, 2, 3)),
        (3, 7, "reminder", date(2025, 2, 7)),
    ]
    assert reminders(invoice) == ["1", "3", "7"]  # each email says how many days overdue
    assert not DunningStep.objects.filter(provider_retry=True).exists()  # a bank transfer: nothing to retry


def test_running_again_the_same_day_doubles_nothing(unpaid):
    first = run(date(2025, 2, 3))
    second = run(date(2025, 2, 3))

    assert (first.count("reminder"), second.count("reminder"), second.processed) == (1, 0, 1)
    assert steps(unpaid.invoice) == [(2, 3, "reminder", date(2025, 2, 3))]
    assert reminders(unpaid.invoice) == ["3"]


def test_a_run_after_missed_days_sends_only_the_latest_reminder_and_records_only_it(unpaid):
    summary = run(date(2025, 2, 9))  # days 1, 3 and 7 all passed unnoticed

    assert summary.count("reminder") == 1
    assert steps(unpaid.invoice) == [(3, 7, "reminder", date(2025, 2, 9))]
    assert reminders(unpaid.invoice) == ["7"]
    assert run(date(2025, 2, 10)).steps == 0  # steps 1 and 2 are never sent late


def test_the_final_action_cancels_the_subscription_as_unpaid(unpaid):
    run(date(2025, 2, 7))
    assert run(date(2025, 2, 13)).steps == 0

    summary = run(date(2025, 2, 14))

    subscription = Subscription.objects.get(pk=unpaid.subscription.pk)
    assert summary.count("cancel") == 1
    assert steps(unpaid.invoice)[-1] == (4, 14, "cancel", date(2025, 2, 14))
    assert (subscription.status, subscription.cancellation_reason) == ("canceled", "unpaid")
    assert subscription.ended_at == seoul(date(2025, 2, 14))
    assert Email.objects.filter(kind=EmailKind.SUBSCRIPTION_ENDED).count() == 1
    # The debt stays: the invoice is still open, and dunning is over for it.
    assert Invoice.objects.get(pk=unpaid.invoice.pk).status == "open"
    assert run(date(2025, 3, 1)).processed == 0


def test_the_final_action_cancels_only_the_invoices_own_subscription_not_a_newer_paid_one(unpaid, plans):
    subscription_cancel(subscription=unpaid.subscription, immediately=True, now=seoul(date(2025, 1, 2)))
    annual = subscription_create(
        customer=unpaid.subscription.customer,
        plan=plans["starter"],
        billing_period="annual",
        now=seoul(date(2025, 1, 3)),
    )
    assert pay(annual.invoice, now=seoul(date(2025, 1, 3))).status == "active"

    summary = run(date(2025, 2, 15))

    kept = Subscription.objects.get(pk=annual.subscription.pk)
    assert (kept.status, kept.cancellation_reason, kept.ended_at) == ("active", "", None)
    old = Subscription.objects.get(pk=unpaid.subscription.pk)
    assert (old.status, old.cancellation_reason) == ("canceled", "requested")
    # The step is taken (dunning is over for this invoice) and says it canceled nothing; the debt stays open.
    assert summary.count("cancel") == 1
    assert steps(unpaid.invoice) == [(4, 14, "cancel", date(2025, 2, 15))]
    assert DunningStep.objects.get(invoice=unpaid.invoice).subscription_id is None
    assert Invoice.objects.get(pk=unpaid.invoice.pk).status == "open"
    assert Email.objects.filter(kind=EmailKind.SUBSCRIPTION_ENDED).count() == 1  # the requested cancel's only
    assert run(date(2025, 3, 1)).processed == 0


def test_the_final_action_follows_a_plan_change_to_the_subscription_that_carries_the_debt(unpaid, plans):
    """A plan change carries the replaced subscription's debt onto the new one: dunning an invoice of the replaced
    one left open ends the live one that replaced it."""
    subscription_renew(subscription=unpaid.subscription, as_of=date(2025, 2, 1), now=seoul(date(2025, 2, 1)))
    # The change settles the current (February) period; January's invoice stays open on the replaced subscription.
    changed = subscription_change_plan(
        subscription=unpaid.subscription, plan=plans["starter"], billing_period="monthly", now=seoul(date(2025, 2, 5))
    )
    assert Invoice.objects.get(pk=unpaid.invoice.pk).status == "open"

    summary = run(date(2025, 2, 14))

    live = Subscription.objects.get(pk=changed.subscription.pk)
    assert summary.count("cancel") == 1
    assert (live.status, live.cancellation_reason) == ("canceled", "unpaid")
    assert Subscription.objects.get(pk=unpaid.subscription.pk).cancellation_reason == "replaced"
    assert DunningStep.objects.get(invoice=unpaid.invoice).subscription_id == live.pk


def test_the_final_action_can_write_the_invoice_off_instead(unpaid, settings):
    settings.BILLING_DUNNING_FINAL_ACTION = "uncollectible"
    subscription_renew(subscription=unpaid.subscription, as_of=date(2025, 2, 1), now=seoul(date(2025, 2, 1)))

    summary = run(date(2025, 2, 20))
    subscription_renew(subscription=unpaid.subscription, as_of=date(2025, 2, 21), now=seoul(date(2025, 2, 21)))

    assert summary.count("uncollectible") == 1
    assert steps(unpaid.invoice) == [(4, 14, "uncollectible", date(2025, 2, 20))]
    written_off = Invoice.objects.get(pk=unpaid.invoice.pk)
    assert (written_off.status, written_off.marked_uncollectible_at) == ("uncollectible", seoul(date(2025, 2, 20)))
    assert Subscription.objects.get(pk=unpaid.subscription.pk).status == "past_due"
    assert reminders(unpaid.invoice) == []
    assert run(date(2025, 2, 21)).processed == 0  # an uncollectible invoice is not dunned again

    # Still payable: paying it ends the past due.
    assert pay(unpaid.invoice, now=seoul(date(2025, 2, 22))).status == "active"


def test_payment_stops_dunning_and_reactivates_the_subscription(unpaid):
    subscription_renew(subscription=unpaid.subscription, as_of=date(2025, 2, 1), now=seoul(date(2025, 2, 1)))
    run(date(2025, 2, 1))
    assert Subscription.objects.get(pk=unpaid.subscription.pk).status == "past_due"

    live = pay(unpaid.invoice, now=seoul(date(2025, 2, 2)))
    later = [run(day) for day in (date(2025, 2, 3), date(2025, 2, 7), date(2025, 2, 14))]

    assert (live.pk, live.status) == (unpaid.subscription.pk, "active")
    assert [summary.processed for summary in later] == [0, 0, 0]
    assert steps(unpaid.invoice) == [(1, 1, "reminder", date(2025, 2, 1))]
    assert Subscription.objects.get(pk=unpaid.subscription.pk).status == "active"


def test_a_card_invoice_asks_the_provider_to_retry_at_each_reminder_but_not_at_the_final_action(unpaid):
    Subscription.objects.filter(pk=unpaid.subscription.pk).update(stripe_subscription_id="sub_dunning_card")

    summaries = [run(day) for day in (date(2025, 2, 1), date(2025, 2, 3), date(2025, 2, 3), date(2025, 2, 14))]

    assert [summary.provider_retries for summary in summaries] == [1, 1, 0, 0]
    assert list(DunningStep.objects.values_list("step", "provider_retry")) == [
        (1, True),
        (2, True),
        (4, False),
    ]
    jobs = Job.objects.filter(kind=JobKind.DUNNING_PROVIDER_RETRY).order_by("key")
    assert [(job.key, job.payload) for job in jobs] == [
        (f"dunning_provider_retry:{unpaid.invoice.pk}:1", {"invoice_id": unpaid.invoice.pk}),
        (f"dunning_provider_retry:{unpaid.invoice.pk}:2", {"invoice_id": unpaid.invoice.pk}),
    ]


def test_only_subscription_invoices_are_dunned(unpaid, customer):
    one_off = InvoiceFactory(customer=customer, status="open", status__now=seoul(date(2025, 1, 1)))
    assert one_off.due_date == DUE

    assert run(date(2025, 2, 1)).processed == 1
    assert (steps(one_off), reminders(one_off)) == ([], [])


@pytest.mark.parametrize(
    ("days", "due"),
    [(0, None), (1, (1, 1)), (2, (1, 1)), (3, (2, 3)), (6, (2, 3)), (7, (3, 7)), (13, (3, 7)), (14, (4, 14))],
)
def test_the_step_due_is_the_latest_day_reached(days, due):
    assert DunningPlan(reminder_days=(1, 3, 7), final_days=14, final_action="cancel").step_due(days) == due


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_take_each_step_once(postgresql, plans):
    invoices = []
    for index in range(3):
        started = subscription_create(
            customer=CustomerFactory(user__username=f"dunned-{index}"),
            plan=plans["pro"],
            billing_period="monthly",
            now=seoul(date(2025, 1, 1)),
        )
        invoices.append(started.invoice)

    results = run_concurrently(lambda _: dunning_run(as_of=date(2025, 2, 3), now=seoul(date(2025, 2, 3))), 4)

    assert all(not isinstance(result, Exception) for result in results), results
    assert sum(result.count("reminder") for result in results) == len(invoices)
    for invoice in invoices:
        assert steps(invoice) == [(2, 3, "reminder", date(2025, 2, 3))]
        assert reminders(invoice) == ["3"]
