"""The provider's renewal charges kept at our VAT: a card subscription's tax rate follows its customer's treatment
when staff change it, and the scheduled rate of its next renewal (a daily check before each renewal).

The provider (Stripe) charges a card subscription's renewals itself, with a tax rate it was given at the subscribe
(the customer's treatment, today's rate). Our invoice for a renewal carries the customer's treatment at the
scheduled rate of its issue day (billing.tax). Both checks enqueue the provider follow job
(`billing.subscription_provider_cancel`: the provider's copy made to match ours, tax rate included); the job reads
ours and the provider's after commit, holds no lock of ours, changes only what differs and is retried with backoff
when the provider is down.
"""

from datetime import date, timedelta

from django.db.models import Q

from billing.enums import JobKind
from billing.models import Customer
from billing.models.subscriptions import LIVE_STATUSES, RENEWING_STATUSES, Subscription, SubscriptionStatus
from billing_site.jobs.services import job_enqueue, jobs_enqueue_many

# A card subscription's tax rate is checked on each of these days before its renewal (and on the day itself): a
# rate change scheduled, or a check that failed, is still caught by one of the later days.
TAX_RATE_CHECK_DAYS = 3
JOB_KEY_PREFIX = "subscription_provider_tax"


def _collected_by_provider() -> Q:
    return ~Q(stripe_subscription_id="")


def subscriptions_tax_follow_enqueue(*, customer: Customer) -> int:
    """After staff changed the customer's tax treatment, in the same transaction: the provider's copy of each live
    subscription of theirs it collects follows ours once this commits (its tax rate: the new treatment's, at the
    rate of the next renewal). One job per change (the customer's revision, `updated_at`), so changing back and
    forth is a job each time. Returns how many subscriptions were asked for."""
    revision = customer.updated_at.isoformat()  # microseconds: each change its own key
    ids = list(
        Subscription.objects.filter(_collected_by_provider(), customer_id=customer.pk, status__in=LIVE_STATUSES)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    for subscription_id in ids:
        job_enqueue(
            kind=JobKind.SUBSCRIPTION_PROVIDER_CANCEL,
            key=f"{JOB_KEY_PREFIX}:{subscription_id}:treatment:{revision}",
            payload={"subscription_id": subscription_id},
        )
    return len(ids)


def subscriptions_renewing_soon(*, as_of: date) -> list[int]:
    """Ids of the live subscriptions the provider collects whose next renewal (Subscription.next_billing_date) is
    `as_of` or one of the TAX_RATE_CHECK_DAYS after it."""
    last = as_of + timedelta(days=TAX_RATE_CHECK_DAYS)
    renewing = Q(status__in=sorted(RENEWING_STATUSES), current_period_end__range=(as_of, last))
    trial_ending = Q(status=SubscriptionStatus.TRIALING, trial_end__range=(as_of, last))
    return list(
        Subscription.objects.filter(renewing | trial_ending, _collected_by_provider(), cancel_at_period_end=False)
        .order_by("id")
        .values_list("pk", flat=True)
    )


def subscriptions_tax_rates_check(*, as_of: date) -> int:
    """The daily check (an Asia/Seoul day): each card subscription renewing within TAX_RATE_CHECK_DAYS gets a
    provider follow job, which compares the tax rate the provider has with the one our invoice for that renewal
    will carry (a rate change scheduled on or before it) and switches it if they differ. No external call here and
    no row locked: the jobs do that after commit. One job per subscription and day, so a second run (or a second
    beat) that day adds nothing. Returns how many jobs were new."""
    day = as_of.isoformat()
    return jobs_enqueue_many(
        kind=JobKind.SUBSCRIPTION_PROVIDER_CANCEL,
        items=[
            (f"{JOB_KEY_PREFIX}:{pk}:{day}", {"subscription_id": pk}) for pk in subscriptions_renewing_soon(as_of=as_of)
        ],
    )
