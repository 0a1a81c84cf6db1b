"""Subscription state: the locks every subscription change takes, the one writer of SUBSCRIPTION_TRANSITIONS, and
dunning (active <-> past_due, incomplete -> active or expired) that follows a subscription's invoices.

Below billing.services.payments on purpose: a payment that settles a subscription invoice refreshes its
subscription through `subscription_invoice_paid_after_commit`, and the subscribe services above record payments.
"""

import logging
from datetime import date, datetime
from functools import partial

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.enums import INVOICE_PAYABLE_STATUSES, InvoiceStatus
from billing.models import Customer, Invoice
from billing.models.subscriptions import (
    LIVE_STATUSES,
    RENEWING_STATUSES,
    CancellationReason,
    Subscription,
    SubscriptionInvoice,
    SubscriptionStatus,
    subscription_transition_allowed,
)
from billing.periods import billing_date
from billing_site.errors import ApplicationError

from .invoices import invoice_void
from .orders import order_cancel
from .subscription_emails import subscription_ended_email_queue

logger = logging.getLogger(__name__)


def customer_lock(customer_id: int) -> Customer:
    """The customer row, locked: every subscription change of one customer queues on it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("customer_lock must run inside a transaction.")
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


def live_subscription_lock(customer: Customer) -> Subscription | None:
    """The customer's live subscription (at most one), locked."""
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(customer=customer, status__in=LIVE_STATUSES)
        .first()
    )


def subscription_status_change(locked: Subscription, target: str, *, moment: datetime, reason: str = "") -> None:
    """Move a locked subscription along SUBSCRIPTION_TRANSITIONS, stamping what the new state needs."""
    if not subscription_transition_allowed(locked.status, target):
        raise ApplicationError(
            "invalid_subscription_transition",
            f"Subscription {locked.pk} is {locked.status}; it cannot become {target}.",
            status_code=409,
        )
    logger.info("subscription %s: %s -> %s %s", locked.pk, locked.status, target, reason)
    status_before = locked.status
    locked.status = target
    fields = ["status", "updated_at"]
    if target == SubscriptionStatus.CANCELED:
        locked.ended_at = moment
        locked.canceled_at = locked.canceled_at or moment
        locked.cancellation_reason = reason or CancellationReason.REQUESTED
        fields += ["ended_at", "canceled_at", "cancellation_reason"]
    locked.save(update_fields=fields)
    if target == SubscriptionStatus.CANCELED:
        # Every path to canceled comes here: the "ended" email is queued with the change (or rolls back with it).
        subscription_ended_email_queue(subscription=locked, status_before=status_before)


def unpaid_invoices_void(subscription: Subscription) -> None:
    """Void what an incomplete subscription still asks for (it never started), and cancel its orders."""
    for link in subscription.period_invoices.select_related("invoice").filter(
        invoice__status__in=INVOICE_PAYABLE_STATUSES
    ):
        voided = invoice_void(invoice=link.invoice, actor=None)
        if voided.order is not None:
            order_cancel(order=voided.order)


@transaction.atomic
def subscription_status_follow(*, subscription: Subscription, status: str, now: datetime | None = None) -> Subscription:
    """Move a subscription to the status its payment provider reports (webhooks, the resync), along
    SUBSCRIPTION_TRANSITIONS; a move the table refuses leaves it unchanged. Cancellation is subscription_cancel."""
    customer_lock(subscription.customer_id)
    locked = subscription_lock(subscription_id=subscription.pk)
    allowed = status != SubscriptionStatus.CANCELED and subscription_transition_allowed(locked.status, status)
    if status != locked.status and allowed:
        subscription_status_change(locked, status, moment=now or timezone.now(), reason="stripe")
    return locked


def _overdue_subscription_invoices(*, customer_id: int, as_of: date) -> QuerySet[SubscriptionInvoice]:
    """Subscription invoices of the customer (of any of its subscriptions) unpaid after their due date."""
    return SubscriptionInvoice.objects.filter(
        subscription__customer_id=customer_id,
        invoice__status__in=INVOICE_PAYABLE_STATUSES,
        invoice__due_date__lt=as_of,
    )


def dunning_refresh(locked: Subscription, *, as_of: date, moment: datetime) -> None:
    """Fit a live subscription's state to its invoices as of `as_of`.

    active <-> past_due follows whether any subscription invoice of the customer (this subscription's or
    one it replaced) is unpaid after its due date. An incomplete subscription becomes active once its
    invoice is paid and expires once that invoice is overdue (or was voided).
    """
    if locked.status == SubscriptionStatus.INCOMPLETE:
        links = locked.period_invoices.all()
        overdue = links.filter(invoice__status__in=INVOICE_PAYABLE_STATUSES, invoice__due_date__lt=as_of).exists()
        if overdue or not links.exclude(invoice__status=InvoiceStatus.VOID).exists():
            unpaid_invoices_void(locked)
            subscription_status_change(
                locked, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.INCOMPLETE_EXPIRED
            )
        elif not links.filter(invoice__status__in=INVOICE_PAYABLE_STATUSES).exists():
            subscription_status_change(locked, SubscriptionStatus.ACTIVE, moment=moment)
        return
    if locked.status not in RENEWING_STATUSES:
        return
    overdue = _overdue_subscription_invoices(customer_id=locked.customer_id, as_of=as_of).exists()
    if overdue and locked.status == SubscriptionStatus.ACTIVE:
        subscription_status_change(locked, SubscriptionStatus.PAST_DUE, moment=moment)
    elif not overdue and locked.status == SubscriptionStatus.PAST_DUE:
        subscription_status_change(locked, SubscriptionStatus.ACTIVE, moment=moment)


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
    customer = customer_lock(link.subscription.customer_id)
    live = live_subscription_lock(customer)
    if live is not None:
        dunning_refresh(live, as_of=billing_date(moment), moment=moment)
    return live


def _subscription_invoice_paid_by_id(*, invoice_id: int) -> None:
    with transaction.atomic():
        subscription_invoice_paid(invoice=Invoice.objects.get(pk=invoice_id))


def subscription_invoice_paid_after_commit(*, invoice_id: int) -> None:
    """A payment is about to settle the invoice: once that commits, refresh the subscription it bills (if any).

    After commit, in its own transaction: the refresh locks customer then subscription, and must never wait
    behind the paying transaction's invoice lock.
    """
    transaction.on_commit(partial(_subscription_invoice_paid_by_id, invoice_id=invoice_id), robust=True)
