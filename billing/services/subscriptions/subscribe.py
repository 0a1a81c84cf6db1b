"""Subscribe, change plan and checkout: a new subscription from today and its first invoice, paid by bank
transfer or through the payment provider (billing.providers), which is asked once the customer is locked and
before the invoice is written."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    LIVE_STATUSES,
    CancellationReason,
    Subscription,
    SubscriptionInvoice,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
)
from billing.periods import billing_date, first_period
from billing.providers import PaymentProvider, payment_provider
from billing.providers.base import SubscriptionSetup
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from ..invoices import InvoiceLineInput, invoice_issue_for_order
from ..orders import OrderItemInput, order_create
from ..payments import card_payment_record
from ..subscription_states import customer_lock, live_subscription_lock, subscription_lock, subscription_status_change
from .common import (
    already_subscribed,
    billing_period_validate,
    charge_line,
    credit_balance_add,
    credit_balance_apply,
    line_text,
    period_invoice_issue,
    plan_available,
    plan_line_description,
)
from .proration import (
    PeriodSettlement,
    credit_split,
    replaced_invoice_partly_paid_refuse,
    replaced_period_invoice,
    replaced_period_settle,
)


@dataclass(frozen=True)
class SubscriptionStart:
    """What subscribing did: the new subscription, its first invoice, and what happened to the old one."""

    subscription: Subscription
    invoice: Invoice
    replaced: Subscription | None
    credit: int = 0  # made by the replaced period (`replaced_period_settle`): money-backed, never the list price
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
        settled = replaced_period_settle(replacing, on=today)
        if (settled.credit or settled.carried) and replacing.currency != plan.currency:
            raise ApplicationError(
                "currency_mismatch", f"Cannot move from a {replacing.currency} plan to a {plan.currency} plan."
            )
        subscription_status_change(
            replacing, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.REPLACED
        )

    period = first_period(anchor=today, billing_period=billing_period)
    subscription = Subscription.objects.create(
        customer=customer,
        plan=plan,
        billing_period=billing_period,
        # Service starts now: a bank transfer pays the invoice within its terms (a card through the provider at once).
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
    lines = [charge_line(subscription, period, language)]
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
                description=line_text("released", language, number=voided_number), unit_amount=-split.on_invoice
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
        credit_balance_add(customer, split.to_balance, currency=subscription.currency)
    balance_used = credit_balance_apply(customer, lines, currency=subscription.currency)
    invoice = period_invoice_issue(
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


def _provider_subscription_start(
    provider: PaymentProvider, started: SubscriptionStart, setup: SubscriptionSetup
) -> None:
    """After our subscription and its first invoice exist (same transaction, customer locked): start it at the
    provider, store its references, record what it already collected, and end the replaced subscription there.

    A decline or outage raises before anything is kept (the provider undid its half). When our own write fails
    afterwards, what the provider made is undone too, and the error goes on to roll our transaction back.
    """
    subscription, invoice, replaced = started.subscription, started.invoice, started.replaced
    remote = provider.subscription_start(subscription=subscription, invoice=invoice, replaced=replaced, setup=setup)
    if remote is None:
        return
    try:
        with transaction.atomic():
            subscription.stripe_subscription_id = remote.subscription_reference
            subscription.save(update_fields=["stripe_subscription_id", "updated_at"])
            Invoice.objects.filter(pk=invoice.pk).update(
                stripe_invoice_id=remote.invoice_reference, stripe_hosted_invoice_url=remote.hosted_invoice_url
            )
            if remote.amount_paid:
                card_payment_record(invoice=invoice, amount=remote.amount_paid, reference=remote.payment_reference)
        if replaced is not None and replaced.stripe_subscription_id:
            provider.subscription_end_now(reference=replaced.stripe_subscription_id)
    except BaseException:
        provider.subscription_start_undo(started=remote)
        raise


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
    ends now and its unused days are credited as far as they were paid for (`replaced_period_settle`).
    The same plan and period again is 409 `already_subscribed`; while the current period's invoice is partly
    paid, 409 `replaced_invoice_partly_paid` (pay the rest first), before anything is written.
    """
    billing_period_validate(billing_period)
    provider = payment_provider()
    provider.payment_method_check(payment_method_id=payment_method_id)
    moment = now or timezone.now()
    locked_customer = customer_lock(customer.pk)
    fresh_plan = plan_available(plan)
    current = live_subscription_lock(locked_customer)
    if current is not None and current.plan_id == fresh_plan.pk and current.billing_period == billing_period:
        raise already_subscribed(current)
    if current is not None:
        replaced_invoice_partly_paid_refuse(replaced_period_invoice(current))
    # Paid through the provider (Stripe: by card): customer, card and price first, before the invoice takes a number.
    setup = provider.subscription_prepare(
        customer=locked_customer,
        plan=fresh_plan,
        billing_period=billing_period,
        payment_method_id=payment_method_id,
        replacing=current,
    )
    started = _subscription_start(
        customer=locked_customer, plan=fresh_plan, billing_period=billing_period, replacing=current, moment=moment
    )
    _provider_subscription_start(provider, started, setup)  # a decline or outage rolls all of this back
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

    The subscription ends now, credited pro rata of what was paid for its period (`replaced_period_settle`),
    and a new one starts today with its own invoice. While that period's invoice is partly paid: 409
    `replaced_invoice_partly_paid`, before anything is written.
    `actor` None is the system; a user needs billing.change_subscription.
    """
    permission_require(actor=actor, permission="billing.change_subscription")
    moment = now or timezone.now()
    locked_customer = customer_lock(subscription.customer_id)
    locked = subscription_lock(subscription_id=subscription.pk)
    if locked.status not in LIVE_STATUSES:
        raise ApplicationError(
            "subscription_not_active", f"Subscription {locked.pk} is {locked.status}.", status_code=409
        )
    target_period = billing_period_validate(billing_period or locked.billing_period)
    if locked.plan_id == plan.pk and locked.billing_period == target_period:
        raise already_subscribed(locked)
    new_plan = plan_available(plan)
    replaced_invoice_partly_paid_refuse(replaced_period_invoice(locked))
    provider = payment_provider()
    # A subscription paid through the provider (Stripe: by card) moves to the new plan the same way.
    setup = provider.subscription_prepare(
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
    _provider_subscription_start(provider, started, setup)
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
