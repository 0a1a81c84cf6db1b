"""Proration: the credit a plan change makes for the period it leaves, and only of what was paid for it."""

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

from django.db.models import F, Sum

from billing.enums import INVOICE_PAYABLE_STATUSES, InvoiceLineKind, InvoiceStatus, PaymentStatus, RefundMethod
from billing.models import Invoice
from billing.models.subscriptions import (
    Subscription,
    SubscriptionInvoice,
    SubscriptionInvoiceReason,
    SubscriptionPause,
    SubscriptionStatus,
)
from billing.periods import ServicePeriod, add_months, months_between, period_months
from billing_site.errors import ApplicationError

from ..invoices import invoice_lock, invoice_void
from ..orders import order_cancel
from ..subscription_states import unpaid_invoices_void


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
    lines count in full: every credit is itself money-backed (`replaced_period_settle`). An invoice that asks
    nothing is paid for by its credits alone: in full when they cover the charges (or a free plan), not at all when
    a coupon's discount made it free (a discount is no money: `credits` leaves it out).
    """
    if charges <= 0:
        return Fraction(1)
    if total <= 0:
        return min(Fraction(1), Fraction(max(credits, 0), charges))
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


@dataclass(frozen=True)
class PeriodSettlement:
    """What leaving a subscription's current period settles (`replaced_period_settle`)."""

    credit: int = 0  # money-backed: the paid-for unused days, or the credit a voided invoice had used
    carried: int = 0  # a voided unpaid invoice's charges for the days used (and debt carried onto it): billed again
    voided: Invoice | None = None


def _money_received(invoice: Invoice) -> int:
    """Money that came in for the invoice and stayed: its succeeded payments less what credit notes gave back of it
    (refunds, also those onto the credit balance, which is credit already; refunded payments are not counted)."""
    payments = invoice.payments.filter(status=PaymentStatus.SUCCEEDED)
    received = payments.aggregate(total=Sum(F("amount") - F("amount_refunded")))["total"] or 0
    to_balance = invoice.refunds.filter(method=RefundMethod.BALANCE).aggregate(total=Sum("amount"))["total"] or 0
    return max(0, received - to_balance)


def cycle_period(subscription: Subscription) -> ServicePeriod:
    """The whole billing period of the cycle that ends at `current_period_end`: what a period's price pays for.

    It is the current period, except after a resume: the current period is then only the carried paid days
    (`pause_end`), and a price (of a seat, of the days left) is still a price per whole period, never per carried
    day. `pause_end` re-bases the anchor so that `current_period_end` is a boundary of its cycle.
    """
    end = subscription.current_period_end
    anchor = subscription.billing_cycle_anchor
    start = add_months(anchor, months_between(anchor, end) - period_months(subscription.billing_period))
    # Never shorter than the current period itself (a cycle that does not reach back that far is not a cycle).
    return ServicePeriod(min(start, subscription.current_period_start), end)


def _carried_pause(replacing: Subscription) -> SubscriptionPause | None:
    """The pause whose carried days are the current period (it has no invoice of its own), or None.

    A resume with days carried starts the period on the day it resumed; with nothing carried the period is a
    one-day placeholder ending on it. Either way no period invoice starts the current period (once the renewal
    bills the next one, its invoice does, and the pause is history).
    """
    billed = (
        replacing.period_invoices.filter(period_start=replacing.current_period_start)
        .exclude(reason=SubscriptionInvoiceReason.UPDATE)
        .exists()
    )
    if billed:
        return None
    return (
        SubscriptionPause.objects.filter(
            subscription=replacing,
            resumed_on__gte=replacing.current_period_start,
            resumed_on__lte=replacing.current_period_end,
        )
        .order_by("-resumed_on", "-paused_on")
        .first()
    )


def replaced_period_link(replacing: Subscription) -> SubscriptionInvoice | None:
    """The link of the invoice that paid the current period: the one starting it, or after a resume the one of the
    billed period the pause interrupted (the latest period invoice starting on or before the day it paused)."""
    links = replacing.period_invoices.exclude(reason=SubscriptionInvoiceReason.UPDATE)
    pause = _carried_pause(replacing)
    if pause is None:
        return links.filter(period_start=replacing.current_period_start).first()
    return links.filter(period_start__lte=pause.paused_on).order_by("-period_start").first()


def replaced_period_invoice(replacing: Subscription) -> Invoice | None:
    """The invoice of the period a plan change leaves, locked (so no payment lands meanwhile); None if it has none.
    After a resume that is the invoice of the period whose paid days were carried."""
    link = replaced_period_link(replacing)
    return None if link is None else invoice_lock(invoice_id=link.invoice_id)


def _credit_period(replacing: Subscription, link: SubscriptionInvoice | None) -> ServicePeriod:
    """The period the credit is prorated over. After a resume: the whole cycle ending at `current_period_end`, or
    the paying invoice's own period if longer, so a paid day is never credited above the rate it was paid at."""
    if link is None or link.period_start == replacing.current_period_start:
        return replacing.current_period
    cycle = cycle_period(replacing)
    paid_days = (link.period_end - link.period_start).days
    if paid_days <= cycle.days:
        return cycle
    return ServicePeriod(cycle.end - timedelta(days=paid_days), cycle.end)


def _period_price(replacing: Subscription, invoice: Invoice, link: SubscriptionInvoice | None) -> int:
    """What the period's own invoice charged for the subscription: `price_amount`, unless seats were added during
    the period. Those were billed pro rata on update invoices of their own, and their unused days are not credited
    (never more than what the period's invoice asked): the price is then that invoice's first line, its charge.
    After a resume, seats added before the pause or since it count alike."""
    updates = replacing.period_invoices.filter(reason=SubscriptionInvoiceReason.UPDATE)
    if link is not None and link.period_start != replacing.current_period_start:
        added = updates.filter(period_start__gte=link.period_start).exists()
    else:
        added = updates.filter(period_end=replacing.current_period_end).exists()
    if not added:
        return replacing.price_amount
    first = invoice.lines.order_by("position", "id").first()
    return 0 if first is None else max(0, min(replacing.price_amount, first.amount))


def replaced_invoice_partly_paid_refuse(invoice: Invoice | None) -> None:
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


def _used_still_owed(replacing: Subscription, voided: Invoice, link: SubscriptionInvoice | None, *, on: date) -> int:
    """What a voided unpaid invoice still asked for the days used (supply amount), billed again on the new invoice.

    At the price it asked: its charges less its discount lines (a `once` coupon's discount is not lost), the unused
    days taken pro rata of that net. Less what its credit notes already took off (their supply), never below zero.
    """
    amounts = list(voided.lines.values_list("amount", "kind"))
    charges = sum(amount for amount, _ in amounts if amount > 0)
    discounts = -sum(amount for amount, kind in amounts if kind == InvoiceLineKind.DISCOUNT)
    net = max(0, charges - discounts)
    unused = proration_credit(
        amount=_period_price(replacing, voided, link),
        currency=replacing.currency,
        period=_credit_period(replacing, link),
        on=on,
        paid_share=Fraction(net, charges) if charges > 0 else Fraction(1),
    )
    credited = voided.credit_notes.aggregate(supply=Sum("subtotal"))["supply"] or 0
    return max(0, net - unused - credited)


def replaced_period_settle(replacing: Subscription, *, on: date) -> PeriodSettlement:
    """The one place a plan change makes credit: only of what was received for the period it leaves on `on`.

    The period's invoice (locked, so no payment lands meanwhile) was paid by money (its succeeded Payment rows)
    and by credit applied to it (pro rata and credit balance lines, money-backed by this same rule):
    - paid in full: credit = price x paid share x unused days / days, truncated (`paid_share`).
    - paid in part and still owed: refused, 409 `replaced_invoice_partly_paid`, before anything is written
      (`replaced_invoice_partly_paid_refuse`; the callers check it first too, before Stripe is called).
    - nothing paid: the invoice is voided, never turned into credit. The credit it had used is given back,
      and what it asked for the days used (with any debt carried onto it, after its discount and less what credit
      notes took off it: `_used_still_owed`) is billed again on the new invoice, so a plan change forgives nothing.
    - an incomplete subscription never started: its invoices are voided, nothing is credited or billed again.
    A period whose invoice staff voided (or that has none) was not paid for: nothing is credited.
    """
    link = replaced_period_link(replacing)
    invoice = None if link is None else invoice_lock(invoice_id=link.invoice_id)
    replaced_invoice_partly_paid_refuse(invoice)
    if replacing.status == SubscriptionStatus.INCOMPLETE:
        unpaid_invoices_void(replacing)
        return PeriodSettlement()
    if invoice is None:
        return PeriodSettlement()
    amounts = list(invoice.lines.values_list("amount", "kind"))
    charges = sum(amount for amount, _ in amounts if amount > 0)
    # A coupon's discount is no money paid: it is neither credit to give back nor a share of the period paid for.
    credits = -sum(amount for amount, kind in amounts if amount < 0 and kind != InvoiceLineKind.DISCOUNT)
    period = _credit_period(replacing, link)
    if invoice.status in INVOICE_PAYABLE_STATUSES and invoice.amount_paid == 0:
        voided = invoice_void(invoice=invoice, actor=None)
        if voided.order is not None:
            order_cancel(order=voided.order)
        return PeriodSettlement(credit=credits, carried=_used_still_owed(replacing, voided, link, on=on), voided=voided)
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
            amount=_period_price(replacing, invoice, link),
            currency=replacing.currency,
            period=period,
            on=on,
            paid_share=share,
        )
    )
