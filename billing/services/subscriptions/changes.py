"""Changes scheduled for the end of the period (downgrades, fewer seats): kept on the subscription, applied in place
at the boundary by the renewal, dropped on request; and seats, more of them billed pro rata at once.

A pending change is four fields of the subscription (`pending_plan`, `pending_billing_period`, `pending_quantity`,
`pending_requested_at`), all set or none (a check constraint). A new one replaces the one before it.
"""

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription, SubscriptionInvoiceReason, SubscriptionStatus
from billing.periods import ServicePeriod, billing_date
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from ..invoices import InvoiceLineInput
from ..subscription_states import customer_lock, subscription_lock
from .common import keeps_price, period_invoice_issue, plan_line_description, plan_price_amount, quantity_validate
from .proration import cycle_period, proration_credit
from .start import SubscriptionStart, subscription_provider_follow_enqueue

logger = logging.getLogger(__name__)

PENDING_FIELDS = ["pending_plan", "pending_billing_period", "pending_quantity", "pending_requested_at"]
# A pending change, once applied, also changes these.
APPLIED_FIELDS = ["plan", "billing_period", "quantity", "price_amount", "currency"]


def owner_or_permission_require(*, actor: Any, owner: Customer) -> None:
    """`actor` None is the system; a customer may change their own subscription, anyone else needs
    billing.change_subscription."""
    if actor is not None and getattr(actor, "pk", None) != owner.user_id:
        permission_require(actor=actor, permission="billing.change_subscription")


def _pending_fields_clear(locked: Subscription) -> None:
    locked.pending_plan = None
    locked.pending_billing_period = ""
    locked.pending_quantity = None
    locked.pending_requested_at = None


def pending_change_clear(locked: Subscription) -> bool:
    """Drop the locked subscription's pending change; True if there was one."""
    if not locked.has_pending_change:
        return False
    _pending_fields_clear(locked)
    locked.save(update_fields=[*PENDING_FIELDS, "updated_at"])
    return True


def pending_change_schedule(
    locked: Subscription, *, plan: SubscriptionPlan, billing_period: str, quantity: int, moment: datetime
) -> None:
    """Write a change for the end of the current period on the locked subscription (it replaces any pending one);
    nothing is billed now. A subscription set to end at its period end has no period after it: 409
    `subscription_ending` (resume it first, or change now); a plan not sold in the subscription's currency: 409
    `currency_mismatch`."""
    if locked.cancel_at_period_end:
        raise ApplicationError(
            "subscription_ending",
            f"Subscription {locked.pk} ends on {locked.current_period_end}: resume it first, or change now.",
            status_code=409,
        )
    plan_price_amount(
        plan=plan,
        currency=locked.currency,
        billing_period=billing_period,
        for_sale=not keeps_price(locked, plan=plan, billing_period=billing_period),
    )
    target = (plan.pk, billing_period, quantity)
    if (locked.pending_plan_id, locked.pending_billing_period, locked.pending_quantity) == target:
        return  # asked again: the change keeps the moment it was first asked for
    locked.pending_plan = plan
    locked.pending_billing_period = billing_period
    locked.pending_quantity = quantity
    locked.pending_requested_at = moment
    locked.save(update_fields=[*PENDING_FIELDS, "updated_at"])


def pending_change_apply(locked: Subscription, *, moment: datetime) -> bool:
    """Called by subscription_renew (customer and subscription locked) at each boundary, before the next period is
    computed and invoiced: a pending change takes effect (plan, billing period, quantity, price). True if one did.

    The price is the plan's price as of now in the subscription's currency, times the seats. A plan retired since
    the change was asked for still applies: the change was accepted while it was offered, and the customer was told
    so. A plan no longer sold in the subscription's currency cannot: the change is dropped (logged) and the
    subscription renews as it is, rather than in another currency or not at all. A switch of billing period
    starts a new cycle at the boundary: `billing_cycle_anchor` becomes `current_period_end`, set here in memory and
    saved by the renewal with the next period (the row's check wants the period to start on or after its anchor).
    The provider's copy follows (`subscription_provider_follow_enqueue`).
    """
    if locked.pending_plan_id is None or locked.pending_quantity is None:
        return False
    plan = SubscriptionPlan.objects.get(pk=locked.pending_plan_id)
    try:
        # Scheduled while the price was sold: a price no longer sold since still applies, as a retired plan does.
        price = plan_price_amount(
            plan=plan, currency=locked.currency, billing_period=locked.pending_billing_period, for_sale=False
        )
    except ApplicationError:
        logger.warning(
            "subscription %s: pending change to %s dropped, no price in %s", locked.pk, plan.slug, locked.currency
        )
        pending_change_clear(locked)
        return False
    if locked.pending_billing_period != locked.billing_period:
        locked.billing_cycle_anchor = locked.current_period_end
    locked.plan = plan
    locked.billing_period = locked.pending_billing_period
    locked.quantity = locked.pending_quantity
    locked.price_amount = price * locked.quantity
    _pending_fields_clear(locked)
    locked.save(update_fields=[*APPLIED_FIELDS, *PENDING_FIELDS, "updated_at"])
    subscription_provider_follow_enqueue(locked)
    return True


@transaction.atomic
def pending_change_drop(*, subscription: Subscription, actor: Any = None, now: datetime | None = None) -> Subscription:
    """DELETE /api/payment/subscriptions/{id}/pending-change: the subscription stays as it is after its period.

    Idempotent: with nothing pending it is returned unchanged. `now` is accepted like every change's (nothing here
    depends on the time). `actor` None is the system; a customer may drop their own, anyone else needs
    billing.change_subscription.
    """
    owner = customer_lock(subscription.customer_id)
    owner_or_permission_require(actor=actor, owner=owner)
    locked = subscription_lock(subscription_id=subscription.pk)
    pending_change_clear(locked)
    return locked


def subscription_change_in_place(
    locked: Subscription, *, plan: SubscriptionPlan, billing_period: str, quantity: int
) -> None:
    """A trialing subscription changes plan, period or seats at once and in place: the trial goes on to the same
    `trial_end`, nothing is billed, and the first invoice is for what it then is (in the trial's currency: 409
    `currency_mismatch` for a plan not sold in it)."""
    price = plan_price_amount(
        plan=plan,
        currency=locked.currency,
        billing_period=billing_period,
        for_sale=not keeps_price(locked, plan=plan, billing_period=billing_period),
    )
    locked.plan = plan
    locked.billing_period = billing_period
    locked.quantity = quantity
    locked.price_amount = price * quantity
    _pending_fields_clear(locked)
    locked.save(update_fields=[*APPLIED_FIELDS, *PENDING_FIELDS, "updated_at"])
    subscription_provider_follow_enqueue(locked)


def _seats_invoice(
    locked: Subscription, *, customer: Customer, added: int, moment: datetime, finalize: bool
) -> Invoice | None:
    """The added seats for the days left of the current period: seats x price of one x unused days / days of a
    whole period, truncated to the minor unit once (`proration_credit`); VAT by the invoice service. None when
    nothing is owed. The days are those of the cycle's whole period ending at `current_period_end`
    (`cycle_period`): after a resume the current period is only the carried days, and a seat's price is per period.
    """
    period = cycle_period(locked)
    today = billing_date(moment)
    amount = proration_credit(amount=added * locked.unit_amount, currency=locked.currency, period=period, on=today)
    if amount <= 0:
        return None
    billed = ServicePeriod(max(today, locked.current_period_start), period.end)
    lines = [
        InvoiceLineInput(
            description=plan_line_description(
                plan=locked.plan,
                billing_period=locked.billing_period,
                language=customer.preferred_language,
                key="seats",
                count=str(added),
            ),
            unit_amount=amount,
            period_start=billed.start,
            period_end=billed.last_day,
        )
    ]
    return period_invoice_issue(
        customer=customer,
        subscription=locked,
        period=billed,
        lines=lines,
        reason=SubscriptionInvoiceReason.UPDATE,
        moment=moment,
        finalize=finalize,
    )


def quantity_change_write(
    locked: Subscription, *, customer: Customer, quantity: object, moment: datetime, finalize: bool = True
) -> SubscriptionStart:
    """The body of `subscription_quantity_change` (customer and subscription locked by the caller). `finalize`
    False leaves an invoice a draft (the preview, rolled back)."""
    if locked.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        raise ApplicationError(
            "subscription_not_active", f"Subscription {locked.pk} is {locked.status}.", status_code=409
        )
    wanted = quantity_validate(quantity, plan=locked.plan)
    # A pending change of seats only is superseded by any new quantity; a pending plan change keeps its own.
    seats_pending = locked.has_pending_change and (locked.pending_plan_id, locked.pending_billing_period) == (
        locked.plan_id,
        locked.billing_period,
    )
    if wanted == locked.quantity:
        if seats_pending:
            pending_change_clear(locked)
        return SubscriptionStart(subscription=locked, invoice=None, replaced=None)
    trialing = locked.status == SubscriptionStatus.TRIALING
    if wanted < locked.quantity and not trialing:
        # Fewer seats at the end of the paid period: the seats paid for stay until then.
        pending_change_schedule(
            locked, plan=locked.plan, billing_period=locked.billing_period, quantity=wanted, moment=moment
        )
        return SubscriptionStart(subscription=locked, invoice=None, replaced=None, scheduled=True)
    added = wanted - locked.quantity
    unit_amount = locked.unit_amount
    locked.quantity = wanted
    locked.price_amount = unit_amount * wanted
    fields = ["quantity", "price_amount", "updated_at"]
    if seats_pending:
        _pending_fields_clear(locked)
        fields += PENDING_FIELDS
    elif (
        locked.pending_plan is not None
        and locked.pending_plan.per_seat
        and locked.pending_quantity is not None
        and locked.pending_quantity < wanted
    ):
        # A pending plan change keeps its plan, but not fewer seats than are paid for now: the seats added here
        # would silently disappear at the boundary. (A plan not per seat has one seat, whatever is paid now.)
        locked.pending_quantity = wanted
        fields.append("pending_quantity")
    locked.save(update_fields=fields)
    invoice = None
    if not trialing:  # a trial bills nothing: its first invoice counts the seats it then has
        invoice = _seats_invoice(locked, customer=customer, added=added, moment=moment, finalize=finalize)
    subscription_provider_follow_enqueue(locked)
    return SubscriptionStart(subscription=locked, invoice=invoice, replaced=None)


@transaction.atomic
def subscription_quantity_change(
    *, subscription: Subscription, quantity: object, actor: Any = None, now: datetime | None = None
) -> SubscriptionStart:
    """PATCH /api/payment/subscriptions/{id} {"quantity": n}: the seats of a subscription to a plan priced per seat.

    More seats: now, the price updated and an invoice (reason update, returned in `invoice`) for the added seats
    over the days left of the period (`_seats_invoice`). Fewer: at the end of the period (a pending change,
    `scheduled`). The same: unchanged (a pending change of seats only is dropped). A trial changes at once and bills
    nothing. 400 `invalid_quantity` (not an integer from 1 to 10000), `plan_not_per_seat`; 409
    `subscription_not_active` unless active or trialing. `actor` as for `pending_change_drop`.
    """
    moment = now or timezone.now()
    owner = customer_lock(subscription.customer_id)
    owner_or_permission_require(actor=actor, owner=owner)
    locked = subscription_lock(subscription_id=subscription.pk)
    return quantity_change_write(locked, customer=owner, quantity=quantity, moment=moment)
