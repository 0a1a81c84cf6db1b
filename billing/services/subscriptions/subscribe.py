"""Subscribe, change plan and checkout: a new subscription from today and its first invoice, paid by bank
transfer or through the payment provider (billing.providers).

The provider is never asked anything while a row of ours is locked. It prepares first (its customer, the card,
the price), with no lock held; a subscription not paid through it is then written in one transaction, as it always
was; one paid through it goes through a subscribe attempt (.attempts): recorded, charged, then our records written
or the charge compensated.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    LIVE_STATUSES,
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

from ..coupons import coupon_redeem, discount_lines, promotion_code_card_check, promotion_code_redeemable
from ..customers import customer_currency_validate
from ..invoices import InvoiceLineInput, invoice_draft_create, invoice_finalize, invoice_issue_for_order
from ..orders import OrderItemInput, order_create
from ..subscription_states import customer_lock, live_subscription_lock, subscription_lock
from .attempts import (
    SetupStale,
    paid_through_provider,
    subscribe_attempt_carry_out,
    subscribe_attempt_open,
    subscribe_in_progress,
)
from .changes import (
    pending_change_clear,
    pending_change_schedule,
    quantity_change_write,
    subscription_change_in_place,
)
from .common import (
    already_subscribed,
    billing_period_validate,
    keeps_price,
    plan_available,
    plan_line_description,
    plan_price_amount,
    quantity_validate,
    subscribe_currency,
    when_validate,
)
from .start import (
    SubscribeRequest,
    SubscriptionStart,
    provider_follow_enqueue,
    subscribe_check,
    subscription_paused_refuse,
    subscription_start_write,
    subscription_trial_start,
)

# The live subscription changing between the provider's preparation and our lock (a concurrent subscribe) in a
# way that changes who pays makes us prepare again; this many times at most.
PREPARE_TRIES = 3


def _subscribe(request: SubscribeRequest) -> SubscriptionStart:
    trial = subscription_trial_start(request)  # a free trial charges nothing: the provider is not asked
    if trial is not None:
        return trial
    provider = payment_provider()
    for _ in range(PREPARE_TRIES):
        with transaction.atomic():
            seen = subscribe_check(request)  # refuse early, before the provider is asked anything
            if request.coupon and paid_through_provider(request, seen):
                promotion_code_card_check(code=request.coupon)
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
        quantity=checked.quantity,
        coupon=checked.coupon,
    )
    provider_follow_enqueue(started)
    return started


def _is_upgrade(
    current: Subscription, *, plan: SubscriptionPlan, billing_period: str, quantity: int, moment: datetime
) -> bool:
    """A higher price per day: the new price over the days of the period it would have from today, against what
    the current subscription pays over the days of a period of its own from today (integers cross-multiplied)."""
    today = billing_date(moment)
    new_days = first_period(anchor=today, billing_period=billing_period).days
    current_days = first_period(anchor=today, billing_period=current.billing_period).days
    price = plan_price_amount(
        plan=plan,
        currency=current.currency,
        billing_period=billing_period,
        for_sale=not keeps_price(current, plan=plan, billing_period=billing_period),
    )
    return price * quantity * current_days > current.price_amount * new_days


def _already_scheduled(current: Subscription) -> ApplicationError:
    return ApplicationError(
        "already_subscribed",
        f"This change is already scheduled for {current.current_period_end}.",
        fields={"subscription_id": [str(current.pk)]},
        status_code=409,
    )


@transaction.atomic
def subscribe_route(
    request: SubscribeRequest, *, when: str, quantity: object, finalize: bool = True
) -> SubscribeRequest | SubscriptionStart:
    """Under the customer lock, what a subscribe or plan change does: a SubscriptionStart when it is done here (a
    change scheduled for the period end, a pending change dropped, seats added, a trial changed in place), or the
    request with its seats resolved when a new subscription starts now (none yet, an upgrade, `when` "now").
    A coupon sent with a change made here is redeemed for the live subscription (all of it undone if refused)."""
    routed = _route(request, when=when, quantity=quantity, finalize=finalize)
    if isinstance(routed, SubscriptionStart) and request.coupon:
        customer = customer_lock(request.customer_id)
        coupon_redeem(code=request.coupon, customer=customer, subscription=routed.subscription, moment=request.moment)
    return routed


def _route(
    request: SubscribeRequest, *, when: str, quantity: object, finalize: bool
) -> SubscribeRequest | SubscriptionStart:
    customer = customer_lock(request.customer_id)
    if request.subscription_id is None:
        current = live_subscription_lock(customer)
    else:
        current = subscription_lock(subscription_id=request.subscription_id)
        if current.status not in LIVE_STATUSES:
            raise ApplicationError(
                "subscription_not_active", f"Subscription {current.pk} is {current.status}.", status_code=409
            )
    billing_period = billing_period_validate(
        request.billing_period or (current.billing_period if current is not None else "")
    )
    keeps_plan = keeps_price(current, plan=request.plan, billing_period=billing_period)
    # Keeping the plan it has needs no offer of it (a retired plan is kept); any other plan must be offered now.
    plan = current.plan if current is not None and keeps_plan else plan_available(request.plan)
    if current is not None:  # a change stays in its currency (a new subscription's is chosen by subscribe_check)
        subscribe_currency(customer=customer, plan=plan, current=current, requested=request.currency, choose=False)
    if quantity is None:
        # A change between plans priced per seat keeps the seats; anything else has one.
        keeps_seats = current is not None and plan.per_seat and current.plan.per_seat
        quantity = current.quantity if current is not None and keeps_seats else 1
    seats = quantity_validate(quantity, plan=plan)
    resolved = dataclasses.replace(request, billing_period=billing_period, quantity=seats)
    if current is None or current.status == SubscriptionStatus.INCOMPLETE:
        return resolved  # nothing paid to wait for: `when` does not matter
    if keeps_plan and seats == current.quantity:
        if pending_change_clear(current):  # asking for what it has: the change waiting for the period end is dropped
            return SubscriptionStart(subscription=current, invoice=None, replaced=None)
        raise already_subscribed(current)
    subscription_paused_refuse(current)  # before anything is written or the provider is asked
    if current.status == SubscriptionStatus.TRIALING:
        subscription_change_in_place(current, plan=plan, billing_period=billing_period, quantity=seats)
        return SubscriptionStart(subscription=current, invoice=None, replaced=None)
    if keeps_plan:
        if seats > current.quantity and when != "period_end":
            return quantity_change_write(
                current, customer=customer, quantity=seats, moment=request.moment, finalize=finalize
            )
        if when == "now":
            return resolved  # fewer seats now: a new subscription, the old period credited pro rata
    elif when == "now" or (
        when == "auto"
        and (
            # An ending subscription has no period end to wait for: the change is made now, as it always was.
            current.cancel_at_period_end
            or _is_upgrade(current, plan=plan, billing_period=billing_period, quantity=seats, moment=request.moment)
        )
    ):
        return resolved
    if (current.pending_plan_id, current.pending_billing_period, current.pending_quantity) == (
        plan.pk,
        billing_period,
        seats,
    ):
        raise _already_scheduled(current)
    pending_change_schedule(current, plan=plan, billing_period=billing_period, quantity=seats, moment=request.moment)
    return SubscriptionStart(subscription=current, invoice=None, replaced=None, scheduled=True)


def _change_or_subscribe(request: SubscribeRequest, *, when: str, quantity: object) -> SubscriptionStart:
    routed = subscribe_route(request, when=when, quantity=quantity)
    if isinstance(routed, SubscriptionStart):
        return routed
    return _subscribe(routed)


def subscription_create(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    payment_method_id: str | None = None,
    now: datetime | None = None,
    when: str = "auto",
    quantity: object = None,
    coupon: str = "",
    currency: str | None = None,
) -> SubscriptionStart:
    """POST /api/payment/subscribe: subscribe from today and issue the first period's invoice.

    A customer with a live subscription changes plans. `when` "auto" (the default): an upgrade (a higher price per
    day, `_is_upgrade`) is made now, anything else at the end of the paid period; "now" and "period_end" say which.
    Now (the seed's auto-upgrade): the old subscription ends now and its unused days are credited as far as they
    were paid for (`replaced_period_settle`). At the period end: a pending change on the live subscription, nothing
    billed (`scheduled`, `invoice` None); a later one replaces it; the renewal applies it (`pending_change_apply`).
    The same plan, period and seats again: with a change pending, the change is dropped; else 409
    `already_subscribed` (also for the change already pending). Only more seats of the same plan: added now and
    billed pro rata (`subscription_quantity_change`). A trial changes in place and stays a trial. With no live
    subscription `when` does not matter. `quantity`: the seats (None: 1, or the current ones between plans priced
    per seat); 400 `invalid_quantity`, `plan_not_per_seat`, `invalid_when`.
    While the current period's invoice is partly paid, a change now is 409 `replaced_invoice_partly_paid` (pay the
    rest first), before anything is written. A paused subscription changes nothing: 409 `subscription_paused`
    (resume it first), before anything is written or the provider is asked.
    Paid by card (Stripe): a declined card is 402 and only a compensated attempt is kept; another card subscribe
    of the customer being charged at that moment is 409 `subscribe_in_progress`.
    `coupon`: a promotion code, checked before anything is written or charged (400 `invalid_coupon` saying why, 409
    `coupon_already_redeemed`) and redeemed in the transaction that writes the subscription: its first invoice
    is discounted (a trial's first invoice after it).
    `currency`: what a first subscription is billed in (400 `unsupported_currency`), among the plan's prices; it
    becomes the customer's currency, fixed from then on. Default: the customer's currency if the plan is sold in
    it, else the plan's default. A customer whose currency is fixed, and a plan change, stay in theirs: another
    `currency`, or a plan not sold in it, is 409 `currency_mismatch` (`subscribe_currency`).
    """
    billing_period_validate(billing_period)
    when_validate(when)
    if currency is not None:
        customer_currency_validate(currency)
    moment = now or timezone.now()
    if coupon:
        live = Subscription.objects.filter(customer_id=customer.pk, status__in=LIVE_STATUSES).first()
        promotion_code_redeemable(
            code=coupon,
            customer=customer,
            plan=plan,
            billing_period=billing_period,
            now=moment,
            currency=subscribe_currency(customer=customer, plan=plan, current=live, requested=currency, choose=False),
        )
    payment_provider().payment_method_check(payment_method_id=payment_method_id)
    request = SubscribeRequest(
        customer_id=customer.pk,
        plan=plan,
        billing_period=billing_period,
        payment_method_id=payment_method_id,
        moment=moment,
        coupon=coupon,
        currency=currency,
    )
    return _change_or_subscribe(request, when=when, quantity=quantity)


def subscription_change_plan(
    *,
    subscription: Subscription,
    plan: SubscriptionPlan,
    billing_period: str | None = None,
    now: datetime | None = None,
    actor: Any = None,
    when: str = "now",
    quantity: object = None,
) -> SubscriptionStart:
    """Move a live subscription to another plan or period (admin; the API does it through subscribe).

    `when` "now" (the default here: staff mean it): the subscription ends now, credited pro rata of what was paid
    for its period (`replaced_period_settle`), and a new one starts today with its own invoice. "auto" and
    "period_end" as for `subscription_create`. While that period's invoice is partly paid: 409
    `replaced_invoice_partly_paid`, before anything is written; paused: 409 `subscription_paused` (resume it
    first). A subscription paid by card moves to the new plan
    the same way (the card on file pays it).
    `actor` None is the system; a user needs billing.change_subscription.
    """
    permission_require(actor=actor, permission="billing.change_subscription")
    when_validate(when)
    request = SubscribeRequest(
        customer_id=subscription.customer_id,
        plan=plan,
        billing_period=billing_period,
        payment_method_id=None,
        moment=now or timezone.now(),
        subscription_id=subscription.pk,
    )
    return _change_or_subscribe(request, when=when, quantity=quantity)


# --- checkout (subscription paid before it starts) ----------------------------------------------------


@dataclass(frozen=True)
class SubscriptionCheckout:
    subscription: Subscription
    invoice: Invoice


@transaction.atomic
def subscription_checkout(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    now: datetime | None = None,
    coupon: str = "",
) -> SubscriptionCheckout:
    """POST /api/payment/checkout with a plan: an order, its open invoice and an `incomplete` subscription.

    The subscription becomes active when the invoice is paid, and expires (its invoice voided) if the
    invoice is still unpaid after its due date. A customer who already has a live subscription changes
    plans with subscribe instead (409 `subscription_exists`).
    `coupon`: a promotion code redeemed for the subscription (400 `invalid_coupon`, 409 `coupon_already_redeemed`);
    the invoice has its `discount` line, the order its item at the discounted price. A coupon that leaves nothing
    to pay is 400 `invalid_coupon` (subscribe instead).
    In the customer's currency, chosen now if it is not fixed yet, as a subscribe without `currency` would
    (`subscribe_currency`; 409 `currency_mismatch` for a plan not sold in a fixed one).
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
    currency = subscribe_currency(customer=locked_customer, plan=fresh_plan, current=None, requested=None)
    price = plan_price_amount(plan=fresh_plan, currency=currency, billing_period=billing_period)
    if price == 0:
        raise ApplicationError(
            "nothing_to_pay",
            f"The {fresh_plan.slug} plan is free; subscribe to it with POST /api/payment/subscribe.",
            fields={"plan": ["Free plan."]},
        )
    if coupon:
        promotion_code_redeemable(
            code=coupon,
            customer=locked_customer,
            plan=fresh_plan,
            billing_period=billing_period,
            now=moment,
            currency=currency,
        )
    today = billing_date(moment)
    period = first_period(anchor=today, billing_period=billing_period)
    subscription = Subscription.objects.create(
        customer=locked_customer,
        plan=fresh_plan,
        billing_period=billing_period,
        status=SubscriptionStatus.INCOMPLETE,
        currency=currency,
        price_amount=price,
        billing_cycle_anchor=today,
        current_period_start=period.start,
        current_period_end=period.end,
        created_at=moment,
    )
    if coupon:
        coupon_redeem(code=coupon, customer=locked_customer, subscription=subscription, moment=moment)
    language = locked_customer.preferred_language
    description = plan_line_description(plan=fresh_plan, billing_period=billing_period, language=language)
    item = f"{description} {period.start:%Y-%m-%d} ~ {period.last_day:%Y-%m-%d}"
    charge = InvoiceLineInput(description=item, unit_amount=price)
    discounts = discount_lines(subscription=subscription, lines=[charge], moment=moment, language=language)
    discounted = price + sum(line.unit_amount for line in discounts)
    if discounted <= 0:
        raise ApplicationError(
            "invalid_coupon",
            "This coupon leaves nothing to pay: subscribe with POST /api/payment/subscribe instead.",
            fields={"coupon": ["Nothing left to pay."]},
        )
    invoice_description = plan_line_description(
        plan=fresh_plan, billing_period=billing_period, language=language, key="invoice"
    )
    order = order_create(
        customer=locked_customer,
        # An order item is never negative: the discount is in the item's price, and a line of its own on the invoice.
        items=[OrderItemInput(description=item, unit_amount=discounted)],
        currency=currency,
        description=invoice_description,
    )
    if discounts:
        draft = invoice_draft_create(
            customer=locked_customer,
            lines=[charge, *discounts],
            currency=currency,
            tax=order.tax,
            order=order,
            description=invoice_description,
        )
        invoice = invoice_finalize(invoice=draft)
    else:
        invoice = invoice_issue_for_order(order=order)
    SubscriptionInvoice.objects.create(
        subscription=subscription,
        invoice=invoice,
        reason=SubscriptionInvoiceReason.CREATE,
        period_start=period.start,
        period_end=period.end,
    )
    return SubscriptionCheckout(subscription=subscription, invoice=invoice)
