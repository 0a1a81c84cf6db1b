"""Dunning: the reminders (and card retries) of an overdue subscription invoice, then the final action.

BILLING_DUNNING_SCHEDULE lists the days after the due date on which a reminder goes out (step 1, 2, ...: the
n-th day of the schedule); BILLING_DUNNING_FINAL_DAYS after it the final action is taken (the step after the
reminders): "cancel" ends the invoice's own subscription (reason unpaid) or, when a plan change replaced it (its
debt carried onto the new one), the live subscription that replaced it, after invoicing its metered usage not
billed yet up to the end of that day, as an immediate cancel does; a subscription that already ended on its
own (the customer canceled and perhaps subscribed again, and paid) is never touched: the step is then recorded
with no subscription (nothing canceled) and the invoice stays open. "uncollectible" writes the invoice off (the
subscription stays past due until it is paid).

Each step happens once: its DunningStep row (unique per invoice and step) is written first, in a savepoint of the
short transaction that also queues its email and its provider retry, so two runs at once or a run repeated do it
once. A run that missed days does only the latest step due (one reminder, not a burst), and records only what it
did: a skipped reminder has no row. Only open invoices are dunned, so dunning stops as soon as one is paid (the
payment itself reactivates the subscription: subscription_states.subscription_invoice_paid). No external call
runs here: the card retry is a job sent after commit.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.enums import InvoiceStatus, JobKind
from billing.models import Customer, Invoice
from billing.models.subscriptions import (
    LIVE_STATUSES,
    CancellationReason,
    DunningAction,
    DunningStep,
    Subscription,
    SubscriptionInvoice,
    SubscriptionStatus,
)
from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue

from .invoice_emails import invoice_overdue_reminder_queue
from .invoices import invoice_mark_uncollectible
from .subscription_states import (
    customer_lock,
    subscription_lock,
    subscription_status_change,
    unpaid_invoices_void,
)
from .subscriptions.pause import usage_to_today_invoice
from .subscriptions.start import subscription_provider_follow_enqueue

logger = logging.getLogger(__name__)

FINAL_ACTIONS = (DunningAction.CANCEL, DunningAction.UNCOLLECTIBLE)


@dataclass(frozen=True)
class DunningPlan:
    """The schedule as configured: reminder days (increasing) and the final action's day."""

    reminder_days: tuple[int, ...]
    final_days: int
    final_action: str

    @classmethod
    def from_settings(cls) -> "DunningPlan":
        return cls(
            reminder_days=tuple(sorted(set(settings.BILLING_DUNNING_SCHEDULE))),
            final_days=settings.BILLING_DUNNING_FINAL_DAYS,
            final_action=settings.BILLING_DUNNING_FINAL_ACTION,
        )

    @property
    def final_step(self) -> int:
        return len(self.reminder_days) + 1

    def step_due(self, days_overdue: int) -> tuple[int, int] | None:
        """The latest step due `days_overdue` days after the due date, as (step, its day), or None."""
        if days_overdue >= self.final_days:
            return self.final_step, self.final_days
        due = [(index + 1, day) for index, day in enumerate(self.reminder_days) if day <= days_overdue]
        return due[-1] if due else None


@dataclass
class DunningRunSummary:
    """What a run did: invoices looked at, steps done per action (reminder, cancel, uncollectible), card retries."""

    as_of: date
    processed: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    provider_retries: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)

    def count(self, action: str) -> int:
        return self.actions.get(action, 0)

    @property
    def steps(self) -> int:
        return sum(self.actions.values())


def invoices_to_dun(*, as_of: date) -> QuerySet[Invoice]:
    """Open subscription invoices past their due date whose final action has not been taken."""
    return (
        Invoice.objects.filter(status=InvoiceStatus.OPEN, due_date__lt=as_of, subscription_link__isnull=False)
        .exclude(dunning_steps__action__in=FINAL_ACTIONS)
        .order_by("due_date", "id")
    )


def _provider_collects(invoice: Invoice, link: SubscriptionInvoice) -> bool:
    """A card the provider charges: its invoice or its subscription lives at the provider."""
    return bool(invoice.stripe_invoice_id or link.subscription.stripe_subscription_id)


def _debtor_subscription(subscription: Subscription) -> Subscription | None:
    """The live subscription an invoice of `subscription` is owed by: itself, or the one that replaced it through
    plan changes (`replaced_by`, which carried its debt), or None when it ended otherwise. Customer locked."""
    current: Subscription | None = subscription
    seen: set[int] = set()
    while current is not None and current.status not in LIVE_STATUSES and current.pk not in seen:
        seen.add(current.pk)
        current = Subscription.objects.filter(replaces=current).first()
    return current if current is not None and current.status in LIVE_STATUSES else None


def _final_action(
    invoice: Invoice, *, action: str, debtor: Subscription | None, customer: Customer, moment: datetime
) -> None:
    """Cancel the debtor subscription (customer and subscription locked), if any, or write the invoice off.

    The canceled subscription's metered usage not billed yet, up to the end of today (Seoul), goes on an invoice
    of its own first, as an immediate cancel bills it (`usage_to_today_invoice`; a paused one bills none)."""
    if action == DunningAction.UNCOLLECTIBLE:
        invoice_mark_uncollectible(invoice=invoice, actor=None, now=moment)
        return
    if debtor is None:
        return  # nothing live owes it: the invoice stays open, the step records that nothing was canceled
    if debtor.status == SubscriptionStatus.INCOMPLETE:
        unpaid_invoices_void(debtor)
    usage_to_today_invoice(debtor, customer=customer, moment=moment)
    subscription_status_change(debtor, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.UNPAID)
    subscription_provider_follow_enqueue(debtor)


@transaction.atomic
def invoice_dunning_step(*, invoice: Invoice, as_of: date, now: datetime | None = None) -> DunningStep | None:
    """Take the dunning step due for one invoice as of `as_of`, once; None when none is due or it was taken.

    Locks in the order every payment and subscription change does: the customer, the subscription that owes the
    invoice, then the invoice; and re-checks it is still open and still due, so a payment that just committed
    stops it and two runs at once take the step once.
    """
    moment = now or timezone.now()
    plan = DunningPlan.from_settings()
    customer = customer_lock(invoice.customer_id)
    link = SubscriptionInvoice.objects.select_related("subscription").filter(invoice_id=invoice.pk).first()
    if link is None:
        return None  # not a subscription invoice: nothing to dun
    # With the customer locked no subscription of it changes status or gets replaced: safe to resolve, then lock.
    debtor = _debtor_subscription(link.subscription)
    if debtor is not None:
        debtor = subscription_lock(subscription_id=debtor.pk)
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    locked.customer = customer
    if locked.status != InvoiceStatus.OPEN or locked.due_date is None or locked.due_date >= as_of:
        return None
    due = plan.step_due((as_of - locked.due_date).days)
    done = set(DunningStep.objects.filter(invoice=locked).values_list("step", flat=True))
    if due is None or (done and max(done) >= due[0]):
        return None
    step, days = due
    final = step == plan.final_step
    retry = not final and _provider_collects(locked, link)
    # A final cancel records the subscription it ends (None: nothing was live to cancel); any other step the
    # invoice's own.
    canceling = final and plan.final_action == DunningAction.CANCEL
    try:
        with transaction.atomic():
            record = DunningStep.objects.create(
                invoice=locked,
                subscription=debtor if canceling else link.subscription,
                step=step,
                days_after_due=days,
                action=plan.final_action if final else DunningAction.REMINDER,
                provider_retry=retry,
                done_on=as_of,
            )
    except IntegrityError:
        return None  # taken by another run since the check above
    if final:
        _final_action(locked, action=plan.final_action, debtor=debtor, customer=customer, moment=moment)
        return record
    invoice_overdue_reminder_queue(invoice=locked, step=days)
    if retry:
        job_enqueue(
            kind=JobKind.DUNNING_PROVIDER_RETRY,
            key=f"dunning_provider_retry:{locked.pk}:{step}",
            payload={"invoice_id": locked.pk},
        )
    return record


def dunning_run(
    *,
    as_of: date,
    now: datetime | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[DunningStep | None], None] | None = None,
) -> DunningRunSummary:
    """Take every dunning step due as of `as_of` (an Asia/Seoul day), one short transaction per invoice.

    `on_start(total)` and `on_progress(step taken or None)` let a caller draw a progress bar. Safe to run again
    (and twice at once): a step done is never done again.
    """
    summary = DunningRunSummary(as_of=as_of)
    invoices = list(invoices_to_dun(as_of=as_of))
    if on_start is not None:
        on_start(len(invoices))
    for invoice in invoices:
        record: DunningStep | None = None
        try:
            record = invoice_dunning_step(invoice=invoice, as_of=as_of, now=now)
        except ApplicationError as error:
            summary.failures.append((invoice.pk, f"{error.code}: {error.message}"))
        except Exception as error:  # one broken invoice must not stop the others' dunning
            logger.exception("dunning of invoice %s failed", invoice.pk)
            summary.failures.append((invoice.pk, f"{type(error).__name__}: {error}"))
        else:
            summary.processed += 1
            if record is not None:
                summary.actions[record.action] = summary.actions.get(record.action, 0) + 1
                summary.provider_retries += int(record.provider_retry)
        if on_progress is not None:
            on_progress(record)
    return summary
