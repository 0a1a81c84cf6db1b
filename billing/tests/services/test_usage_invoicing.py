"""Usage on invoices: the ended period's metered usage on the renewal invoice (at the old plan's prices when a
change applies there), the usage so far at a plan change, up to the end of today at an immediate cancel, the last
period's at a cancel at period end; usage-only plans; the customer's usage-billed-until mark."""

from datetime import date

import pytest

from billing.enums import ChargeModel, InvoiceLineKind, MetricAggregation
from billing.models import Customer, Invoice
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionInvoiceReason
from billing.periods import ServicePeriod
from billing.services.invoice_lines import InvoiceLineInput, lines_validate
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_renew,
    subscription_upcoming,
)
from billing.services.usage_invoicing import usage_lines, usage_period_close
from billing.tests.factories import (
    BillableMetricFactory,
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


@pytest.fixture
def api_calls():
    return BillableMetricFactory(code="api_calls", name="API 호출", name_en="API calls", unit="건", unit_en="calls")


@pytest.fixture
def metered_plan(api_calls):
    """₩10,000 a month, 100 API calls included, ₩10 per call beyond."""
    plan = SubscriptionPlanFactory(slug="metered", monthly_price=10_000)
    PlanChargeFactory(plan=plan, metric=api_calls, included_quantity=100, unit_amount=10)
    return plan


@pytest.fixture
def subscribed(customer, metered_plan):
    """The metered plan from 31 January 2025, its first invoice paid: due for renewal on 28 February."""
    started = subscription_create(customer=customer, plan=metered_plan, billing_period="monthly", now=seoul(JAN_31))
    pay(started.invoice, now=seoul(JAN_31))
    return started.subscription


def used(customer, metric, day, count, hour=10):
    """`count` events of `metric` at `hour` o'clock (Seoul) on `day`, as ingestion's rollup leaves them."""
    return UsageRollupFactory(customer=customer, metric=metric, hour=seoul(day, hour), event_count=count, value_max=1)


def renew(subscription, day):
    return subscription_renew(subscription=subscription, as_of=day, now=seoul(day))


def usage_line(invoice):
    return invoice.lines.get(kind=InvoiceLineKind.USAGE)


def billed_until(customer):
    return Customer.objects.get(pk=customer.pk).usage_billed_until


def test_the_renewal_invoice_carries_the_ended_period_usage(customer, subscribed, api_calls):
    used(customer, api_calls, JAN_31, 1_000, hour=0)  # the first hour of the period counts
    used(customer, api_calls, date(2025, 2, 27), 234, hour=23)  # and the last
    used(customer, api_calls, FEB_28, 5_000, hour=0)  # the next period's: not now

    (invoice,) = renew(subscribed, FEB_28).invoices

    plan_line, line = invoice.lines.order_by("position")
    assert (plan_line.kind, plan_line.amount, plan_line.period_start) == ("item", 10_000, FEB_28)
    assert (line.kind, line.metric_id, line.quantity) == ("usage", api_calls.pk, 1)
    assert (line.unit_amount, line.amount) == (11_340, 11_340)  # (1,234 - 100) x ₩10
    assert line.description == "API 호출 1,234건 (기본 제공 100건)"
    assert (line.period_start, line.period_end) == (JAN_31, date(2025, 2, 27))
    assert line.usage == {
        "quantity": 1_234,
        "included": 100,
        "billable": 1_134,
        "charge_model": "per_unit",
        "unit_amount": 10,
        "package_size": 1,
        "amount": 11_340,
        "slices": [
            {"first": 1, "last": None, "quantity": 1_134, "unit_amount": 10, "flat_amount": 0, "amount": 11_340}
        ],
    }
    assert (invoice.subtotal, invoice.tax, invoice.total) == (21_340, 2_134, 23_474)  # VAT on the usage too
    assert billed_until(customer) == seoul(FEB_28, hour=0)


def test_usage_within_the_included_quantity_makes_no_line_but_closes_the_period(customer, subscribed, api_calls):
    used(customer, api_calls, date(2025, 2, 10), 100)

    (invoice,) = renew(subscribed, FEB_28).invoices

    assert list(invoice.lines.values_list("kind", flat=True)) == ["item"]
    assert billed_until(customer) == seoul(FEB_28, hour=0)


def test_missed_runs_bill_each_period_its_own_usage(customer, subscribed, api_calls):
    used(customer, api_calls, date(2025, 2, 1), 300)
    used(customer, api_calls, date(2025, 3, 5), 700)

    february, march = renew(subscribed, date(2025, 3, 31)).invoices

    assert usage_line(february).usage["quantity"] == 300
    assert (usage_line(february).period_start, usage_line(february).period_end) == (JAN_31, date(2025, 2, 27))
    assert usage_line(march).usage["quantity"] == 700
    assert (usage_line(march).period_start, usage_line(march).period_end) == (FEB_28, date(2025, 3, 30))
    assert billed_until(customer) == seoul(date(2025, 3, 31), hour=0)


def test_renewing_again_bills_no_usage_twice(customer, subscribed, api_calls):
    used(customer, api_calls, date(2025, 2, 1), 300)
    renew(subscribed, FEB_28)

    again = renew(subscribed, FEB_28)

    assert again.invoices == []
    assert Invoice.objects.filter(lines__kind=InvoiceLineKind.USAGE).count() == 1


def test_a_change_applied_at_the_boundary_bills_the_ended_period_at_the_old_prices(customer, subscribed, api_calls):
    cheaper = SubscriptionPlanFactory(slug="cheaper", monthly_price=5_000)
    PlanChargeFactory(plan=cheaper, metric=api_calls, included_quantity=0, unit_amount=1)
    subscription_create(customer=customer, plan=cheaper, billing_period="monthly", now=seoul(date(2025, 2, 10)))
    used(customer, api_calls, date(2025, 2, 12), 300)

    outcome = renew(subscribed, FEB_28)

    (invoice,) = outcome.invoices
    assert "plan_changed" in outcome.actions
    assert invoice.lines.order_by("position").first().amount == 5_000  # the next period: the new plan
    assert usage_line(invoice).amount == 2_000  # the ended one: (300 - 100) x ₩10


def test_a_plan_change_now_bills_the_old_plan_usage_before_today(customer, subscribed, api_calls, metered_plan):
    bigger = SubscriptionPlanFactory(slug="bigger", monthly_price=50_000)
    PlanChargeFactory(plan=bigger, metric=api_calls, included_quantity=1_000, unit_amount=5)
    used(customer, api_calls, date(2025, 2, 9), 600, hour=23)
    used(customer, api_calls, date(2025, 2, 10), 2_000, hour=1)  # today: the new plan's

    started = subscription_change_plan(subscription=subscribed, plan=bigger, now=seoul(date(2025, 2, 10), hour=14))

    line = usage_line(started.invoice)
    assert (line.amount, line.usage["quantity"]) == (5_000, 600)  # (600 - 100) x ₩10, the old prices
    assert (line.period_start, line.period_end) == (JAN_31, date(2025, 2, 9))
    assert billed_until(customer) == seoul(date(2025, 2, 10), hour=0)
    # Today's usage goes with the new subscription, at its prices, when its first period ends.
    (renewal,) = renew(started.subscription, date(2025, 3, 10)).invoices
    assert (usage_line(renewal).usage["quantity"], usage_line(renewal).amount) == (2_000, 5_000)
    assert (usage_line(renewal).period_start, usage_line(renewal).period_end) == (
        date(2025, 2, 10),
        date(2025, 3, 9),
    )


def test_an_immediate_cancel_invoices_the_usage_up_to_the_end_of_today(customer, subscribed, api_calls):
    used(customer, api_calls, date(2025, 2, 3), 150)
    used(customer, api_calls, date(2025, 2, 10), 50, hour=23)  # later today, sent before the cancel

    subscription_cancel(subscription=subscribed, immediately=True, now=seoul(date(2025, 2, 10), hour=14))

    link = SubscriptionInvoice.objects.get(subscription=subscribed, reason=SubscriptionInvoiceReason.UPDATE)
    assert (link.period_start, link.period_end) == (JAN_31, date(2025, 2, 11))
    line = link.invoice.lines.get()
    assert (line.kind, line.amount, line.usage["quantity"]) == ("usage", 1_000, 200)
    assert (link.invoice.status, link.invoice.total) == ("open", 1_100)
    assert billed_until(customer) == seoul(date(2025, 2, 11), hour=0)
    assert Subscription.objects.get(pk=subscribed.pk).status == "canceled"


def test_an_immediate_cancel_with_nothing_billable_issues_no_invoice(customer, subscribed, api_calls):
    used(customer, api_calls, date(2025, 2, 3), 100)
    invoices_before = Invoice.objects.count()

    subscription_cancel(subscription=subscribed, immediately=True, now=seoul(date(2025, 2, 10)))

    assert Invoice.objects.count() == invoices_before
    assert billed_until(customer) == seoul(date(2025, 2, 11), hour=0)


def test_a_cancel_at_period_end_invoices_the_last_period_usage_at_the_boundary(customer, subscribed, api_calls):
    subscription_cancel(subscription=subscribed, now=seoul(date(2025, 2, 10)))
    used(customer, api_calls, date(2025, 2, 20), 400)
    used(customer, api_calls, FEB_28, 400)  # after service stopped: never billed by this subscription

    outcome = renew(subscribed, date(2025, 3, 2))

    assert outcome.actions == ("usage_invoiced", "ended")
    link = SubscriptionInvoice.objects.get(subscription=subscribed, reason=SubscriptionInvoiceReason.UPDATE)
    assert (link.period_start, link.period_end) == (JAN_31, FEB_28)
    assert usage_line(link.invoice).usage["quantity"] == 400
    assert billed_until(customer) == seoul(FEB_28, hour=0)


def test_a_free_trial_usage_is_never_billed(customer, api_calls):
    trial_plan = SubscriptionPlanFactory(slug="trial", monthly_price=10_000, trial_days=14)
    PlanChargeFactory(plan=trial_plan, metric=api_calls, included_quantity=0, unit_amount=10)
    started = subscription_create(customer=customer, plan=trial_plan, billing_period="monthly", now=seoul(JAN_31))
    used(customer, api_calls, date(2025, 2, 5), 500)  # during the trial
    used(customer, api_calls, date(2025, 2, 20), 30)  # after it

    converted = renew(started.subscription, date(2025, 2, 14))
    (first,) = converted.invoices
    assert not first.lines.filter(kind=InvoiceLineKind.USAGE).exists()
    pay(first, now=seoul(date(2025, 2, 14)))
    (renewal,) = renew(started.subscription, date(2025, 3, 14)).invoices

    assert (usage_line(renewal).usage["quantity"], usage_line(renewal).period_start) == (30, date(2025, 2, 14))


@pytest.fixture
def usage_only_plan(api_calls):
    """Pay as you go: the plan costs nothing, each API call ₩3."""
    plan = SubscriptionPlanFactory(slug="payg", monthly_price=0, annual_price=0)
    PlanChargeFactory(plan=plan, metric=api_calls, included_quantity=0, unit_amount=3)
    return plan


def test_a_usage_only_plan_bills_the_usage_in_arrears(customer, usage_only_plan, api_calls):
    started = subscription_create(customer=customer, plan=usage_only_plan, billing_period="monthly", now=seoul(JAN_31))
    assert (started.invoice.total, started.invoice.status) == (0, "paid")  # nothing in advance
    used(customer, api_calls, date(2025, 2, 14), 1_000)

    (invoice,) = renew(started.subscription, FEB_28).invoices

    assert [(line.kind, line.amount) for line in invoice.lines.order_by("position")] == [("item", 0), ("usage", 3_000)]
    assert (invoice.total, invoice.status) == (3_300, "open")


def test_a_usage_only_plan_with_nothing_used_renews_with_no_invoice(customer, usage_only_plan):
    started = subscription_create(customer=customer, plan=usage_only_plan, billing_period="monthly", now=seoul(JAN_31))
    invoices_before = Invoice.objects.count()

    outcome = renew(started.subscription, FEB_28)

    # Nothing billable in arrears, nothing in advance: no ₩0 invoice (test_usage_renewal_edges has the rest).
    assert (outcome.invoices, Invoice.objects.count()) == ([], invoices_before)
    renewed = Subscription.objects.get(pk=started.subscription.pk)
    assert (renewed.status, renewed.current_period_start) == ("active", FEB_28)
    assert billed_until(customer) == seoul(FEB_28, hour=0)


def test_english_customers_get_english_usage_lines(customer, subscribed, api_calls):
    used(customer, api_calls, date(2025, 2, 3), 123_456)

    (line,) = usage_lines(subscription=subscribed, period=ServicePeriod(JAN_31, FEB_28), language="en")

    assert line.description == "API calls: 123,456 calls (100 calls included)"


def test_a_charge_with_nothing_included_says_no_included_quantity(customer, usage_only_plan, api_calls):
    storage = BillableMetricFactory(
        code="storage_gb",
        name="저장 공간",
        name_en="Storage",
        unit="GB",
        unit_en="GB",
        aggregation=MetricAggregation.MAX,
    )
    PlanChargeFactory(
        plan=usage_only_plan,
        metric=storage,
        included_quantity=0,
        charge_model=ChargeModel.VOLUME,
        tiers=[{"up_to": 10, "unit_amount": 500, "flat_amount": 0}, {"up_to": None, "unit_amount": 300}],
    )
    started = subscription_create(customer=customer, plan=usage_only_plan, billing_period="monthly", now=seoul(JAN_31))
    UsageRollupFactory(customer=customer, metric=storage, hour=seoul(date(2025, 2, 3)), value_max=12)

    (line,) = usage_lines(subscription=started.subscription, period=ServicePeriod(JAN_31, FEB_28), language="ko")

    assert (line.description, line.unit_amount) == ("저장 공간 12GB", 3_600)


def test_the_usage_mark_never_moves_back(customer):
    usage_period_close(customer=customer, until=seoul(FEB_28, hour=0))
    usage_period_close(customer=customer, until=seoul(JAN_31, hour=0))

    assert billed_until(customer) == customer.usage_billed_until == seoul(FEB_28, hour=0)


@pytest.mark.parametrize(
    ("line", "valid"),
    [
        (InvoiceLineInput("사용량", 1_000, kind="usage", metric_id=1, usage={"quantity": 1}), True),
        (InvoiceLineInput("사용량", 1_000, kind="usage"), False),  # a usage line says what it measured
        (InvoiceLineInput("사용량", 1_000, kind="usage", metric_id=1), False),
        (InvoiceLineInput("품목", 1_000, metric_id=1, usage={"quantity": 1}), False),  # only a usage line does
        (InvoiceLineInput("할인", 1_000, kind="discount"), False),  # a discount still only takes money off
    ],
)
def test_line_checks_allow_positive_usage_lines_with_their_detail_only(line, valid):
    if valid:
        assert lines_validate([line]) == [line]
    else:
        with pytest.raises(ApplicationError) as refused:
            lines_validate([line])
        assert refused.value.code == "invalid_line"


def test_a_plan_without_charges_bills_nothing_but_closes_the_ended_period(customer, api_calls):
    """Usage under a plan that does not charge it is never billable: the mark moves at each renewal, so charges
    that come later (a plan change, or the plan file) bill only what came after them, not the whole history."""
    plain = SubscriptionPlanFactory(slug="plain", monthly_price=10_000)
    started = subscription_create(customer=customer, plan=plain, billing_period="monthly", now=seoul(JAN_31))
    pay(started.invoice, now=seoul(JAN_31))
    used(customer, api_calls, date(2025, 2, 3), 10_000)

    (invoice,) = renew(started.subscription, FEB_28).invoices

    assert list(invoice.lines.values_list("kind", flat=True)) == ["item"]
    assert billed_until(customer) == seoul(FEB_28, hour=0)
    PlanChargeFactory(plan=plain, metric=api_calls, included_quantity=0, unit_amount=10)
    used(customer, api_calls, date(2025, 3, 3), 7)
    pay(invoice, now=seoul(FEB_28))
    (march,) = renew(Subscription.objects.get(pk=started.subscription.pk), date(2025, 3, 31)).invoices
    assert usage_line(march).usage["quantity"] == 7  # February's 10,000 calls stay unbilled


def test_the_upcoming_invoice_shows_the_usage_so_far_and_closes_nothing(customer, subscribed, api_calls):
    used(customer, api_calls, date(2025, 2, 3), 600)

    upcoming = subscription_upcoming(subscription=subscribed, now=seoul(date(2025, 2, 10)))

    assert [(line.description, line.amount) for line in upcoming.lines] == [
        (upcoming.lines[0].description, 10_000),
        ("API 호출 600건 (기본 제공 100건)", 5_000),
    ]
    assert upcoming.subtotal == 15_000
    assert billed_until(customer) is None  # a preview writes nothing
