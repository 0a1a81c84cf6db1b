"""Subscribe attempts paid through the payment provider: the steps, each committed on its own, and their repair.

The provider must act first (it charges the card), and no provider call may run while a row of ours is locked:
1. prepare at the provider (its customer, the card, the price), no lock held (`subscription_create`);
2. `subscribe_attempt_open`: customer locked, everything re-checked, the first invoice quoted, an attempt row
   written and committed: from here a crash leaves a trace;
3. the provider starts the subscription and charges the quoted total, no lock held, with the attempt's idempotency
   key and metadata naming the attempt;
4. `subscribe_attempt_complete`: customer locked, re-checked; our subscription, invoice and payment are written if
   the invoice still comes to the quote, and the attempt is completed, in one transaction;
5. otherwise the attempt is marked to compensate and a job undoes the provider's side after commit (cancel the
   subscription, void its invoice, refund its charge). `subscribe_attempts_reconcile` (the periodic
   billing.provider_reconcile) compensates attempts a crash left started, and retries compensations that failed.

A crash between any two steps ends consistent: nothing made (before 2), a started attempt that the reconcile
compensates whether or not the provider charged (2 to 4), or our records complete and naming the provider's (4).
"""

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.enums import JobKind
from billing.models import Invoice, SubscribeAttempt, SubscribeAttemptStatus
from billing.providers import PaymentProvider, payment_provider
from billing.providers.base import ProviderError, SubscriptionSetup, SubscriptionStarted
from billing.tax import vat_rate_now
from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue

from ..coupons import promotion_code_card_check
from ..payments import card_payment_record
from .start import (
    SubscribeChecked,
    SubscribeRequest,
    SubscriptionStart,
    invoice_quote,
    provider_follow_enqueue,
    subscribe_check,
    subscription_id_reserve,
    subscription_quote,
    subscription_start_write,
)

logger = logging.getLogger(__name__)

# A started attempt older than this has no request behind it any more (the provider's timeouts and retries are
# far shorter): its process died between steps 2 and 4, and the reconcile compensates it.
ATTEMPT_STUCK_AFTER = timedelta(minutes=15)


class SetupStale(Exception):
    """The live subscription or the customer's currency changed since the provider prepared, in a way that changes
    who pays or the currency of the price prepared: prepare again."""


def subscribe_in_progress() -> ApplicationError:
    return ApplicationError(
        "subscribe_in_progress",
        "Another subscribe of yours is being charged right now; try again in a moment.",
        status_code=409,
    )


def _changed() -> ApplicationError:
    return ApplicationError(
        "subscription_changed",
        "Your subscription or balance changed while the card was being charged; the charge is being refunded. "
        "Try again.",
        status_code=409,
    )


def paid_through_provider(request: SubscribeRequest, checked: SubscribeChecked) -> bool:
    """A card subscribe: a card was sent, or the subscription replaced is paid by card (its card pays the next)."""
    current = checked.current
    return bool(request.payment_method_id) or bool(current is not None and current.stripe_subscription_id)


def subscribe_attempt_open(
    *, request: SubscribeRequest, setup: SubscriptionSetup, provider_name: str
) -> SubscribeAttempt:
    """Step 2: under the customer lock, check again, quote the first invoice and record the attempt (committed)."""
    with transaction.atomic():
        checked = subscribe_check(request)
        if paid_through_provider(request, checked) != bool(setup.customer_reference):
            raise SetupStale
        if request.coupon:
            promotion_code_card_check(code=request.coupon)  # Stripe renews at its own price: no renewal coupons
        if SubscribeAttempt.objects.filter(
            customer_id=checked.customer.pk, status=SubscribeAttemptStatus.STARTED
        ).exists():
            raise subscribe_in_progress()
        quote = subscription_quote(checked, moment=request.moment)
        if setup.currency and setup.currency != quote["currency"]:
            # Priced in another currency (staff or a concurrent first subscribe chose another meanwhile): the
            # provider's invoice would not be the quote, found out only after it made its subscription (a 502).
            raise SetupStale
        vat_rate = vat_rate_now(tax_treatment=checked.customer.tax_treatment)
        if setup.vat_rate_basis_points is not None and setup.vat_rate_basis_points != vat_rate:
            # Taxed at another rate (staff changed the customer's treatment meanwhile): the provider would charge
            # the old rate's VAT, not the quote's (a 502 once it made its subscription).
            raise SetupStale
        try:
            with transaction.atomic():
                return SubscribeAttempt.objects.create(
                    customer=checked.customer,
                    plan=checked.plan,
                    billing_period=checked.billing_period,
                    replacing=checked.current,
                    subscription_reserved_id=subscription_id_reserve(),
                    provider=provider_name,
                    currency=str(quote["currency"]),
                    total=int(quote["total"]),
                    quote=quote,
                    setup=dataclasses.asdict(setup),
                )
        except IntegrityError as error:  # the one-started-attempt constraint: a concurrent subscribe got there
            raise subscribe_in_progress() from error


def subscribe_attempt_carry_out(
    *, provider: PaymentProvider, attempt: SubscribeAttempt, setup: SubscriptionSetup, request: SubscribeRequest
) -> SubscriptionStart:
    """Steps 3 and 4 (and 5 when either fails): charge at the provider, then write our records or compensate."""
    try:
        remote = provider.subscription_start(attempt=attempt, setup=setup)
        if remote is None:
            raise ProviderError(f"{provider.name} made no subscription for card subscribe attempt {attempt.pk}.")
    except Exception as error:
        subscribe_attempt_compensate_mark(attempt_id=attempt.pk, error=error)
        raise
    try:
        return subscribe_attempt_complete(attempt=attempt, remote=remote, request=request)
    except Exception as error:
        subscribe_attempt_compensate_mark(attempt_id=attempt.pk, error=error, remote=remote)
        raise


@transaction.atomic
def subscribe_attempt_complete(
    *, attempt: SubscribeAttempt, remote: SubscriptionStarted, request: SubscribeRequest
) -> SubscriptionStart:
    """Step 4: the provider charged; under the customer lock, if nothing changed since the quote, write our
    subscription, its invoice (numbered now) and the payment, and complete the attempt. Else 409
    `subscription_changed` (the caller compensates)."""
    checked = subscribe_check(request)
    locked = SubscribeAttempt.objects.select_for_update().get(pk=attempt.pk)
    if locked.status != SubscribeAttemptStatus.STARTED:
        # The reconcile took it for dead (the charge took longer than ATTEMPT_STUCK_AFTER) and compensates it.
        raise ApplicationError(
            "subscribe_interrupted",
            "The card payment took too long and is being refunded; try again.",
            status_code=409,
        )
    same_target = (checked.plan.pk, checked.billing_period) == (locked.plan_id, locked.billing_period)
    if checked.current_id != locked.replacing_id or not same_target:
        raise _changed()
    started = subscription_start_write(
        customer=checked.customer,
        plan=checked.plan,
        billing_period=checked.billing_period,
        replacing=checked.current,
        moment=request.moment,
        subscription_id=locked.subscription_reserved_id,
        quantity=checked.quantity,
        coupon=checked.coupon,
    )
    invoice = started.invoice
    # The card path only ever starts a paid subscription (a trial never reaches the provider): it has an invoice.
    if invoice is None or invoice_quote(invoice, language=checked.customer.preferred_language) != locked.quote:
        raise _changed()
    subscription = started.subscription
    subscription.stripe_subscription_id = remote.subscription_reference
    subscription.save(update_fields=["stripe_subscription_id", "updated_at"])
    Invoice.objects.filter(pk=invoice.pk).update(
        stripe_invoice_id=remote.invoice_reference, stripe_hosted_invoice_url=remote.hosted_invoice_url
    )
    if remote.amount_paid:
        card_payment_record(invoice=invoice, amount=remote.amount_paid, reference=remote.payment_reference)
    _remote_store(locked, remote)
    locked.status = SubscribeAttemptStatus.COMPLETED
    locked.subscription = subscription
    locked.finished_at = timezone.now()
    locked.save()
    provider_follow_enqueue(started)
    return started


def _remote_store(attempt: SubscribeAttempt, remote: SubscriptionStarted) -> None:
    attempt.provider_subscription_id = remote.subscription_reference
    attempt.provider_invoice_id = remote.invoice_reference
    attempt.provider_payment_id = remote.payment_reference
    attempt.amount_paid = remote.amount_paid


def subscribe_attempt_compensate_mark(
    *, attempt_id: int, error: BaseException | str, remote: SubscriptionStarted | None = None
) -> None:
    """Our records will not follow: the attempt is to compensate, by a job once this commits. Never raises (the
    caller is already failing with a better error); if even this is lost, the reconcile finds the attempt started."""
    if isinstance(error, str):
        reason = error
    else:
        reason = f"{getattr(error, 'code', type(error).__name__)}: {getattr(error, 'message', None) or error}"
    try:
        with transaction.atomic():
            locked = SubscribeAttempt.objects.select_for_update().filter(pk=attempt_id).first()
            if locked is None or locked.status != SubscribeAttemptStatus.STARTED:
                return
            if remote is not None:
                _remote_store(locked, remote)
            locked.status = SubscribeAttemptStatus.COMPENSATING
            locked.error = reason[:500]
            locked.save()
            job_enqueue(
                kind=JobKind.SUBSCRIBE_ATTEMPT_COMPENSATE,
                key=f"subscribe_attempt_compensate:{locked.pk}",
                payload={"attempt_id": locked.pk},
            )
    except Exception:
        logger.exception("subscribe attempt %s could not be marked to compensate; the reconcile will", attempt_id)


def subscribe_attempt_compensate(*, attempt_id: int) -> str:
    """Step 5: undo at the provider what an attempt that will not complete made (no lock held while it answers),
    then mark it compensated. Idempotent; a provider failure raises, and the attempt stays to compensate."""
    attempt = SubscribeAttempt.objects.get(pk=attempt_id)
    if attempt.status != SubscribeAttemptStatus.COMPENSATING:
        return f"attempt {attempt.pk} is {attempt.status}: nothing to do"
    provider = payment_provider()
    if provider.name != attempt.provider:
        raise ProviderError(f"Attempt {attempt.pk} was made through {attempt.provider}; {provider.name} is configured.")
    result = provider.subscription_start_compensate(attempt=attempt)
    with transaction.atomic():
        locked = SubscribeAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status == SubscribeAttemptStatus.COMPENSATING:
            locked.status = SubscribeAttemptStatus.COMPENSATED
            locked.result = result[:500]
            locked.finished_at = timezone.now()
            locked.save(update_fields=["status", "result", "finished_at", "updated_at"])
    return f"attempt {attempt.pk}: {result}"


@dataclass
class AttemptsReconcileReport:
    """What `subscribe_attempts_reconcile` found and did."""

    stuck: int = 0
    compensated: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def subscribe_attempts_reconcile(
    *, now: datetime | None = None, stuck_after: timedelta = ATTEMPT_STUCK_AFTER, limit: int = 200
) -> AttemptsReconcileReport:
    """The repair of crashes between the steps: attempts still started after `stuck_after` are marked to compensate
    (our records never followed: the provider's side is undone, whether or not it charged), then every attempt to
    compensate is compensated (those whose job gave up too). One at a time, no lock held during provider calls."""
    moment = now or timezone.now()
    report = AttemptsReconcileReport()
    stuck = SubscribeAttempt.objects.filter(
        status=SubscribeAttemptStatus.STARTED, started_at__lt=moment - stuck_after
    ).order_by("started_at")
    for attempt_id in list(stuck.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            # skip_locked: step 4 of a slow but live request holds the row; it decides, not us.
            locked = (
                SubscribeAttempt.objects.select_for_update(skip_locked=True)
                .filter(pk=attempt_id, status=SubscribeAttemptStatus.STARTED)
                .first()
            )
            if locked is None:
                continue
            locked.status = SubscribeAttemptStatus.COMPENSATING
            locked.error = f"stuck: no outcome {stuck_after} after it started (its process died)"[:500]
            locked.save(update_fields=["status", "error", "updated_at"])
            report.stuck += 1
    due = SubscribeAttempt.objects.filter(status=SubscribeAttemptStatus.COMPENSATING).order_by("started_at")
    for attempt_id in list(due.values_list("pk", flat=True)[:limit]):
        try:
            report.compensated.append(subscribe_attempt_compensate(attempt_id=attempt_id))
        except Exception as error:  # the provider still down: next run
            report.failures.append(f"attempt {attempt_id}: {getattr(error, 'message', None) or error}")
    return report
