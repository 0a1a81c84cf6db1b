"""Seats: a plan priced per seat billed for the subscription's quantity, more seats now and pro rata, fewer at the
period end, refusals."""

from datetime import date

import pytest

from billing.models import Invoice
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionInvoiceReason
from billing.services.subscriptions import subscription_create, subscription_quantity_change, subscription_renew
from billing.tests.factories import SubscriptionPlanFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

MONTHLY = "monthly"
JAN_1, JAN_11 = date(2025, 1, 1), date(2025, 1, 11)


@pytest.fixture
def team(db):
    """₩10,000 a seat a month."""
    return SubscriptionPlanFactory.create(
        slug="team", name="팀", name_en="Team", monthly_price=10_000, annual_price=100_000, per_seat=True
    )


@pytest.fixture
def three_seats(customer, team) -> Subscription:
    started = subscription_create(customer=customer, plan=team, billing_period=MONTHLY, quantity=3, now=seoul(JAN_1))
    pay(started.invoice)
    return started.subscription


def renew(subscription: Subscription, day: date):
    return subscription_renew(subscription=subscription, as_of=day, now=seoul(day))


def test_a_per_seat_plan_bills_its_seats(customer, team):
    started = subscription_create(customer=customer, plan=team, billing_period=MONTHLY, quantity=3, now=seoul(JAN_1))

    assert (started.subscription.quantity, started.subscription.price_amount) == (3, 30_000)
    assert started.subscription.unit_amount == 10_000
    (line,) = started.invoice.lines.all()
    assert (line.quantity, line.unit_amount, line.amount) == (3, 10_000, 30_000)
    assert (started.invoice.subtotal, started.invoice.tax, started.invoice.total) == (30_000, 3_000, 33_000)


def test_more_seats_now_are_billed_for_the_days_left_to_the_won_with_vat(customer, three_seats):
    changed = subscription_quantity_change(subscription=three_seats, quantity=5, actor=customer.user, now=seoul(JAN_11))

    # 2 seats x 10,000 x 21 unused of 31 days = 13,548.38 -> 13,548; VAT 1,354.8 -> 1,354.
    invoice = changed.invoice
    assert (changed.scheduled, invoice.subtotal, invoice.tax, invoice.total) == (False, 13_548, 1_354, 14_902)
    assert invoice.status == "open" and invoice.number
    assert [(line.description, line.amount, line.period_start, line.period_end) for line in invoice.lines.all()] == [
        ("좌석 2개 추가: 팀 플랜 (월간)", 13_548, JAN_11, date(2025, 1, 31))
    ]
    link = SubscriptionInvoice.objects.get(invoice=invoice)
    assert (link.reason, link.period_start, link.period_end) == (
        SubscriptionInvoiceReason.UPDATE,
        JAN_11,
        date(2025, 2, 1),
    )
    live = Subscription.objects.get(pk=three_seats.pk)
    assert (live.quantity, live.price_amount) == (5, 50_000)
    (renewal,) = renew(three_seats, date(2025, 2, 1)).invoices
    assert [(line.quantity, line.unit_amount, line.amount) for line in renewal.lines.all()] == [(5, 10_000, 50_000)]


def test_two_increases_in_one_period_are_two_update_invoices(customer, three_seats):
    first = subscription_quantity_change(subscription=three_seats, quantity=4, now=seoul(JAN_11))
    second = subscription_quantity_change(subscription=three_seats, quantity=6, now=seoul(JAN_11))

    assert (first.invoice.subtotal, second.invoice.subtotal) == (10_000 * 21 // 31, 20_000 * 21 // 31)


def test_fewer_seats_wait_for_the_period_end(customer, three_seats):
    changed = subscription_quantity_change(subscription=three_seats, quantity=1, now=seoul(JAN_11))

    assert (changed.scheduled, changed.invoice) == (True, None)
    live = Subscription.objects.get(pk=three_seats.pk)
    assert (live.quantity, live.price_amount, live.pending_quantity) == (3, 30_000, 1)
    (renewal,) = renew(three_seats, date(2025, 2, 1)).invoices
    assert renewal.subtotal == 10_000
    live.refresh_from_db()
    assert (live.quantity, live.price_amount, live.has_pending_change) == (1, 10_000, False)


def test_the_same_quantity_changes_nothing_and_drops_a_pending_decrease(customer, three_seats):
    subscription_quantity_change(subscription=three_seats, quantity=2, now=seoul(JAN_11))

    same = subscription_quantity_change(subscription=three_seats, quantity=3, now=seoul(JAN_11))

    assert (same.invoice, same.scheduled) == (None, False)
    assert not Subscription.objects.get(pk=three_seats.pk).has_pending_change
    assert Invoice.objects.filter(customer=three_seats.customer).count() == 1


def test_an_increase_supersedes_a_pending_decrease(customer, three_seats):
    subscription_quantity_change(subscription=three_seats, quantity=2, now=seoul(JAN_11))

    subscription_quantity_change(subscription=three_seats, quantity=4, now=seoul(JAN_11))

    live = Subscription.objects.get(pk=three_seats.pk)
    assert (live.quantity, live.has_pending_change) == (4, False)


@pytest.mark.parametrize("quantity", [0, -1, 10_001, "3", 2.5, True, None])
def test_a_quantity_out_of_range_is_refused(customer, three_seats, quantity):
    with pytest.raises(ApplicationError) as refused:
        subscription_quantity_change(subscription=three_seats, quantity=quantity, now=seoul(JAN_11))

    assert (refused.value.code, refused.value.status_code) == ("invalid_quantity", 400)


def test_seats_on_a_plan_not_priced_per_seat_are_refused(customer, plans):
    with pytest.raises(ApplicationError) as refused:
        subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY, quantity=2)
    assert (refused.value.code, refused.value.status_code) == ("plan_not_per_seat", 400)
    pro = subscription_create(customer=customer, plan=plans["pro"], billing_period=MONTHLY).subscription

    with pytest.raises(ApplicationError) as refused:
        subscription_quantity_change(subscription=pro, quantity=2)

    assert refused.value.code == "plan_not_per_seat"


def test_a_subscription_not_active_cannot_change_seats(customer, three_seats):
    Subscription.objects.filter(pk=three_seats.pk).update(status="past_due")

    with pytest.raises(ApplicationError) as refused:
        subscription_quantity_change(subscription=three_seats, quantity=4)

    assert (refused.value.code, refused.value.status_code) == ("subscription_not_active", 409)


def test_another_customer_cannot_change_the_seats(other_customer, three_seats):
    with pytest.raises(ApplicationError) as refused:
        subscription_quantity_change(subscription=three_seats, quantity=4, actor=other_customer.user)

    assert refused.value.code == "permission_denied"
    assert Subscription.objects.get(pk=three_seats.pk).quantity == 3


def test_a_change_between_per_seat_plans_keeps_the_seats(customer, three_seats):
    bigger = SubscriptionPlanFactory.create(slug="team-plus", monthly_price=20_000, per_seat=True)

    started = subscription_create(customer=customer, plan=bigger, billing_period=MONTHLY, now=seoul(JAN_11))

    assert (started.subscription.quantity, started.subscription.price_amount) == (3, 60_000)
    assert started.replaced.pk == three_seats.pk


def test_subscribe_with_more_seats_of_the_same_plan_adds_them_pro_rata(customer, team, three_seats):
    started = subscription_create(customer=customer, plan=team, billing_period=MONTHLY, quantity=4, now=seoul(JAN_11))

    assert (started.subscription.pk, started.replaced) == (three_seats.pk, None)
    assert started.invoice.subtotal == 10_000 * 21 // 31


def test_seats_added_and_unpaid_are_not_credited_by_a_plan_change(customer, three_seats):
    subscription_quantity_change(subscription=three_seats, quantity=5, now=seoul(JAN_11))  # its invoice left unpaid
    bigger = SubscriptionPlanFactory.create(slug="team-plus", monthly_price=20_000, per_seat=True)

    started = subscription_create(customer=customer, plan=bigger, billing_period=MONTHLY, now=seoul(date(2025, 1, 21)))

    # Only the period's own invoice was paid: 30,000 x 11 unused of 31 days, not 50,000 x 11 / 31.
    assert started.credit == 30_000 * 11 // 31


def test_seats_added_after_a_resume_are_prorated_over_a_whole_period_not_the_carried_days(customer, three_seats):
    from billing.services.subscriptions.lifecycle import subscription_resume
    from billing.services.subscriptions.pause import subscription_pause

    # Paused on 11 January with 21 paid days left; resumed on 5 February: the carried period is [5 Feb, 26 Feb).
    subscription_pause(subscription=three_seats, resume_on=date(2025, 2, 5), now=seoul(JAN_11))
    resumed = subscription_resume(subscription=three_seats, now=seoul(date(2025, 2, 5)))
    assert (resumed.current_period_start, resumed.current_period_end) == (date(2025, 2, 5), date(2025, 2, 26))

    changed = subscription_quantity_change(subscription=three_seats, quantity=5, now=seoul(date(2025, 2, 10)))

    # A seat costs 10,000 a whole month (26 January .. 26 February, 31 days), not 10,000 per 21 carried days:
    # 2 seats x 10,000 x 16 unused of 31 days.
    (line,) = changed.invoice.lines.all()
    assert (line.amount, line.period_start, line.period_end) == (
        20_000 * 16 // 31,
        date(2025, 2, 10),
        date(2025, 2, 25),
    )
    assert changed.invoice.subtotal <= 20_000 * 16 // 21  # never more than a month's price per seat


def test_more_seats_while_a_per_seat_plan_change_is_pending_are_kept_by_that_change(customer, three_seats):
    lite = SubscriptionPlanFactory.create(slug="team-lite", monthly_price=5_000, annual_price=50_000, per_seat=True)
    scheduled = subscription_create(customer=customer, plan=lite, billing_period=MONTHLY, now=seoul(JAN_11))
    assert (scheduled.scheduled, scheduled.subscription.pending_quantity) == (True, 3)

    subscription_quantity_change(subscription=three_seats, quantity=5, now=seoul(date(2025, 1, 21)))

    live = Subscription.objects.get(pk=three_seats.pk)
    assert (live.quantity, live.pending_plan_id, live.pending_quantity) == (5, lite.pk, 5)
    (renewal,) = renew(three_seats, date(2025, 2, 1)).invoices
    # The 5 seats paid for carry over to the new plan at the boundary.
    assert [(line.quantity, line.unit_amount, line.amount) for line in renewal.lines.all()] == [(5, 5_000, 25_000)]


def test_more_seats_than_a_pending_decrease_of_the_new_plan_raise_it_but_a_larger_one_stays(customer, three_seats):
    lite = SubscriptionPlanFactory.create(slug="team-lite", monthly_price=5_000, annual_price=50_000, per_seat=True)
    subscription_create(
        customer=customer, plan=lite, billing_period=MONTHLY, quantity=8, now=seoul(JAN_11), when="period_end"
    )

    subscription_quantity_change(subscription=three_seats, quantity=5, now=seoul(date(2025, 1, 21)))

    live = Subscription.objects.get(pk=three_seats.pk)
    assert (live.quantity, live.pending_quantity) == (5, 8)  # asked for more than that already: kept
