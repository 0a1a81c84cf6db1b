"""Subscribe, change plan and checkout: a new subscription from today and its first invoice, paid by bank
transfer or through the payment provider (billing.providers).

The provider is never asked anything while a row of ours is locked. It prepares first (its customer, the card,
the price), with no lock held; a subscription not paid through it is then written in one transaction, as it always
was; one paid through it goes through a subscribe attempt (.attempts): recorded, charged, then our records written
or the charge compensated.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    Subscription,
    SubscriptionInvoice,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
)
from billing.periods import billing_date, first_period
from billing.providers import payment_provider
from billing.providers.base import SubscriptionSetup
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from ..invoices import invoice_issue_for_order
from ..orders import OrderItemInput, order_create
from ..subscription_states import customer_lock, live_subscription_lock
from .attempts import (
    SetupStale,
    paid_through_provider,
    subscribe_attempt_carry_out,
    subscribe_attempt_open,
    subscribe_in_progress,
)
from .common import already_subscribed, billing_period_validate, plan_available, plan_line_description
from .start import (
    SubscribeRequest,
    SubscriptionStart,
    provider_follow_enqueue,
    subscribe_check,
    subscription_start_write,
)

# The live subscription changing between the provider's preparation and our lock (a concurrent subscribe) in a
# way that changes who pays makes us prepare again; this many times at most.
PREPARE_TRIES = 3


def _subscribe(request: SubscribeRequest) -> SubscriptionStart:
    provider = payment_provider()
    for _ in range(PREPARE_TRIES):
        with transaction.atomic():
            seen = subscribe_check(request)  # refuse early, before the provider is asked anything
        setup = provider.subscription_prepare(
            customer=seen.customer,
            plan=seen.plan,
            billing_period=seen.billing_period,
            payment_method_id=request.payment_method_id,
            replacing=seen.current,
        )
        try:
            if not setup.customer_reference:
                return _subscribe_without_provider(request, setup)
            attempt = subscribe_attempt_open(request=request, setup=setup, provider_name=provider.name)
        except SetupStale:
            continue
        return subscribe_attempt_carry_out(provider=provider, attempt=attempt, setup=setup, request=request)
    raise subscribe_in_progress()


@transaction.atomic
def _subscribe_without_provider(request: SubscribeRequest, setup: SubscriptionSetup) -> SubscriptionStart:
    """Paid by bank transfer within the invoice's terms: written in one transaction, no provider call."""
    checked = subscribe_check(request)
    if paid_through_provider(request, checked) != bool(setup.customer_reference):
        raise SetupStale
    started = subscription_start_write(
        customer=checked.customer,
        plan=checked.plan,
        billing_period=checked.billing_period,
        replacing=checked.current,
        moment=request.moment,
    )
    provider_follow_enqueue(started)
    return started


def subscription_create(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    payment_method_id: str | None = None,
    now: datetime | None = None,
) -> SubscriptionStart:
    """POST /api/payment/subscribe: subscribe from today and issue the first period's invoice.

    A customer with a live subscription is moved to the new plan (the seed's auto-upgrade): the old one
    ends now and its unused days are credited as far as they were paid for (`replaced_period_settle`).
    The same plan and period again is 409 `already_subscribed`; while the current period's invoice is partly
    paid, 409 `replaced_invoice_partly_paid` (pay the rest first), before anything is written.
    Paid by card (Stripe): a declined card is 402 and only a compensated attempt is kept; another card subscribe
    of the customer being charged at that moment is 409 `subscribe_in_progress`.
    """
    billing_period_validate(billing_period)
    payment_provider().payment_method_check(payment_method_id=payment_method_id)
    return _subscribe(
        SubscribeRequest(
            customer_id=customer.pk,
            plan=plan,
            billing_period=billing_period,
            payment_method_id=payment_method_id,
            moment=now or timezone.now(),
        )
    )


def subscription_change_plan(
    *,
    subscription: Subscription,
    plan: SubscriptionPlan,
    billing_period: str | None = None,
    now: datetime | None = None,
    actor: Any = None,
) -> SubscriptionStart:
    """Move a live subscription to another plan or period (admin; the API does it through subscribe).

    The subscription ends now, credited pro rata of what was paid for its period (`replaced_period_settle`),
    and a new one starts today with its own invoice. While that period's invoice is partly paid: 409
    `replaced_invoice_partly_paid`, before anything is written. A subscription paid by card moves to the new plan
    the same way (the card on file pays it).
    `actor` None is the system; a user needs billing.change_subscription.
    """
    permission_require(actor=actor, permission="billing.change_subscription")
    return _subscribe(
        SubscribeRequest(
            customer_id=subscription.customer_id,
            plan=plan,
            billing_period=billing_period,
            payment_method_id=None,
            moment=now or timezone.now(),
            subscription_id=subscription.pk,
        )
    )


# --- checkout (subscription paid before it starts) ----------------------------------------------------


@dataclass(frozen=True)
class SubscriptionCheckout:
    subscription: Subscription
    invoice: Invoice


@transaction.atomic
def subscription_checkout(
    *, customer: Customer, plan: SubscriptionPlan, billing_period: str, now: datetime | None = None
) -> SubscriptionCheckout:
    """POST /api/payment/checkout with a plan: an order, its open invoice and an `incomplete` subscription.

    The subscription becomes active when the invoice is paid, and expires (its invoice voided) if the
    invoice is still unpaid after its due date. A customer who already has a live subscription changes
    plans with subscribe instead (409 `subscription_exists`).
    """
    billing_period_validate(billing_period)
    moment = now or timezone.now()
    locked_customer = customer_lock(customer.pk)
    fresh_plan = plan_available(plan)
    current = live_subscription_lock(locked_customer)
    if current is not None:
        if current.plan_id == fresh_plan.pk and current.billing_period == billing_period:
            raise already_subscribed(current)
        raise ApplicationError(
            "subscription_exists",
            "You already have a subscription; change plans with POST /api/payment/subscribe.",
            fields={"subscription_id": [str(current.pk)]},
            status_code=409,
        )
    price = fresh_plan.price_for(billing_period)
    if price == 0:
        raise ApplicationError(
            "nothing_to_pay",
            f"The {fresh_plan.slug} plan is free; subscribe to it with POST /api/payment/subscribe.",
            fields={"plan": ["Free plan."]},
        )
    today = billing_date(moment)
    period = first_period(anchor=today, billing_period=billing_period)
    subscription = Subscription.objects.create(
        customer=locked_customer,
        plan=fresh_plan,
        billing_period=billing_period,
        status=SubscriptionStatus.INCOMPLETE,
        currency=fresh_plan.currency,
        price_amount=price,
        billing_cycle_anchor=today,
        current_period_start=period.start,
        current_period_end=period.end,
        created_at=moment,
    )
    language = locked_customer.preferred_language
    description = plan_line_description(plan=fresh_plan, billing_period=billing_period, language=language)
    order = order_create(
        customer=locked_customer,
        items=[
            OrderItemInput(
                description=f"{description} {period.start:%Y-%m-%d} ~ {period.last_day:%Y-%m-%d}", unit_amount=price
            )
        ],
        currency=fresh_plan.currency,
        description=plan_line_description(
            plan=fresh_plan, billing_period=billing_period, language=language, key="invoice"
        ),
    )
    invoice = invoice_issue_for_order(order=order)
    SubscriptionInvoice.objects.create(
        subscription=subscription,
        invoice=invoice,
        reason=SubscriptionInvoiceReason.CREATE,
        period_start=period.start,
        period_end=period.end,
    )
    return SubscriptionCheckout(subscription=subscription, invoice=invoice)
