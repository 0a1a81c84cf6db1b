"""Usage at the edges of a renewal: a usage-only plan with nothing used renews with no invoice (a free plan without
charges keeps its zero invoice), and usage more than an invoice can hold holds the renewal (past due, no service,
the period not advanced, staff told) while a cancel still ends the subscription, closing that usage with no line."""

import logging
from datetime import date, timedelta

import pytest

from billing.enums import InvoiceLineKind, MetricAggregation
from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionInvoiceReason
from billing.money import MAX_AMOUNT
from billing.selectors.entitlements import entitlements_for, subscription_served
from billing.services.renewals import subscriptions_renew_all
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_invoice_paid,
    subscription_renew,
)
from billing.services.usage_ingest import usage_events_ingest
from billing.tests.factories import (
    BillableMetricFactory,
    CustomerFactory,
    PlanChargeFactory,
    SubscriptionPlanFactory,
    UsageRollupFactory,
)
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

JAN_31 = date(2025, 1, 31)
FEB_28 = date(2025, 2, 28)
MAR_31 = date(2025, 3, 31)
BIG = 10**9  # the largest value an event may carry


@pytest.fixture
def api_calls():
    return BillableMetricFactory(code="api_calls", name="API 호출", name_en="API calls", unit="건", unit_en="calls")


@pytest.fixture
def payg(api_calls):
    """Pay as you go: the plan costs nothing, each API call ₩3."""
    plan = SubscriptionPlanFactory(slug="payg", monthly_price=0, annual_price=0)
    PlanChargeFactory(plan=plan, metric=api_calls, included_quantity=0, unit_amount=3)
    return plan


def used(customer, metric, day, count, hour=10):
    return UsageRollupFactory(customer=customer, metric=metric, hour=seoul(day, hour), event_count=count, value_max=1)


def billed_until(customer):
    return Customer.objects.get(pk=customer.pk).usage_billed_until


def fresh(subscription):
    return Subscription.objects.get(pk=subscription.pk)


# --- a usage-only plan with nothing used ------------------------------------------------------------------------


def test_a_usage_only_renewal_with_nothing_used_issues_no_invoice_but_advances_and_closes(customer, payg):
    started = subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(JAN_31))
    invoices_before = Invoice.objects.count()

    outcome = subscription_renew(subscription=started.subscription, as_of=FEB_28, now=seoul(FEB_28))

    assert outcome.invoices == []
    assert outcome.actions == ("renewed",)  # the period advanced: a renewal, with nothing to invoice
    assert Invoice.objects.count() == invoices_before
    renewed = fresh(started.subscription)
    assert (renewed.status, renewed.current_period_start, renewed.current_period_end) == ("active", FEB_28, MAR_31)
    assert billed_until(customer) == seoul(FEB_28, hour=0)  # the ended period's usage is closed all the same
    assert subscription_served(renewed, now=seoul(date(2025, 3, 1)))  # nothing was owed: still served


def test_the_next_renewal_bills_only_the_usage_of_its_own_period(customer, payg, api_calls):
    started = subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(JAN_31))
    subscription_renew(subscription=started.subscription, as_of=FEB_28, now=seoul(FEB_28))
    used(customer, api_calls, date(2025, 3, 10), 1_000)

    (invoice,) = subscription_renew(subscription=started.subscription, as_of=MAR_31, now=seoul(MAR_31)).invoices

    plan_line, usage = invoice.lines.order_by("position")
    assert (plan_line.amount, plan_line.period_start) == (0, MAR_31)
    assert (usage.kind, usage.amount, usage.usage["quantity"]) == (InvoiceLineKind.USAGE, 3_000, 1_000)
    # From the day the unbilled period started (its renewal issued no invoice), not from the first invoice's.
    assert (usage.period_start, usage.period_end) == (FEB_28, date(2025, 3, 30))
    link = invoice.subscription_link
    assert (link.reason, link.period_start) == (SubscriptionInvoiceReason.CYCLE, MAR_31)
    assert (invoice.total, invoice.status) == (3_300, "open")


def test_missed_runs_of_a_usage_only_plan_invoice_only_the_periods_with_usage(customer, payg, api_calls):
    started = subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(JAN_31))
    used(customer, api_calls, date(2025, 3, 5), 10)  # only March's period has usage

    outcome = subscription_renew(
        subscription=started.subscription, as_of=date(2025, 4, 30), now=seoul(date(2025, 4, 30))
    )

    (invoice,) = outcome.invoices
    assert invoice.subscription_link.period_start == MAR_31  # the invoice opening the period after March's
    assert invoice.lines.get(kind=InvoiceLineKind.USAGE).amount == 30
    assert fresh(started.subscription).current_period_end == date(2025, 5, 31)
    assert outcome.actions == ("renewed",)


def test_a_free_plan_without_charges_still_renews_with_a_zero_invoice_paid_at_once(customer):
    free = SubscriptionPlanFactory(slug="free-of-charge", monthly_price=0, annual_price=0)
    started = subscription_create(customer=customer, plan=free, billing_period="monthly", now=seoul(JAN_31))

    (invoice,) = subscription_renew(subscription=started.subscription, as_of=FEB_28, now=seoul(FEB_28)).invoices

    assert (invoice.total, invoice.status) == (0, "paid")
    assert list(invoice.lines.values_list("kind", "amount")) == [("item", 0)]


def test_a_paid_plan_with_charges_and_nothing_used_still_gets_its_renewal_invoice(customer, api_calls):
    metered = SubscriptionPlanFactory(slug="metered", monthly_price=10_000)
    PlanChargeFactory(plan=metered, metric=api_calls, included_quantity=100, unit_amount=10)
    started = subscription_create(customer=customer, plan=metered, billing_period="monthly", now=seoul(JAN_31))
    pay(started.invoice, now=seoul(JAN_31))

    (invoice,) = subscription_renew(subscription=started.subscription, as_of=FEB_28, now=seoul(FEB_28)).invoices

    assert list(invoice.lines.values_list("kind", "amount")) == [("item", 10_000)]


def test_the_renewal_run_counts_a_usage_only_renewal_as_renewed_with_no_invoice(customer, payg):
    subscription_create(customer=customer, plan=payg, billing_period="monthly", now=seoul(JAN_31))

    summary = subscriptions_renew_all(as_of=FEB_28, now=seoul(FEB_28))

    assert (summary.processed, summary.invoices, summary.failures) == (1, 0, [])
    assert summary.count("renewed") == 1
    assert subscriptions_renew_all(as_of=FEB_28, now=seoul(FEB_28)).count("renewed") == 0  # nothing left to do


# --- usage more than an invoice can hold ---------------------------------------------------------------------


@pytest.fixture
def transfer(db):
    """Bytes sent: a sum metric."""
    return BillableMetricFactory(code="bytes_sent", aggregation=MetricAggregation.SUM, unit="B", unit_en="B")


@pytest.fixture
def huge_plan(transfer, api_calls):
    """₩10,000 a month; ₩10,000 a byte (a price typed wrong: 1,000 events of 10^9 bytes cost 10^16, more than
    MAX_AMOUNT) and ₩3 per API call."""
    plan = SubscriptionPlanFactory(slug="huge", monthly_price=10_000)
    PlanChargeFactory(plan=plan, metric=transfer, included_quantity=0, unit_amount=10_000, display_order=1)
    PlanChargeFactory(plan=plan, metric=api_calls, included_quantity=0, unit_amount=3, display_order=2)
    return plan


def send_big_values(customer, day, count=1_000):
    """`count` events of 10^9 bytes on `day`, through ingestion (all accepted)."""
    events = [
        {"event_id": f"big-{day}-{index}", "metric": "bytes_sent", "value": BIG, "timestamp": seoul(day).isoformat()}
        for index in range(count)
    ]
    result = usage_events_ingest(events=events, caller=customer, api_key=None, now=seoul(day, hour=12))
    assert (len(result.accepted), result.rejected) == (count, [])


@pytest.fixture
def held_ready(customer, huge_plan, api_calls):
    """The huge plan from 31 January, paid; in February 10^12 bytes (₩10^16 at its price) and 100 API calls."""
    started = subscription_create(customer=customer, plan=huge_plan, billing_period="monthly", now=seoul(JAN_31))
    pay(started.invoice, now=seoul(JAN_31))
    send_big_values(customer, date(2025, 2, 10))
    used(customer, api_calls, date(2025, 2, 11), 100)
    return started.subscription


def test_usage_too_large_holds_the_renewal_and_the_rest_of_the_run_renews(customer, held_ready, caplog):
    other_customer = CustomerFactory()
    other = subscription_create(
        customer=other_customer, plan=SubscriptionPlanFactory(slug="plain"), billing_period="monthly", now=seoul(JAN_31)
    ).subscription
    invoices_before = Invoice.objects.filter(customer=customer).count()

    with caplog.at_level(logging.ERROR):
        summary = subscriptions_renew_all(as_of=FEB_28, now=seoul(FEB_28))

    ((failed_id, reason),) = summary.failures
    assert failed_id == held_ready.pk
    assert "usage_amount_too_large" in reason and "held" in reason
    assert any("usage_amount_too_large" in record.getMessage() for record in caplog.records)
    held = fresh(held_ready)
    assert (held.status, held.current_period_start, held.current_period_end) == ("past_due", JAN_31, FEB_28)
    assert Invoice.objects.filter(customer=customer).count() == invoices_before  # nothing billed, nothing capped
    assert billed_until(customer) is None  # the usage stays open: a corrected price bills it exactly
    assert fresh(other).current_period_start == FEB_28  # the others of the run renew
    assert summary.count("held") == 1 and summary.count("renewed") == 1


def test_a_held_subscription_has_no_service_from_the_next_day_and_is_held_again_every_day(customer, held_ready):
    subscriptions_renew_all(as_of=FEB_28, now=seoul(FEB_28))
    march_1 = seoul(date(2025, 3, 1))
    first_invoice = SubscriptionInvoice.objects.get(subscription=held_ready).invoice

    # A payment's refresh finds nothing overdue and makes it active: still no service, its period is not renewed.
    subscription_invoice_paid(invoice=first_invoice, now=march_1)
    assert fresh(held_ready).status == "active" and not subscription_served(fresh(held_ready), now=march_1)
    again = subscriptions_renew_all(as_of=date(2025, 3, 1), now=march_1)

    held = fresh(held_ready)
    assert (held.status, held.current_period_end) == ("past_due", FEB_28)
    assert [subscription_id for subscription_id, _ in again.failures] == [held_ready.pk]  # told every day
    assert subscription_served(held, now=seoul(FEB_28))  # the day of the run: it could still renew that day
    assert not subscription_served(held, now=march_1)
    body = entitlements_for(customer=customer, language="ko")  # today, long after
    assert (body["status"], body["features"], body["limits"]["seats"], body["until"]) == ("past_due", [], 0, None)


def test_an_invoice_total_over_the_maximum_with_vat_holds_the_renewal_too(customer, held_ready, transfer):
    # 10^12 bytes at ₩999: 999 x 10^12, under MAX_AMOUNT, but not with its 10 % VAT.
    transfer.charges.update(unit_amount=999)
    assert 999 * 10**12 <= MAX_AMOUNT < 999 * 10**12 * 11 // 10

    outcome = subscription_renew(subscription=held_ready, as_of=FEB_28, now=seoul(FEB_28))

    assert outcome.invoices == [] and "usage_amount_too_large" in outcome.held
    assert outcome.actions == ("held", "past_due")
    assert fresh(held_ready).current_period_end == FEB_28


def test_a_corrected_price_renews_the_held_subscription_exactly(customer, held_ready, transfer):
    subscription_renew(subscription=held_ready, as_of=FEB_28, now=seoul(FEB_28))
    transfer.charges.update(unit_amount=1)  # staff fix plans.yaml: ₩1 a byte

    outcome = subscription_renew(subscription=held_ready, as_of=date(2025, 3, 2), now=seoul(date(2025, 3, 2)))

    (invoice,) = outcome.invoices
    amounts = dict(invoice.lines.filter(kind=InvoiceLineKind.USAGE).values_list("metric__code", "amount"))
    assert amounts == {"bytes_sent": 10**12, "api_calls": 300}
    assert outcome.held == "" and fresh(held_ready).status == "active"  # nothing overdue yet
    assert fresh(held_ready).current_period_start == FEB_28


def test_an_immediate_cancel_ends_a_held_subscription_closing_the_usage_it_cannot_bill(customer, held_ready, caplog):
    subscription_renew(subscription=held_ready, as_of=FEB_28, now=seoul(FEB_28))
    today = date(2025, 3, 3)

    with caplog.at_level(logging.ERROR):
        canceled = subscription_cancel(subscription=held_ready, immediately=True, now=seoul(today))

    assert canceled.status == "canceled"
    link = SubscriptionInvoice.objects.get(subscription=held_ready, reason=SubscriptionInvoiceReason.UPDATE)
    line = link.invoice.lines.get()  # the API calls are billed; the bytes have no line
    assert (line.metric.code, line.amount) == ("api_calls", 300)
    assert billed_until(customer) == seoul(today + timedelta(days=1), hour=0)
    assert any("bytes_sent" in record.getMessage() for record in caplog.records if record.levelno == logging.ERROR)


def test_an_immediate_cancel_before_any_renewal_succeeds_too(customer, held_ready):
    canceled = subscription_cancel(subscription=held_ready, immediately=True, now=seoul(date(2025, 2, 20)))

    assert canceled.status == "canceled"
    assert billed_until(customer) == seoul(date(2025, 2, 21), hour=0)


def test_a_cancel_at_period_end_ends_it_at_the_boundary_instead_of_holding(customer, held_ready):
    subscription_cancel(subscription=held_ready, now=seoul(date(2025, 2, 20)))

    summary = subscriptions_renew_all(as_of=FEB_28, now=seoul(FEB_28))

    assert summary.failures == []
    assert fresh(held_ready).status == "canceled"
    link = SubscriptionInvoice.objects.get(subscription=held_ready, reason=SubscriptionInvoiceReason.UPDATE)
    assert list(link.invoice.lines.values_list("metric__code", "amount")) == [("api_calls", 300)]
    assert billed_until(customer) == seoul(FEB_28, hour=0)


def test_lines_that_do_not_fit_together_are_left_out_largest_first_at_an_end(customer, held_ready, transfer, api_calls):
    # Each fits on an invoice alone, VAT included, not both: bytes at ₩500 (5 x 10^14) and 2 x 10^14 more API
    # calls at ₩3 (6 x 10^14 and 300). The larger, the API calls, is left out; the bytes are billed exactly.
    transfer.charges.update(unit_amount=500)
    used(customer, api_calls, date(2025, 2, 12), 2 * 10**14)

    subscription_cancel(subscription=held_ready, immediately=True, now=seoul(date(2025, 2, 20)))

    link = SubscriptionInvoice.objects.get(subscription=held_ready, reason=SubscriptionInvoiceReason.UPDATE)
    assert list(link.invoice.lines.values_list("metric__code", "amount")) == [("bytes_sent", 5 * 10**14)]
    assert link.invoice.total == 5 * 10**14 * 11 // 10


def test_the_renewal_job_says_why_it_held(customer, held_ready):
    from billing.jobs import subscription_renew_job

    result = subscription_renew_job(subscription_id=held_ready.pk, as_of=FEB_28.isoformat())

    assert result.startswith("held, past_due: renewal held") and "usage_amount_too_large" in result


def test_a_plan_change_is_refused_while_the_usage_cannot_be_invoiced(customer, held_ready):
    other = SubscriptionPlanFactory(slug="other", monthly_price=20_000)

    with pytest.raises(ApplicationError) as refused:
        subscription_change_plan(
            subscription=held_ready, plan=other, billing_period="monthly", now=seoul(date(2025, 2, 20))
        )

    assert (refused.value.code, refused.value.status_code) == ("usage_amount_too_large", 422)
    assert fresh(held_ready).status == "active"  # nothing written
