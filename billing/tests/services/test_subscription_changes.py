"""Plan changes in time: upgrades now, downgrades (or `when="period_end"`) pending until the period end and applied
there by the renewal, a pending change replaced or dropped, refusals."""

from datetime import date

import pytest

from billing.models import Invoice
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.services.subscriptions import (
    pending_change_drop,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_renew,
)
from billing.tests.factories import SubscriptionPlanFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

MONTHLY, ANNUAL = "monthly", "annual"
JAN_1, JAN_10, JAN_31 = date(2025, 1, 1), date(2025, 1, 10), date(2025, 1, 31)


def lines_of(invoice: Invoice) -> list[tuple[str, int, int, date | None, date | None]]:
    return [
        (line.description, line.quantity, line.amount, line.period_start, line.period_end)
        for line in invoice.lines.order_by("position")
    ]


def renew(subscription: Subscription, day: date):
    return subscription_renew(subscription=subscription, as_of=day, now=seoul(day))


@pytest.fixture
def pro_paid(customer, plans) -> Subscription:
    started = subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(JAN_1))
    pay(started.invoice)
    return started.subscription


def test_a_downgrade_waits_for_the_period_end_and_bills_nothing_now(customer, plans, pro_paid):
    started = subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))

    assert (started.scheduled, started.invoice, started.replaced) == (True, None, None)
    assert started.subscription.pk == pro_paid.pk
    live = Subscription.objects.get(pk=pro_paid.pk)
    assert (live.status, live.plan_id, live.price_amount) == ("active", plans["pro"].pk, 99_000)
    assert (live.pending_plan_id, live.pending_billing_period, live.pending_quantity) == (
        plans["starter"].pk,
        MONTHLY,
        1,
    )
    assert live.pending_requested_at == seoul(JAN_10)
    assert Invoice.objects.filter(customer=customer).count() == 1
    assert Subscription.objects.filter(customer=customer).count() == 1


def test_the_renewal_applies_the_pending_change_at_the_boundary(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))

    assert renew(pro_paid, date(2025, 1, 31)).invoices == []  # not before the boundary
    outcome = renew(pro_paid, date(2025, 2, 1))

    (invoice,) = outcome.invoices
    assert "plan_changed" in outcome.actions
    assert lines_of(invoice) == [("스타터 플랜 (월간)", 1, 29_000, date(2025, 2, 1), date(2025, 2, 28))]
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.status) == (29_000, 2_900, 31_900, "open")
    live = Subscription.objects.get(pk=pro_paid.pk)
    assert (live.status, live.plan_id, live.price_amount, live.quantity) == ("active", plans["starter"].pk, 29_000, 1)
    assert (live.current_period_start, live.current_period_end) == (date(2025, 2, 1), date(2025, 3, 1))
    assert not live.has_pending_change
    assert (live.pending_billing_period, live.pending_quantity, live.pending_requested_at) == ("", None, None)


def test_a_switch_to_annual_at_the_period_end_starts_a_new_cycle_there(customer, plans):
    started = subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(JAN_31))
    pay(started.invoice)
    scheduled = subscription_create(
        customer=customer, plan=plans["pro"], billing_period=ANNUAL, now=seoul(date(2025, 2, 3)), when="period_end"
    )
    assert scheduled.scheduled

    (first,) = renew(started.subscription, date(2025, 2, 28)).invoices
    (second,) = renew(started.subscription, date(2026, 2, 28)).invoices

    assert lines_of(first) == [("프로 플랜 (연간)", 1, 990_000, date(2025, 2, 28), date(2026, 2, 27))]
    assert lines_of(second)[0][3:] == (date(2026, 2, 28), date(2027, 2, 27))
    live = Subscription.objects.get(pk=started.subscription.pk)
    assert (live.billing_period, live.billing_cycle_anchor) == (ANNUAL, date(2025, 2, 28))


def test_an_upgrade_stays_immediate_with_credit(customer, plans, pro_paid):
    started = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period=MONTHLY, now=seoul(date(2025, 1, 16))
    )

    assert started.scheduled is False
    assert started.replaced.pk == pro_paid.pk
    assert started.credit == 99_000 * 16 // 31
    assert started.invoice.subtotal == 490_000 - 99_000 * 16 // 31


def test_when_now_makes_a_downgrade_immediate_and_period_end_delays_an_upgrade(customer, plans, pro_paid):
    later = subscription_create(
        customer=customer, plan=plans["enterprise"], billing_period=MONTHLY, now=seoul(JAN_10), when="period_end"
    )
    assert (later.scheduled, later.invoice) == (True, None)

    now = subscription_create(
        customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10), when="now"
    )

    assert (now.scheduled, now.replaced.pk) == (False, pro_paid.pk)
    assert now.subscription.plan_id == plans["starter"].pk
    assert now.invoice is not None


def test_monthly_to_annual_is_a_lower_price_per_day_so_auto_waits(customer, plans, pro_paid):
    # 990,000 / 365 days < 99,000 / 31 days (compared as 990,000 x 31 against 99,000 x 365).
    started = subscription_create(customer=customer, plan=plans["pro"], billing_period=ANNUAL, now=seoul(JAN_10))

    assert started.scheduled
    assert Subscription.objects.get(pk=pro_paid.pk).pending_billing_period == ANNUAL


def test_a_later_change_replaces_the_pending_one(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))
    subscription_create(customer=customer, plan=plans["free"], billing_period=MONTHLY, now=seoul(date(2025, 1, 12)))

    live = Subscription.objects.get(pk=pro_paid.pk)
    assert (live.pending_plan_id, live.pending_requested_at) == (plans["free"].pk, seoul(date(2025, 1, 12)))
    (invoice,) = renew(pro_paid, date(2025, 2, 1)).invoices
    assert (invoice.total, invoice.status) == (0, "paid")


def test_the_same_change_again_is_already_subscribed(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))

    with pytest.raises(ApplicationError) as refused:
        subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))

    assert (refused.value.code, refused.value.status_code) == ("already_subscribed", 409)
    assert Subscription.objects.get(pk=pro_paid.pk).pending_requested_at == seoul(JAN_10)


def test_subscribing_to_the_plan_it_has_drops_the_pending_change_then_is_already_subscribed(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))

    kept = subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(JAN_10))

    assert (kept.subscription.pk, kept.invoice, kept.scheduled) == (pro_paid.pk, None, False)
    assert not Subscription.objects.get(pk=pro_paid.pk).has_pending_change
    with pytest.raises(ApplicationError) as refused:
        subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, now=seoul(JAN_10))
    assert refused.value.code == "already_subscribed"
    assert Invoice.objects.filter(customer=customer).count() == 1


def test_pending_change_drop_is_idempotent_and_the_renewal_keeps_the_plan(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))

    dropped = pending_change_drop(subscription=pro_paid, actor=customer.user)
    again = pending_change_drop(subscription=pro_paid, actor=customer.user)

    assert not dropped.has_pending_change and not again.has_pending_change
    (invoice,) = renew(pro_paid, date(2025, 2, 1)).invoices
    assert invoice.subtotal == 99_000


def test_another_customer_cannot_drop_the_pending_change(customer, other_customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))

    with pytest.raises(ApplicationError) as refused:
        pending_change_drop(subscription=pro_paid, actor=other_customer.user)

    assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    assert Subscription.objects.get(pk=pro_paid.pk).has_pending_change


def test_a_plan_retired_after_the_change_was_accepted_still_applies(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))
    plans["starter"].is_active = False
    plans["starter"].save()

    renew(pro_paid, date(2025, 2, 1))

    assert Subscription.objects.get(pk=pro_paid.pk).plan_id == plans["starter"].pk


def test_the_renewal_prices_the_pending_plan_as_of_the_boundary(customer, plans, pro_paid):
    subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))
    plans["starter"].monthly_price = 39_000
    plans["starter"].save()

    (invoice,) = renew(pro_paid, date(2025, 2, 1)).invoices

    assert invoice.subtotal == 39_000


def test_invalid_when_is_refused(customer, plans, pro_paid):
    with pytest.raises(ApplicationError) as refused:
        subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, when="later")

    assert (refused.value.code, refused.value.status_code) == ("invalid_when", 400)


def test_with_no_live_subscription_when_does_not_matter(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_1), when="period_end"
    )

    assert (started.scheduled, started.subscription.status) == (False, "active")
    assert started.invoice.subtotal == 29_000


def test_an_ending_subscription_changes_now_or_refuses_to_wait(customer, plans, pro_paid):
    subscription_cancel(subscription=pro_paid, now=seoul(JAN_10))

    with pytest.raises(ApplicationError) as refused:
        subscription_create(
            customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10), when="period_end"
        )
    assert (refused.value.code, refused.value.status_code) == ("subscription_ending", 409)

    started = subscription_create(customer=customer, plan=plans["starter"], billing_period=MONTHLY, now=seoul(JAN_10))
    assert (started.scheduled, started.replaced.pk) == (False, pro_paid.pk)


def test_staff_plan_change_stays_immediate_unless_asked(customer, plans, pro_paid):
    later = subscription_change_plan(subscription=pro_paid, plan=plans["starter"], now=seoul(JAN_10), when="period_end")
    assert later.scheduled

    now = subscription_change_plan(subscription=pro_paid, plan=plans["starter"], now=seoul(JAN_10))

    assert (now.scheduled, now.replaced.pk) == (False, pro_paid.pk)


def test_a_trial_changes_plan_in_place_and_stays_a_trial(customer):
    trial_plan = SubscriptionPlanFactory.create(slug="trial-pro", monthly_price=99_000, trial_days=14)
    cheaper = SubscriptionPlanFactory.create(slug="trial-basic", monthly_price=29_000)
    trial = subscription_create(customer=customer, plan=trial_plan, billing_period=MONTHLY, now=seoul(JAN_1))
    assert trial.subscription.status == SubscriptionStatus.TRIALING

    changed = subscription_create(customer=customer, plan=cheaper, billing_period=MONTHLY, now=seoul(JAN_10))

    assert (changed.subscription.pk, changed.invoice, changed.scheduled) == (trial.subscription.pk, None, False)
    live = Subscription.objects.get(pk=trial.subscription.pk)
    assert (live.status, live.plan_id, live.price_amount, live.trial_end) == (
        "trialing",
        cheaper.pk,
        29_000,
        date(2025, 1, 15),
    )
    assert not Invoice.objects.filter(customer=customer).exists()
