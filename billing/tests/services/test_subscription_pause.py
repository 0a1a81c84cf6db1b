"""Pause and resume: no invoice while paused, the paid days left carry over, the next invoice on the right day."""

from datetime import date

import pytest

from billing.models import Invoice
from billing.models.subscriptions import Subscription, SubscriptionInvoice, SubscriptionPause
from billing.services.renewals import subscriptions_renew_all
from billing.services.subscriptions import subscription_cancel, subscription_create, subscription_renew
from billing.services.subscriptions.lifecycle import subscription_resume
from billing.services.subscriptions.pause import subscription_pause
from billing.tests.factories import StaffUserFactory, SubscriptionFactory, UserFactory
from billing.tests.helpers import seoul
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db


def renew(subscription, day):
    return subscription_renew(subscription=subscription, as_of=day, now=seoul(day))


def pause(subscription, day, resume_on, **kwargs):
    return subscription_pause(subscription=subscription, resume_on=resume_on, now=seoul(day), **kwargs)


def fresh(subscription):
    return Subscription.objects.get(pk=subscription.pk)


def billed_periods(subscription):
    return list(SubscriptionInvoice.objects.filter(subscription=subscription).values_list("period_start", "period_end"))


def test_pausing_records_the_days_left_and_bills_nothing_until_the_resume_date(pro_from_jan_31):
    paused = pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))

    (record,) = SubscriptionPause.objects.filter(subscription=pro_from_jan_31)
    assert paused.status == "paused"
    assert (record.paused_on, record.resume_on, record.resumed_on, record.days_carried) == (
        date(2025, 2, 10),
        date(2025, 3, 10),
        None,
        18,  # 10 .. 27 February were paid and not used
    )
    invoices_before = Invoice.objects.count()
    # The period ends on 28 February and nobody renews it: paused days are never billed.
    assert renew(pro_from_jan_31, date(2025, 2, 28)).action == "nothing_due"
    assert subscriptions_renew_all(as_of=date(2025, 3, 9), now=seoul(date(2025, 3, 9))).processed == 0
    assert Invoice.objects.count() == invoices_before
    assert fresh(pro_from_jan_31).next_billing_date is None


def test_the_renewal_run_resumes_on_the_resume_date_with_the_carried_days_then_bills_a_full_period(pro_from_jan_31):
    pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))

    summary = subscriptions_renew_all(as_of=date(2025, 3, 10), now=seoul(date(2025, 3, 10)))

    subscription = fresh(pro_from_jan_31)
    assert (summary.count("resumed"), summary.invoices) == (1, 0)  # the carried days were paid already
    assert subscription.status == "active"
    assert (subscription.current_period_start, subscription.current_period_end) == (
        date(2025, 3, 10),
        date(2025, 3, 28),
    )
    assert SubscriptionPause.objects.get(subscription=subscription).resumed_on == date(2025, 3, 10)
    assert renew(subscription, date(2025, 3, 27)).invoices == []

    renewed = renew(subscription, date(2025, 3, 28))

    (invoice,) = renewed.invoices
    line = invoice.lines.get()
    assert (invoice.issue_date, invoice.total) == (date(2025, 3, 28), 108_900)
    assert (line.amount, line.period_start, line.period_end) == (99_000, date(2025, 3, 28), date(2025, 4, 27))
    # The cycle keeps its new day of the month from then on.
    renew(subscription, date(2025, 4, 28))
    assert billed_periods(subscription) == [
        (date(2025, 1, 31), date(2025, 2, 28)),
        (date(2025, 3, 28), date(2025, 4, 28)),
        (date(2025, 4, 28), date(2025, 5, 28)),
    ]


def test_a_late_run_resumes_on_the_resume_date_not_on_the_day_it_noticed(pro_from_jan_31):
    pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))

    outcome = renew(pro_from_jan_31, date(2025, 4, 1))

    assert outcome.actions[:2] == ("resumed", "renewed")
    assert [invoice.lines.get().period_start for invoice in outcome.invoices] == [date(2025, 3, 28)]
    assert fresh(pro_from_jan_31).current_period_end == date(2025, 4, 28)


def test_resuming_early_gives_back_the_carried_days_from_today(pro_from_jan_31):
    pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))

    resumed = subscription_resume(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 20)))

    assert (resumed.status, resumed.current_period_start, resumed.current_period_end) == (
        "active",
        date(2025, 2, 20),
        date(2025, 3, 10),
    )
    assert resumed.next_billing_date == date(2025, 3, 10)
    assert SubscriptionPause.objects.get(subscription=resumed).resumed_on == date(2025, 2, 20)
    (invoice,) = renew(resumed, date(2025, 3, 10)).invoices
    assert (invoice.lines.get().period_start, invoice.lines.get().period_end) == (date(2025, 3, 10), date(2025, 4, 9))
    # The scheduled resume date has passed with the pause closed: nothing resumes twice.
    assert renew(resumed, date(2025, 3, 11)).action == "nothing_due"


def test_an_annual_subscription_carries_its_days_across_a_year_boundary(customer, plans):
    from billing.tests.subscription_support import pay

    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="annual", now=seoul(date(2024, 2, 29))
    )
    pay(started.invoice, now=seoul(date(2024, 2, 29)))
    pause(started.subscription, date(2025, 1, 30), date(2025, 3, 1))  # 29 days left: 30 January .. 27 February 2025

    renew(started.subscription, date(2025, 3, 1))

    subscription = fresh(started.subscription)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        date(2025, 3, 1),
        date(2025, 3, 30),
    )
    (invoice,) = renew(subscription, date(2025, 3, 30)).invoices
    assert (invoice.lines.get().period_start, invoice.lines.get().period_end) == (date(2025, 3, 30), date(2026, 3, 29))


def test_nothing_carried_means_the_resume_day_is_billed_at_once(pro_from_jan_31):
    # Paused on the day the period ended, before that day's renewal: no paid day is left.
    pause(pro_from_jan_31, date(2025, 2, 28), date(2025, 3, 15))
    assert SubscriptionPause.objects.get(subscription=pro_from_jan_31).days_carried == 0

    outcome = renew(pro_from_jan_31, date(2025, 3, 15))

    assert outcome.actions[:2] == ("resumed", "renewed")
    (invoice,) = outcome.invoices
    assert (invoice.issue_date, invoice.lines.get().period_start, invoice.lines.get().period_end) == (
        date(2025, 3, 15),
        date(2025, 3, 15),
        date(2025, 4, 14),
    )
    assert billed_periods(pro_from_jan_31) == [
        (date(2025, 1, 31), date(2025, 2, 28)),
        (date(2025, 3, 15), date(2025, 4, 15)),
    ]


def test_a_paused_subscription_stays_paused_while_an_invoice_is_overdue_and_is_past_due_on_resume(customer, plans):
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    )  # unpaid, due 31 January
    pause(started.subscription, date(2025, 1, 10), date(2025, 2, 10))

    renew(started.subscription, date(2025, 2, 5))
    assert fresh(started.subscription).status == "paused"

    renew(started.subscription, date(2025, 2, 10))
    assert fresh(started.subscription).status == "past_due"


@pytest.mark.parametrize(
    ("status", "extra"),
    [
        ("past_due", {}),
        ("incomplete", {}),
        ("trialing", {"trial_start": date(2025, 2, 1), "trial_end": date(2025, 2, 15)}),
    ],
)
def test_only_an_active_subscription_can_be_paused(status, extra):
    subscription = SubscriptionFactory(status=status, started=date(2025, 2, 1), **extra)

    with pytest.raises(ApplicationError) as refused:
        pause(subscription, date(2025, 2, 5), date(2025, 3, 1))

    assert (refused.value.code, refused.value.status_code) == ("subscription_not_pausable", 409)
    assert (fresh(subscription).status, SubscriptionPause.objects.count()) == (status, 0)


def test_a_canceled_or_ending_subscription_cannot_be_paused(pro_from_jan_31):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 5)))
    with pytest.raises(ApplicationError) as ending:
        pause(pro_from_jan_31, date(2025, 2, 6), date(2025, 3, 1))
    subscription_cancel(subscription=pro_from_jan_31, immediately=True, now=seoul(date(2025, 2, 7)))
    with pytest.raises(ApplicationError) as ended:
        pause(pro_from_jan_31, date(2025, 2, 8), date(2025, 3, 1))

    assert ending.value.code == ended.value.code == "subscription_not_pausable"
    assert SubscriptionPause.objects.count() == 0


def test_pausing_twice_is_refused(pro_from_jan_31):
    pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))

    with pytest.raises(ApplicationError) as refused:
        pause(pro_from_jan_31, date(2025, 2, 11), date(2025, 3, 20))

    assert (refused.value.code, refused.value.status_code) == ("already_paused", 409)
    assert SubscriptionPause.objects.get().resume_on == date(2025, 3, 10)


@pytest.mark.parametrize("resume_on", [date(2025, 2, 10), date(2025, 2, 1), date(2025, 5, 12)])
def test_the_customer_names_a_resume_date_after_today_and_within_the_limit(pro_from_jan_31, settings, resume_on):
    settings.BILLING_PAUSE_MAX_DAYS = 90  # 10 February + 90 days = 11 May

    with pytest.raises(ApplicationError) as refused:
        pause(pro_from_jan_31, date(2025, 2, 10), resume_on, actor=pro_from_jan_31.customer.user)

    assert (refused.value.code, refused.value.status_code) == ("invalid_resume_on", 400)
    assert "resume_on" in refused.value.fields
    assert fresh(pro_from_jan_31).status == "active"


def test_a_customer_without_a_date_resumes_at_the_limit_staff_may_pause_longer_or_open_ended(pro_from_jan_31, settings):
    settings.BILLING_PAUSE_MAX_DAYS = 90
    customer_pause = pause(pro_from_jan_31, date(2025, 2, 10), None, actor=pro_from_jan_31.customer.user)
    assert SubscriptionPause.objects.get(subscription=customer_pause).resume_on == date(2025, 5, 11)
    subscription_resume(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 12)))

    staff = StaffUserFactory(username="accountant", group="billing staff")
    pause(pro_from_jan_31, date(2025, 2, 13), None, actor=staff)

    assert SubscriptionPause.objects.get(resumed_on__isnull=True).resume_on is None
    assert subscriptions_renew_all(as_of=date(2026, 1, 1), now=seoul(date(2026, 1, 1))).processed == 0
    assert fresh(pro_from_jan_31).status == "paused"


def test_someone_else_needs_the_permission_to_pause(pro_from_jan_31):
    with pytest.raises(ApplicationError) as refused:
        pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10), actor=UserFactory(username="stranger"))

    assert refused.value.status_code == 403
    assert fresh(pro_from_jan_31).status == "active"


def test_a_paused_subscription_can_be_canceled_and_bills_nothing_more(pro_from_jan_31):
    pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))

    canceled = subscription_cancel(subscription=pro_from_jan_31, immediately=True, now=seoul(date(2025, 2, 20)))

    assert canceled.status == "canceled"
    assert renew(canceled, date(2025, 3, 10)).invoices == []
    assert fresh(canceled).status == "canceled"
    assert billed_periods(canceled) == [(date(2025, 1, 31), date(2025, 2, 28))]


@pytest.mark.parametrize(
    ("boundary", "period_start", "anchor", "next_end"),
    [
        (date(2025, 3, 28), date(2025, 3, 10), date(2024, 3, 28), date(2025, 4, 28)),
        (date(2025, 3, 31), date(2025, 3, 2), date(2024, 3, 31), date(2025, 4, 30)),  # then 31 May, not 30
        (date(2028, 2, 29), date(2028, 2, 10), date(2024, 2, 29), date(2028, 3, 29)),  # a leap day keeps its 29th
    ],
)
def test_the_rebased_anchor_keeps_the_new_day_of_the_month(boundary, period_start, anchor, next_end):
    from billing.periods import ServicePeriod, next_period
    from billing.services.subscriptions.pause import _anchor_for

    found = _anchor_for(boundary, not_after=period_start)
    following = next_period(anchor=found, current=ServicePeriod(period_start, boundary), billing_period="monthly")

    assert (found, following.end) == (anchor, next_end)


def test_a_subscription_paused_by_the_provider_without_a_pause_of_ours_resumes_with_its_period(customer):
    subscription = SubscriptionFactory(customer=customer, status="paused", started=date(2025, 2, 1))

    resumed = subscription_resume(subscription=subscription, now=seoul(date(2025, 2, 10)))

    assert (resumed.status, resumed.current_period_start, resumed.current_period_end) == (
        "active",
        date(2025, 2, 10),
        date(2025, 3, 1),
    )
    assert resumed.next_billing_date == date(2025, 3, 1)


@pytest.mark.parametrize("day", [date(2025, 3, 1), date(2025, 3, 3)])
def test_a_subscription_whose_renewal_is_due_cannot_be_paused_until_it_is_renewed(pro_from_jan_31, day):
    # Days since 28 February were served and not billed (the run lagged); on the 28th itself a pause carries 0
    # (test_nothing_carried_means_the_resume_day_is_billed_at_once).
    with pytest.raises(ApplicationError) as refused:
        pause(pro_from_jan_31, day, date(2025, 3, 20))

    assert (refused.value.code, refused.value.status_code) == ("subscription_not_pausable", 409)
    assert "renewal" in refused.value.message
    assert not SubscriptionPause.objects.filter(subscription=pro_from_jan_31).exists()
    assert fresh(pro_from_jan_31).status == "active"
    renew(pro_from_jan_31, day)  # once renewed, the new period can be paused
    assert pause(pro_from_jan_31, day, date(2025, 3, 20)).status == "paused"


@pytest.mark.parametrize("resume_on", [date(2025, 3, 10), None])
def test_a_paused_subscription_canceled_at_period_end_ends_now(pro_from_jan_31, resume_on):
    pause(pro_from_jan_31, date(2025, 2, 10), resume_on)

    canceled = subscription_cancel(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 20)))

    # Its service stopped with the pause: there is no period end to wait for (without a resume date, never).
    assert canceled.status == "canceled"
    assert fresh(canceled).status == "canceled"
    assert renew(canceled, date(2025, 3, 10)).invoices == []
    assert billed_periods(canceled) == [(date(2025, 1, 31), date(2025, 2, 28))]


@pytest.mark.parametrize("when", ["now", "auto", "period_end"])
def test_a_paused_subscription_cannot_change_plans_until_resumed(pro_from_jan_31, plans, when):
    from billing.services.subscriptions import subscription_change_plan

    pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))
    invoices_before = Invoice.objects.count()

    for target in ("enterprise", "starter"):
        with pytest.raises(ApplicationError) as refused:
            subscription_create(
                customer=pro_from_jan_31.customer,
                plan=plans[target],
                billing_period="monthly",
                now=seoul(date(2025, 2, 20)),
                when=when,
            )
        assert (refused.value.code, refused.value.status_code) == ("subscription_paused", 409)
        assert "resume it first" in refused.value.message
        with pytest.raises(ApplicationError) as by_staff:
            subscription_change_plan(
                subscription=pro_from_jan_31, plan=plans[target], now=seoul(date(2025, 2, 20)), when=when
            )
        assert by_staff.value.code == "subscription_paused"

    paused = fresh(pro_from_jan_31)
    assert (paused.status, paused.plan_id, paused.has_pending_change) == ("paused", plans["pro"].pk, False)
    assert Invoice.objects.count() == invoices_before
    assert Subscription.objects.filter(customer=pro_from_jan_31.customer).count() == 1


def test_a_paused_subscription_cannot_change_seats(pro_from_jan_31):
    from billing.services.subscriptions import subscription_quantity_change

    pause(pro_from_jan_31, date(2025, 2, 10), date(2025, 3, 10))

    with pytest.raises(ApplicationError) as refused:
        subscription_quantity_change(subscription=pro_from_jan_31, quantity=1, now=seoul(date(2025, 2, 20)))

    assert (refused.value.code, refused.value.status_code) == ("subscription_not_active", 409)
