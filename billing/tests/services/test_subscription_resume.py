"""Resume: a cancel set for the period end undone (the renewal bills again), a paused subscription resumed, what
cannot be resumed (409), who may resume, and the provider's copy following."""

from datetime import date

import pytest

from billing.enums import JobKind
from billing.models.subscriptions import Subscription, SubscriptionPause, SubscriptionStatus
from billing.services.subscription_emails import renewal_notice_expected
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_create,
    subscription_renew,
    subscription_resume,
)
from billing.tests.helpers import seoul
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job

pytestmark = pytest.mark.django_db

CANCELED_ON = date(2025, 2, 10)
RENEWAL = date(2025, 2, 28)  # pro_from_jan_31 renews then


def fresh(subscription):
    return Subscription.objects.get(pk=subscription.pk)


def resume_error(**options) -> ApplicationError:
    with pytest.raises(ApplicationError) as error:
        subscription_resume(**options)
    return error.value


def test_resume_undoes_a_cancel_set_for_the_period_end_and_the_renewal_bills(pro_from_jan_31):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))

    resumed = subscription_resume(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 12)))

    subscription = fresh(resumed)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert (subscription.cancel_at_period_end, subscription.canceled_at) == (False, None)
    assert subscription.next_billing_date == RENEWAL and renewal_notice_expected(subscription)
    outcome = subscription_renew(subscription=subscription, as_of=RENEWAL, now=seoul(RENEWAL))
    (invoice,) = outcome.invoices
    assert (outcome.action, invoice.total) == ("renewed", 108_900)
    assert fresh(subscription).status == SubscriptionStatus.ACTIVE


def test_a_trial_set_to_cancel_and_resumed_converts_at_trial_end(customer, plans):
    plan = plans["pro"]
    plan.trial_days = 14
    plan.save(update_fields=["trial_days"])
    trial = subscription_create(
        customer=customer, plan=plan, billing_period="monthly", now=seoul(date(2025, 3, 1))
    ).subscription
    subscription_cancel(subscription=trial, now=seoul(date(2025, 3, 5)))

    subscription_resume(subscription=trial, now=seoul(date(2025, 3, 6)))

    outcome = subscription_renew(subscription=trial, as_of=date(2025, 3, 15), now=seoul(date(2025, 3, 15)))
    (invoice,) = outcome.invoices
    assert (outcome.actions, invoice.total) == (("trial_converted",), 108_900)
    assert fresh(trial).status == SubscriptionStatus.ACTIVE


def test_resuming_twice_answers_nothing_to_resume_the_second_time(pro_from_jan_31):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))
    subscription_resume(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))

    error = resume_error(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))

    assert (error.code, error.status_code) == ("nothing_to_resume", 409)
    assert fresh(pro_from_jan_31).cancel_at_period_end is False


def test_an_active_subscription_not_set_to_cancel_has_nothing_to_resume(pro_from_jan_31):
    before = fresh(pro_from_jan_31)

    error = resume_error(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))

    assert (error.code, error.status_code) == ("nothing_to_resume", 409)
    assert fresh(pro_from_jan_31).updated_at == before.updated_at


@pytest.mark.parametrize("immediately", [True, False])
def test_an_ended_subscription_cannot_be_resumed(pro_from_jan_31, immediately):
    subscription_cancel(subscription=pro_from_jan_31, immediately=immediately, now=seoul(CANCELED_ON))
    subscription_renew(subscription=pro_from_jan_31, as_of=RENEWAL, now=seoul(RENEWAL))  # set to cancel: ends now
    assert fresh(pro_from_jan_31).status == SubscriptionStatus.CANCELED

    error = resume_error(subscription=pro_from_jan_31, now=seoul(date(2025, 3, 1)))

    assert (error.code, error.status_code) == ("subscription_ended", 409)


def test_a_paused_subscription_resumes_today(pro_from_jan_31):
    from billing.services.subscriptions.pause import subscription_pause

    subscription_pause(subscription=pro_from_jan_31, resume_on=None, now=seoul(CANCELED_ON))
    assert fresh(pro_from_jan_31).status == SubscriptionStatus.PAUSED

    resumed = subscription_resume(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 15)))

    assert fresh(resumed).status == SubscriptionStatus.ACTIVE
    pause = SubscriptionPause.objects.get(subscription=pro_from_jan_31)
    assert (pause.paused_on, pause.resumed_on) == (CANCELED_ON, date(2025, 2, 15))
    error = resume_error(subscription=pro_from_jan_31, now=seoul(date(2025, 2, 15)))
    assert error.code == "nothing_to_resume"


# --- who may resume -------------------------------------------------------------------------------------------------


def test_the_customer_resumes_their_own_subscription(pro_from_jan_31, customer_user):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))

    resumed = subscription_resume(subscription=pro_from_jan_31, actor=customer_user, now=seoul(CANCELED_ON))

    assert fresh(resumed).cancel_at_period_end is False


@pytest.mark.parametrize("intruder", ["other_customer_user", "support_user"])
def test_anyone_else_without_the_permission_is_refused(pro_from_jan_31, intruder, request):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))
    actor = request.getfixturevalue(intruder)

    error = resume_error(subscription=pro_from_jan_31, actor=actor, now=seoul(CANCELED_ON))

    assert (error.code, error.status_code) == ("permission_denied", 403)
    assert fresh(pro_from_jan_31).cancel_at_period_end is True


def test_billing_staff_may_resume_any_subscription(pro_from_jan_31, billing_staff_user):
    subscription_cancel(subscription=pro_from_jan_31, now=seoul(CANCELED_ON))

    subscription_resume(subscription=pro_from_jan_31, actor=billing_staff_user, now=seoul(CANCELED_ON))

    assert fresh(pro_from_jan_31).cancel_at_period_end is False


# --- the provider follows --------------------------------------------------------------------------------------------


def test_the_provider_copy_follows_the_resume_by_a_job(pro_from_jan_31, django_capture_on_commit_callbacks):
    Subscription.objects.filter(pk=pro_from_jan_31.pk).update(stripe_subscription_id="sub_resume_1")
    subscription = fresh(pro_from_jan_31)
    subscription_cancel(subscription=subscription, now=seoul(CANCELED_ON))
    assert Job.objects.filter(kind=JobKind.SUBSCRIPTION_PROVIDER_CANCEL).count() == 1

    subscription_resume(subscription=subscription, now=seoul(date(2025, 2, 11)))

    jobs = Job.objects.filter(kind=JobKind.SUBSCRIPTION_PROVIDER_CANCEL)
    assert jobs.count() == 2
    assert {job.payload["subscription_id"] for job in jobs} == {subscription.pk}
