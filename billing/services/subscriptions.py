"""Subscription writes: subscribe (auto-upgrade with pro rata credit), change plan, cancel, renew, dunning.

Every change locks the customer row first and the subscription row second (always in that order, so a
renewal and a subscribe of one customer queue instead of deadlocking), re-checks the state against
billing.models.subscriptions.SUBSCRIPTION_TRANSITIONS and only then changes it. A period is invoiced
through billing.services.invoices and linked by a SubscriptionInvoice, unique per (subscription, period
start), so no period is ever billed twice.

Plan prices are supply amounts; invoices add VAT. A plan change credits only what was received for the
period it leaves (`_replaced_period_settle`, the one place credit is made): the unused days of that period
times the part of its price that was paid (by money, or by credit applied to its invoice, itself money-backed),
truncated to the minor unit, never the list price of an unpaid period. An unpaid invoice of that period is
voided and what it asked for the days used is billed again on the new invoice. A partly paid one can be neither
voided (it has money on it) nor edited (it is issued), so the plan change is refused (409
`replaced_invoice_partly_paid`) until the rest is paid or staff settle it. What the new invoice cannot
absorb goes to the customer's credit balance, which later subscription invoices use up; so every credit
balance and every invoice "paid" by credit traces back to money received.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from billing.enums import INVOICE_PAYABLE_STATUSES, InvoiceStatus, Language, PaymentStatus
from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    LIVE_STATUSES,
    RENEWING_STATUSES,
    CancellationReason,
    Subscription,
    SubscriptionInvoice,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
    subscription_transition_allowed,
)
from billing.periods import (
    BillingPeriod,
    ServicePeriod,
    billing_date,
    billing_day_start,
    first_period,
    next_period,
)
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from . import stripe_sync
from .invoices import (
    InvoiceLineInput,
    invoice_draft_create,
    invoice_finalize,
    invoice_issue_for_order,
    invoice_lock,
    invoice_void,
)
from .orders import OrderItemInput, order_cancel, order_create

logger = logging.getLogger(__name__)

PERIOD_LABELS = {
    BillingPeriod.MONTHLY: {Language.KOREAN: "월간", Language.ENGLISH: "monthly"},
    BillingPeriod.ANNUAL: {Language.KOREAN: "연간", Language.ENGLISH: "annual"},
}
LINE_TEXT = {
    "plan": {Language.KOREAN: "{plan} 플랜 ({period})", Language.ENGLISH: "{plan} plan ({period})"},
    "credit": {
        Language.KOREAN: "미사용 기간 크레딧: {plan} 플랜 ({period})",
        Language.ENGLISH: "Unused time on {plan} plan ({period})",
    },
    "balance": {Language.KOREAN: "크레딧 잔액 사용", Language.ENGLISH: "Credit balance applied"},
    # A plan change voided the unpaid invoice of the period it left: what that invoice asked for the days used.
    "carried": {
        Language.KOREAN: "미납 청구서 {number} 취소분 중 사용 기간: {plan} 플랜 ({period})",
        Language.ENGLISH: "Used time on {plan} plan ({period}) from unpaid invoice {number}, voided",
    },
    # ...and the credit that invoice had used, given back.
    "released": {
        Language.KOREAN: "취소된 청구서 {number}에 사용된 크레딧 반환",
        Language.ENGLISH: "Credit used by voided invoice {number}, returned",
    },
    "invoice": {
        Language.KOREAN: "{plan} 플랜 구독 ({period})",
        Language.ENGLISH: "{plan} plan subscription ({period})",
    },
}


def _text(key: str, language: str, **values: str) -> str:
    templates = LINE_TEXT[key]
    return templates.get(language, templates[Language.KOREAN]).format(**values)


def plan_line_description(
    *, plan: SubscriptionPlan, billing_period: str, language: str, key: str = "plan", **values: str
) -> str:
    labels = PERIOD_LABELS[billing_period]
    return _text(
        key,
        language,
        plan=plan.display_name(language),
        period=labels.get(language, labels[Language.KOREAN]),
        **values,
    )


# --- pure arithmetic ----------------------------------------------------------------------------------


def proration_credit(
    *, amount: int, currency: str, period: ServicePeriod, on: date, paid_share: Fraction = Fraction(1)
) -> int:
    """The credit for the days of `period` not used when leaving on `on`: amount x paid share x unused / days,
    truncated to the minor unit of `currency` (exact integer arithmetic on minor units, no rounding before).

    `paid_share` is the part of `amount` that was paid for (`paid_share`); a plan change never credits more.
    Leaving on the first day credits amount x share; on or after the last boundary, nothing.
    """
    unused = period.unused_days(on=on)
    if unused == 0 or amount <= 0 or paid_share <= 0:
        return 0
    share = min(paid_share, Fraction(1))
    return (amount * unused * share.numerator) // (period.days * share.denominator)


def paid_share(*, charges: int, credits: int, subtotal: int, total: int, received: int) -> Fraction:
    """The part of an invoice's charges that was paid for: by credit applied to it, and by money received.

    Money pays the total, VAT included, so `received` pays the supply amount subtotal x received / total. Credit
    lines count in full: every credit is itself money-backed (`_replaced_period_settle`). An invoice that asks
    nothing (fully credited, or a free plan) is paid for in full.
    """
    if charges <= 0 or total <= 0:
        return Fraction(1)
    money_supply = Fraction(subtotal * min(max(received, 0), total), total)
    return min(Fraction(1), (credits + money_supply) / charges)


@dataclass(frozen=True)
class CreditSplit:
    """How a pro rata credit lands: on the new invoice (at most its charges) and the rest on the balance."""

    on_invoice: int
    to_balance: int


def credit_split(*, credit: int, charges: int) -> CreditSplit:
    on_invoice = min(credit, max(charges, 0))
    return CreditSplit(on_invoice=on_invoice, to_balance=credit - on_invoice)


# --- locks and transitions ----------------------------------------------------------------------------


def _customer_lock(customer_id: int) -> Customer:
    """The customer row, locked: every subscription change of one customer queues on it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("_customer_lock must run inside a transaction.")
    return Customer.objects.select_for_update().get(pk=customer_id)


def subscription_lock(*, subscription_id: int) -> Subscription:
    """The subscription row, locked until the surrounding transaction ends (lock its customer first)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("subscription_lock must run inside a transaction.")
    try:
        # of=("self",): lock the subscription, not its plan (that would queue every customer of the plan).
        return Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription_id)
    except Subscription.DoesNotExist as error:
        raise ApplicationError("not_found", "Not found.", status_code=404) from error


def _live_subscription_lock(customer: Customer) -> Subscription | None:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(customer=customer, status__in=LIVE_STATUSES)
        .first()
    )


def _status_change(locked: Subscription, target: str, *, moment: datetime, reason: str = "") -> None:
    """Move a locked subscription along SUBSCRIPTION_TRANSITIONS, stamping what the new state needs."""
    if not subscription_transition_allowed(locked.status, target):
        raise ApplicationError(
            "invalid_subscription_transition",
            f"Subscription {locked.pk} is {locked.status}; it cannot become {target}.",
            status_code=409,
        )
    logger.info("subscription %s: %s -> %s %s", locked.pk, locked.status, target, reason)
    locked.status = target
    fields = ["status", "updated_at"]
    if target == SubscriptionStatus.CANCELED:
        locked.ended_at = moment
        locked.canceled_at = locked.canceled_at or moment
        locked.cancellation_reason = reason or CancellationReason.REQUESTED
        fields += ["ended_at", "canceled_at", "cancellation_reason"]
    locked.save(update_fields=fields)


def _billing_period_validate(billing_period: str) -> str:
    if billing_period not in BillingPeriod.values:
        raise ApplicationError(
            "invalid_billing_period",
            f"billing_period must be one of {', '.join(BillingPeriod.values)}.",
            fields={"billing_period": ["Unknown billing period."]},
        )
    return billing_period


def _plan_available(plan: SubscriptionPlan) -> SubscriptionPlan:
    fresh = SubscriptionPlan.objects.filter(pk=plan.pk, is_active=True).first()
    if fresh is None:
        raise ApplicationError(
            "plan_not_available",
            f"Plan {plan.slug!r} is not offered any more.",
            fields={"plan": ["Unknown or retired plan."]},
        )
    return fresh


def _card_payments_check(payment_method_id: str | None) -> None:
    # The Stripe integration takes over here: attach the payment method and create the Stripe subscription.
    if payment_method_id and not settings.STRIPE_ENABLED:
        raise ApplicationError(
            "card_payments_unavailable",
            "Card payments are not enabled; leave out payment_method_id to pay the invoice by bank transfer.",
            fields={"payment_method_id": ["Card payments are not enabled."]},
        )


def _already_subscribed(current: Subscription) -> ApplicationError:
    return ApplicationError(
        "already_subscribed",
        f"You are already subscribed to {current.plan.slug} ({current.billing_period}).",
        fields={"subscription_id": [str(current.pk)]},
        status_code=409,
    )


# --- invoices of periods ------------------------------------------------------------------------------


def _credit_balance_apply(customer: Customer, lines: list[InvoiceLineInput], *, currency: str) -> int:
    """Use the locked customer's credit balance against the lines' charges: a negative line, the balance down."""
    remaining = sum(line.quantity * line.unit_amount for line in lines)
    if customer.currency != currency or customer.credit_balance <= 0 or remaining <= 0:
        return 0
    used = min(customer.credit_balance, remaining)
    customer.credit_balance -= used
    customer.save(update_fields=["credit_balance", "updated_at"])
    lines.append(InvoiceLineInput(description=_text("balance", customer.preferred_language), unit_amount=-used))
    return used


def _credit_balance_add(customer: Customer, amount: int, *, currency: str) -> None:
    if customer.currency != currency:
        raise ApplicationError(
            "currency_mismatch",
            f"A {currency} credit cannot go on a {customer.currency} credit balance.",
            status_code=409,
        )
    customer.credit_balance += amount
    customer.save(update_fields=["credit_balance", "updated_at"])


def _period_invoice_issue(
    *,
    customer: Customer,
    subscription: Subscription,
    period: ServicePeriod,
    lines: list[InvoiceLineInput],
    reason: str,
    moment: datetime,
    days_until_due: int | None = None,
) -> Invoice:
    """Draft, link to the period (the unique constraint refuses a second one) and only then finalize."""
    draft = invoice_draft_create(
        customer=customer,
        lines=lines,
        currency=subscription.currency,
        days_until_due=days_until_due,
        description=plan_line_description(
            plan=subscription.plan,
            billing_period=subscription.billing_period,
            language=customer.preferred_language,
            key="invoice",
        ),
    )
    try:
        with transaction.atomic():
            SubscriptionInvoice.objects.create(
                subscription=subscription,
                invoice=draft,
                reason=reason,
                period_start=period.start,
                period_end=period.end,
            )
    except IntegrityError as error:
        raise ApplicationError(
            "period_already_invoiced",
            f"Subscription {subscription.pk} already has an invoice for the period starting {period.start}.",
            status_code=409,
        ) from error
    return invoice_finalize(invoice=draft, now=moment)


def _charge_line(subscription: Subscription, period: ServicePeriod, language: str) -> InvoiceLineInput:
    return InvoiceLineInput(
        description=plan_line_description(
            plan=subscription.plan, billing_period=subscription.billing_period, language=language
        ),
        unit_amount=subscription.price_amount,
        period_start=period.start,
        period_end=period.last_day,
    )


def _unpaid_invoices_void(subscription: Subscription) -> None:
    """Void what an incomplete subscription still asks for (it never started), and cancel its orders."""
    for link in subscription.period_invoices.select_related("invoice").filter(
        invoice__status__in=INVOICE_PAYABLE_STATUSES
    ):
        voided = invoice_void(invoice=link.invoice, actor=None)
        if voided.order_id is not None:
            order_cancel(order=voided.order)


@dataclass(frozen=True)
class PeriodSettlement:
    """What leaving a subscription's current period settles (`_replaced_period_settle`)."""

    credit: int = 0  # money-backed: the paid-for unused days, or the credit a voided invoice had used
    carried: int = 0  # a voided unpaid invoice's charges for the days used (and debt carried onto it): billed again
    voided: Invoice | None = None


def _money_received(invoice: Invoice) -> int:
    """Money that came in for the invoice and stayed: its succeeded payments (refunded ones are not counted)."""
    received = invoice.payments.filter(status=PaymentStatus.SUCCEEDED).aggregate(total=Sum("amount"))["total"]
    return received or 0


def _replaced_period_invoice(replacing: Subscription) -> Invoice | None:
    """The invoice of the period a plan change leaves, locked (so no payment lands meanwhile); None if it has none."""
    link = replacing.period_invoices.filter(period_start=replacing.current_period_start).first()
    return None if link is None else invoice_lock(invoice_id=link.invoice_id)


def _replaced_invoice_partly_paid_refuse(invoice: Invoice | None) -> None:
    """409 `replaced_invoice_partly_paid` while the period a plan change leaves is paid in part and still owed.

    Such an invoice can be neither voided (it has money on it) nor edited (it is issued), and there are no credit
    notes yet: crediting the paid share while the invoice stays owed in full would bill the same days twice. So
    the change waits until the rest is paid (then it is prorated in full) or staff settle the invoice.
    Checked before anything is written (and before Stripe is called).
    """
    if invoice is None or invoice.status not in INVOICE_PAYABLE_STATUSES:
        return
    if 0 < invoice.amount_paid < invoice.total:
        raise ApplicationError(
            "replaced_invoice_partly_paid",
            f"Invoice {invoice.number} of the current period is partly paid ({invoice.amount_paid} of "
            f"{invoice.total} {invoice.currency}): pay the rest of it first, or have staff settle it, "
            "before changing plans.",
            status_code=409,
        )


def _replaced_period_settle(replacing: Subscription, *, on: date) -> PeriodSettlement:
    """The one place a plan change makes credit: only of what was received for the period it leaves on `on`.

    The period's invoice (locked, so no payment lands meanwhile) was paid by money (its succeeded Payment rows)
    and by credit applied to it (pro rata and credit balance lines, money-backed by this same rule):
    - paid in full: credit = price x paid share x unused days / days, truncated (`paid_share`).
    - paid in part and still owed: refused, 409 `replaced_invoice_partly_paid`, before anything is written
      (`_replaced_invoice_partly_paid_refuse`; the callers check it first too, before Stripe is called).
    - nothing paid: the invoice is voided, never turned into credit. The credit it had used is given back,
      and what it asked for the days used (with any debt carried onto it) is billed again on the new invoice,
      so a plan change forgives nothing either.
    - an incomplete subscription never started: its invoices are voided, nothing is credited or billed again.
    A period whose invoice staff voided (or that has none) was not paid for: nothing is credited.
    """
    invoice = _replaced_period_invoice(replacing)
    _replaced_invoice_partly_paid_refuse(invoice)
    if replacing.status == SubscriptionStatus.INCOMPLETE:
        _unpaid_invoices_void(replacing)
        return PeriodSettlement()
    if invoice is None:
        return PeriodSettlement()
    amounts = list(invoice.lines.values_list("amount", flat=True))
    charges = sum(amount for amount in amounts if amount > 0)
    credits = -sum(amount for amount in amounts if amount < 0)
    period = replacing.current_period
    if invoice.status in INVOICE_PAYABLE_STATUSES and invoice.amount_paid == 0:
        voided = invoice_void(invoice=invoice, actor=None)
        if voided.order_id is not None:
            order_cancel(order=voided.order)
        unused = proration_credit(amount=replacing.price_amount, currency=replacing.currency, period=period, on=on)
        return PeriodSettlement(credit=credits, carried=max(0, charges - unused), voided=voided)
    if invoice.status == InvoiceStatus.VOID:
        return PeriodSettlement()
    share = paid_share(
        charges=charges,
        credits=credits,
        subtotal=invoice.subtotal,
        total=invoice.total,
        received=_money_received(invoice),
    )
    return PeriodSettlement(
        credit=proration_credit(
            amount=replacing.price_amount, currency=replacing.currency, period=period, on=on, paid_share=share
        )
    )


# --- subscribe and change plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionStart:
    """What subscribing did: the new subscription, its first invoice, and what happened to the old one."""

    subscription: Subscription
    invoice: Invoice
    replaced: Subscription | None
    credit: int = 0  # made by the replaced period (`_replaced_period_settle`): money-backed, never the list price
    credit_on_invoice: int = 0
    credit_to_balance: int = 0
    balance_used: int = 0
    carried: int = 0  # the voided unpaid invoice's charges for the days used, billed again on this invoice
    voided_invoice: Invoice | None = None  # the replaced period's unpaid invoice, voided


def _subscription_start(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    replacing: Subscription | None,
    moment: datetime,
) -> SubscriptionStart:
    """The shared body of subscribe and change plan; the customer (and `replacing`) are locked by the caller."""
    today = billing_date(moment)
    settled = PeriodSettlement()
    if replacing is not None:
        settled = _replaced_period_settle(replacing, on=today)
        if (settled.credit or settled.carried) and replacing.currency != plan.currency:
            raise ApplicationError(
                "currency_mismatch", f"Cannot move from a {replacing.currency} plan to a {plan.currency} plan."
            )
        _status_change(replacing, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.REPLACED)

    period = first_period(anchor=today, billing_period=billing_period)
    subscription = Subscription.objects.create(
        customer=customer,
        plan=plan,
        billing_period=billing_period,
        # Stripe off: the invoice is paid by bank transfer within its terms, and service starts now.
        status=SubscriptionStatus.ACTIVE,
        currency=plan.currency,
        price_amount=plan.price_for(billing_period),
        billing_cycle_anchor=today,
        current_period_start=period.start,
        current_period_end=period.end,
        replaces=replacing,
        created_at=moment,
    )
    language = customer.preferred_language
    lines = [_charge_line(subscription, period, language)]
    days_until_due = None
    voided_number = (settled.voided.number or "") if settled.voided is not None else ""
    if settled.carried and replacing is not None:
        last_used = min(today, replacing.current_period_end) - timedelta(days=1)
        used = last_used >= replacing.current_period_start
        lines.append(
            InvoiceLineInput(
                description=plan_line_description(
                    plan=replacing.plan,
                    billing_period=replacing.billing_period,
                    language=language,
                    key="carried",
                    number=voided_number,
                ),
                unit_amount=settled.carried,
                period_start=replacing.current_period_start if used else None,
                period_end=last_used if used else None,
            )
        )
        if settled.voided is not None and settled.voided.due_date is not None:
            # Moving a debt onto a new invoice does not postpone it.
            days_until_due = min(settings.BILLING_INVOICE_DUE_DAYS, max(0, (settled.voided.due_date - today).days))
    split = credit_split(credit=settled.credit, charges=subscription.price_amount + settled.carried)
    if split.on_invoice and replacing is not None:
        if settled.voided is not None:
            credit_line = InvoiceLineInput(
                description=_text("released", language, number=voided_number), unit_amount=-split.on_invoice
            )
        else:
            credit_line = InvoiceLineInput(
                description=plan_line_description(
                    plan=replacing.plan, billing_period=replacing.billing_period, language=language, key="credit"
                ),
                unit_amount=-split.on_invoice,
                period_start=today,
                period_end=replacing.current_period.last_day,
            )
        lines.append(credit_line)
    if split.to_balance:
        _credit_balance_add(customer, split.to_balance, currency=subscription.currency)
    balance_used = _credit_balance_apply(customer, lines, currency=subscription.currency)
    invoice = _period_invoice_issue(
        customer=customer,
        subscription=subscription,
        period=period,
        lines=lines,
        reason=SubscriptionInvoiceReason.CREATE,
        moment=moment,
        days_until_due=days_until_due,
    )
    return SubscriptionStart(
        subscription=subscription,
        invoice=invoice,
        replaced=replacing,
        credit=settled.credit,
        credit_on_invoice=split.on_invoice,
        credit_to_balance=split.to_balance,
        balance_used=balance_used,
        carried=settled.carried,
        voided_invoice=settled.voided,
    )


@transaction.atomic
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
    ends now and its unused days are credited as far as they were paid for (`_replaced_period_settle`).
    The same plan and period again is 409 `already_subscribed`; while the current period's invoice is partly
    paid, 409 `replaced_invoice_partly_paid` (pay the rest first), before anything is written.
    """
    _billing_period_validate(billing_period)
    _card_payments_check(payment_method_id)
    moment = now or timezone.now()
    locked_customer = _customer_lock(customer.pk)
    fresh_plan = _plan_available(plan)
    current = _live_subscription_lock(locked_customer)
    if current is not None and current.plan_id == fresh_plan.pk and current.billing_period == billing_period:
        raise _already_subscribed(current)
    if current is not None:
        _replaced_invoice_partly_paid_refuse(_replaced_period_invoice(current))
    stripe_setup = None
    if settings.STRIPE_ENABLED:  # paid by card through Stripe: customer, card and price first (stripe_sync)
        stripe_setup = stripe_sync.subscription_stripe_prepare(
            customer=locked_customer,
            plan=fresh_plan,
            billing_period=billing_period,
            payment_method_id=payment_method_id,
            replacing=current,
        )
    started = _subscription_start(
        customer=locked_customer, plan=fresh_plan, billing_period=billing_period, replacing=current, moment=moment
    )
    if stripe_setup is not None:  # the Stripe subscription; a decline or outage rolls all of this back
        stripe_sync.subscription_stripe_start(start=started, setup=stripe_setup)
    return started


@transaction.atomic
def subscription_change_plan(
    *,
    subscription: Subscription,
    plan: SubscriptionPlan,
    billing_period: str | None = None,
    now: datetime | None = None,
    actor: Any = None,
) -> SubscriptionStart:
    """Move a live subscription to another plan or period (admin; the API does it through subscribe).

    The subscription ends now, credited pro rata of what was paid for its period (`_replaced_period_settle`),
    and a new one starts today with its own invoice. While that period's invoice is partly paid: 409
    `replaced_invoice_partly_paid`, before anything is written.
    `actor` None is the system; a user needs billing.change_subscription.
    """
    permission_require(actor=actor, permission="billing.change_subscription")
    moment = now or timezone.now()
    locked_customer = _customer_lock(subscription.customer_id)
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.status not in LIVE_STATUSES:
        raise ApplicationError(
            "subscription_not_active", f"Subscription {locked.pk} is {locked.status}.", status_code=409
        )
    target_period = _billing_period_validate(billing_period or locked.billing_period)
    if locked.plan_id == plan.pk and locked.billing_period == target_period:
        raise _already_subscribed(locked)
    new_plan = _plan_available(plan)
    _replaced_invoice_partly_paid_refuse(_replaced_period_invoice(locked))
    stripe_setup = None
    if settings.STRIPE_ENABLED:  # a subscription paid by card moves to the new plan by card (stripe_sync)
        stripe_setup = stripe_sync.subscription_stripe_prepare(
            customer=locked_customer,
            plan=new_plan,
            billing_period=target_period,
            payment_method_id=None,
            replacing=locked,
        )
    started = _subscription_start(
        customer=locked_customer,
        plan=new_plan,
        billing_period=target_period,
        replacing=locked,
        moment=moment,
    )
    if stripe_setup is not None:
        stripe_sync.subscription_stripe_start(start=started, setup=stripe_setup)
    return started


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
    _billing_period_validate(billing_period)
    moment = now or timezone.now()
    locked_customer = _customer_lock(customer.pk)
    fresh_plan = _plan_available(plan)
    current = _live_subscription_lock(locked_customer)
    if current is not None:
        if current.plan_id == fresh_plan.pk and current.billing_period == billing_period:
            raise _already_subscribed(current)
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


# --- cancel -------------------------------------------------------------------------------------------


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, immediately: bool = False, now: datetime | None = None, actor: Any = None
) -> Subscription:
    """Cancel at the end of the period (service continues until then) or, with `immediately`, now.

    Idempotent: canceling a canceled subscription returns it unchanged. An incomplete subscription (never
    paid) ends at once and its invoice is voided. Canceling now credits nothing, as Stripe does by default.
    `actor` None is the system; a customer may cancel their own subscription, anyone else needs
    billing.change_subscription.
    """
    moment = now or timezone.now()
    owner = _customer_lock(subscription.customer_id)
    if actor is not None and getattr(actor, "pk", None) != owner.user_id:
        permission_require(actor=actor, permission="billing.change_subscription")
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.status == SubscriptionStatus.CANCELED:
        return locked
    if locked.status == SubscriptionStatus.INCOMPLETE:
        _unpaid_invoices_void(locked)
        _status_change(locked, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.REQUESTED)
    elif immediately:
        _status_change(locked, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.REQUESTED)
    elif not locked.cancel_at_period_end:
        locked.cancel_at_period_end = True
        locked.canceled_at = moment
        locked.save(update_fields=["cancel_at_period_end", "canceled_at", "updated_at"])
    if settings.STRIPE_ENABLED and locked.stripe_subscription_id:  # the same in Stripe (no-op if Stripe did it)
        stripe_sync.subscription_stripe_cancel(subscription=locked)
    return locked


@transaction.atomic
def subscription_status_follow(*, subscription: Subscription, status: str, now: datetime | None = None) -> Subscription:
    """Move a subscription to the status its card processor reports (Stripe webhooks, stripe_sync), along
    SUBSCRIPTION_TRANSITIONS; a move the table refuses leaves it unchanged. Cancellation is subscription_cancel."""
    _customer_lock(subscription.customer_id)
    locked = subscription_lock(subscription_id=subscription.pk)
    allowed = status != SubscriptionStatus.CANCELED and subscription_transition_allowed(locked.status, status)
    if status != locked.status and allowed:
        _status_change(locked, status, moment=now or timezone.now(), reason="stripe")
    return locked


# --- renewals and dunning -----------------------------------------------------------------------------


def _overdue_subscription_invoices(*, customer_id: int, as_of: date) -> QuerySet[SubscriptionInvoice]:
    """Subscription invoices of the customer (of any of its subscriptions) unpaid after their due date."""
    return SubscriptionInvoice.objects.filter(
        subscription__customer_id=customer_id,
        invoice__status__in=INVOICE_PAYABLE_STATUSES,
        invoice__due_date__lt=as_of,
    )


def _dunning_refresh(locked: Subscription, *, as_of: date, moment: datetime) -> None:
    """Fit a live subscription's state to its invoices as of `as_of`.

    active <-> past_due follows whether any subscription invoice of the customer (this subscription's or
    one it replaced) is unpaid after its due date. An incomplete subscription becomes active once its
    invoice is paid and expires once that invoice is overdue (or was voided).
    """
    if locked.status == SubscriptionStatus.INCOMPLETE:
        links = locked.period_invoices.all()
        overdue = links.filter(invoice__status__in=INVOICE_PAYABLE_STATUSES, invoice__due_date__lt=as_of).exists()
        if overdue or not links.exclude(invoice__status=InvoiceStatus.VOID).exists():
            _unpaid_invoices_void(locked)
            _status_change(
                locked, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.INCOMPLETE_EXPIRED
            )
        elif not links.filter(invoice__status__in=INVOICE_PAYABLE_STATUSES).exists():
            _status_change(locked, SubscriptionStatus.ACTIVE, moment=moment)
        return
    if locked.status not in RENEWING_STATUSES:
        return
    overdue = _overdue_subscription_invoices(customer_id=locked.customer_id, as_of=as_of).exists()
    if overdue and locked.status == SubscriptionStatus.ACTIVE:
        _status_change(locked, SubscriptionStatus.PAST_DUE, moment=moment)
    elif not overdue and locked.status == SubscriptionStatus.PAST_DUE:
        _status_change(locked, SubscriptionStatus.ACTIVE, moment=moment)


@dataclass
class RenewalOutcome:
    """What renewing one subscription did."""

    subscription: Subscription
    status_before: str
    invoices: list[Invoice] = field(default_factory=list)
    ended: bool = False

    @property
    def status_after(self) -> str:
        return self.subscription.status

    @property
    def actions(self) -> tuple[str, ...]:
        """What happened, for reports: renewed / ended, then a status change (past_due, reactivated, ...)."""
        found = []
        if self.invoices:
            found.append("renewed")
        if self.ended:
            found.append("ended")
        elif self.status_before != self.status_after:
            if self.status_after == SubscriptionStatus.CANCELED:
                found.append("expired")
            elif self.status_after == SubscriptionStatus.PAST_DUE:
                found.append("past_due")
            elif self.status_before == SubscriptionStatus.INCOMPLETE:
                found.append("activated")
            else:
                found.append("reactivated")
        return tuple(found) or ("nothing_due",)

    @property
    def action(self) -> str:
        """The main thing that happened (the first of `actions`)."""
        return self.actions[0]


@transaction.atomic
def subscription_renew(
    *, subscription: Subscription, as_of: date, now: datetime | None = None, actor: Any = None
) -> RenewalOutcome:
    """Bring one subscription up to date as of the Asia/Seoul day `as_of` (the renewal run; staff, one at a time).

    Each period that has ended by `as_of` is invoiced and the subscription advanced (one invoice per
    period, also when runs were missed); one set to cancel at period end ends at that boundary instead;
    then active/past_due/incomplete follow its invoices. Running it again for the same day does nothing.
    `actor` None is the system (the renewal run); a user needs billing.change_subscription.
    """
    permission_require(actor=actor, permission="billing.change_subscription")
    moment = now or timezone.now()
    customer = _customer_lock(subscription.customer_id)
    locked = subscription_lock(subscription_id=subscription.pk)
    outcome = RenewalOutcome(subscription=locked, status_before=locked.status)
    if locked.status in RENEWING_STATUSES and locked.current_period_end <= as_of:
        if locked.cancel_at_period_end:
            # Service stopped at the boundary, whenever the run noticed.
            _status_change(
                locked,
                SubscriptionStatus.CANCELED,
                moment=max(billing_day_start(locked.current_period_end), locked.canceled_at or moment),
                reason=CancellationReason.REQUESTED,
            )
            outcome.ended = True
        else:
            while locked.current_period_end <= as_of:
                period = next_period(
                    anchor=locked.billing_cycle_anchor,
                    current=locked.current_period,
                    billing_period=locked.billing_period,
                )
                lines = [_charge_line(locked, period, customer.preferred_language)]
                _credit_balance_apply(customer, lines, currency=locked.currency)
                outcome.invoices.append(
                    _period_invoice_issue(
                        customer=customer,
                        subscription=locked,
                        period=period,
                        lines=lines,
                        reason=SubscriptionInvoiceReason.CYCLE,
                        moment=moment,
                    )
                )
                locked.current_period_start, locked.current_period_end = period.start, period.end
                locked.save(update_fields=["current_period_start", "current_period_end", "updated_at"])
    _dunning_refresh(locked, as_of=as_of, moment=moment)
    return outcome


@transaction.atomic
def subscription_invoice_paid(*, invoice: Invoice, now: datetime | None = None) -> Subscription | None:
    """Called once a subscription invoice is paid: the customer's live subscription may become active again.

    Safe to call for any invoice (returns None when it bills no subscription) and more than once. Meant to
    run after the paying transaction commits, in its own transaction, so lock order never matters.
    """
    link = SubscriptionInvoice.objects.filter(invoice_id=invoice.pk).select_related("subscription").first()
    if link is None:
        return None
    moment = now or timezone.now()
    customer = _customer_lock(link.subscription.customer_id)
    live = _live_subscription_lock(customer)
    if live is not None:
        _dunning_refresh(live, as_of=billing_date(moment), moment=moment)
    return live


# --- reads (the API's; kept next to the writes until billing.selectors takes them) ---------------------


def subscription_list(*, customer: Customer | None, status: str | None = None) -> QuerySet[Subscription]:
    """The customer's subscriptions, newest first; nobody's when the caller has no billing profile."""
    if customer is None:
        return Subscription.objects.none()
    subscriptions = Subscription.objects.filter(customer=customer)
    if status:
        subscriptions = subscriptions.filter(status=status)
    return subscriptions.select_related("plan").order_by("-created_at", "-id")


def subscription_get(*, customer: Customer | None, subscription_id: int) -> Subscription:
    """One subscription of the customer; another customer's is 404, never 403."""
    subscription = subscription_list(customer=customer).filter(pk=subscription_id).first()
    if subscription is None:
        raise ApplicationError("not_found", "Not found.", status_code=404)
    return subscription
