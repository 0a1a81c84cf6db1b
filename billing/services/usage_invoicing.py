"""Usage on invoices: a subscription's metered charges of the days it has not invoiced yet become `usage` lines
(billed in arrears, in whole Asia/Seoul days), and the customer's `usage_billed_until` mark moves past them, so no
event can be counted into a period once it is invoiced (ingestion refuses it: `period_closed`).

Every function here runs under the customer row locked FOR UPDATE by the subscription service that calls it
(customer_lock). Ingestion reads `usage_billed_until` under FOR KEY SHARE, which that lock excludes: an ingestion
transaction either committed before the quantities are read here (its events are invoiced) or starts after the mark
moved (its events for the invoiced days are refused). Never both, never neither.

Usage too large to invoice (a charge above MAX_AMOUNT, `usage_amount_too_large`, or usage lines whose total with
VAT no invoice can hold) is never billed capped: a renewal raises `usage_amount_too_large` and holds the
subscription (billing.services.subscriptions.usage); the ends of a subscription (`drop_unbillable`) log an error and
close that usage with no line for it, so that a subscription can always end.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction

from billing.enums import InvoiceLineKind, Language
from billing.models import Customer
from billing.models.subscriptions import Subscription, SubscriptionInvoiceReason, SubscriptionStatus
from billing.models.usage import BillableMetric, PlanCharge
from billing.money import MAX_AMOUNT, vat_amount
from billing.periods import ServicePeriod, billing_date, billing_day_start
from billing.selectors.usage import usage_quantities, usage_window
from billing.tax import vat_rate_now
from billing_site.errors import ApplicationError

from .invoice_lines import InvoiceLineInput
from .usage_pricing import ChargeResult, charge_compute

logger = logging.getLogger(__name__)

USAGE_TOO_LARGE = "usage_amount_too_large"

USAGE_LINE_TEXT: dict[str, str] = {
    # "API 호출 123,456건 (기본 제공 100,000건)": Korean units follow the number without a space.
    Language.KOREAN: "{metric} {quantity}{unit}",
    Language.ENGLISH: "{metric}: {quantity} {unit}",
}
USAGE_INCLUDED_TEXT: dict[str, str] = {
    Language.KOREAN: " (기본 제공 {included}{unit})",
    Language.ENGLISH: " ({included} {unit} included)",
}


def usage_line_description(*, metric: BillableMetric, result: ChargeResult, language: str) -> str:
    """`API 호출 123,456건 (기본 제공 100,000건)` / `API calls: 123,456 calls (100,000 calls included)`."""
    chosen = language if language in USAGE_LINE_TEXT else Language.KOREAN
    unit = metric.display_unit(chosen)
    text = USAGE_LINE_TEXT[chosen].format(
        metric=metric.display_name(chosen), quantity=f"{result.quantity:,}", unit=unit
    )
    if result.included:
        text += USAGE_INCLUDED_TEXT[chosen].format(included=f"{result.included:,}", unit=unit)
    return text


def plan_charges(plan_id: int, *, currency: str) -> list[PlanCharge]:
    """The metered charges of a plan in `currency` (a subscription's: its usage is priced in the currency it pays
    in), in the order its invoices list them."""
    return list(
        PlanCharge.objects.filter(plan_id=plan_id, currency=currency)
        .select_related("metric")
        .order_by("display_order", "id")
    )


def plan_metered(plan_id: int, *, currency: str) -> bool:
    """Whether the plan charges any usage metric in `currency`."""
    return PlanCharge.objects.filter(plan_id=plan_id, currency=currency).exists()


def usage_lines(
    *, subscription: Subscription, period: ServicePeriod, language: str, drop_unbillable: bool = False
) -> list[InvoiceLineInput]:
    """One `usage` line per charge of the subscription's plan whose usage over `period` (its `usage_window`, Seoul
    midnights) costs something: quantity 1 at the charge's amount, its breakdown (ChargeResult.as_json) and metric
    on the line for the PDF. Usage within what the plan includes, or priced at 0, makes no line. The charges are
    those in the subscription's currency (the invoice's).

    A charge above MAX_AMOUNT raises `usage_amount_too_large` (422), or with `drop_unbillable` is logged as an
    error and makes no line. The plan is the subscription's as it is now: callers bill a period before a change of
    plan takes effect."""
    charges = plan_charges(subscription.plan_id, currency=subscription.currency)
    if not charges:
        return []
    start, end = usage_window(period)
    quantities = usage_quantities(
        customer_id=subscription.customer_id, metrics=[charge.metric for charge in charges], start=start, end=end
    )
    lines = []
    for charge in charges:
        try:
            result = charge_compute(charge=charge, quantity=quantities[charge.metric_id])
        except ApplicationError as error:
            if error.code != USAGE_TOO_LARGE or not drop_unbillable:
                raise
            logger.error(
                "usage of subscription %s (customer %s), %s to %s: %s; closed with no line for %s",
                subscription.pk,
                subscription.customer_id,
                period.start,
                period.end,
                error.message,
                charge.metric.code,
            )
            continue
        if result.amount <= 0:
            continue
        lines.append(
            InvoiceLineInput(
                description=usage_line_description(metric=charge.metric, result=result, language=language),
                unit_amount=result.amount,
                kind=InvoiceLineKind.USAGE,
                period_start=period.start,
                period_end=period.last_day,
                metric_id=charge.metric_id,
                usage=result.as_json(),
            )
        )
    return lines


def usage_period_close(*, customer: Customer, until: datetime) -> Customer:
    """Mark the customer's usage before `until` invoiced: `usage_billed_until` = max(old, until), never back.

    The caller holds the customer row FOR UPDATE since before it read the quantities it invoiced (see the module);
    the row is locked again here, which costs nothing when it is, so the mark is never written unlocked."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("usage_period_close must run inside the transaction that locked the customer.")
    if until.tzinfo is None:
        raise ValueError("usage_period_close needs an aware moment.")
    current = Customer.objects.select_for_update().values_list("usage_billed_until", flat=True).get(pk=customer.pk)
    if current is None or until > current:
        # Not save(): the customer's other fields and updated_at are not this write's business.
        Customer.objects.filter(pk=customer.pk).update(usage_billed_until=until)
        current = until
    customer.usage_billed_until = current
    return customer


def _first_unbilled_day(moment: datetime) -> date:
    """The first whole Seoul day at or after `moment` (the mark is a Seoul midnight whenever this module sets it)."""
    day = billing_date(moment)
    return day if billing_day_start(day) >= moment else day + timedelta(days=1)


def usage_period_unbilled(*, subscription: Subscription, customer: Customer, end: date) -> ServicePeriod | None:
    """The days before `end` whose usage the subscription still has to invoice, or None.

    From the first day it billed (its first period invoice; a free trial's days are never billed) or the day the
    customer's usage was invoiced until, whichever is later (a pause bills the days before it itself and its resume
    closes the paused days, so this never reaches back into a pause)."""
    first_billed = (
        subscription.period_invoices.exclude(reason=SubscriptionInvoiceReason.UPDATE)
        .order_by("period_start")
        .values_list("period_start", flat=True)
        .first()
    )
    start = subscription.current_period_start if first_billed is None else first_billed
    if subscription.trial_end is not None:
        start = max(start, subscription.trial_end)
    if customer.usage_billed_until is not None:
        start = max(start, _first_unbilled_day(customer.usage_billed_until))
    return ServicePeriod(start, end) if start < end else None


def _invoice_holds(lines: list[InvoiceLineInput], *, tax_treatment: str) -> bool:
    """Whether one invoice can hold these lines: their supply and its VAT within MAX_AMOUNT (invoice_lines)."""
    supply = sum(line.quantity * line.unit_amount for line in lines)
    vat = vat_amount(
        supply_amount=supply, tax_treatment=tax_treatment, rate_basis_points=vat_rate_now(tax_treatment=tax_treatment)
    )
    return supply + vat <= MAX_AMOUNT


def usage_lines_fit(
    lines: list[InvoiceLineInput], *, subscription: Subscription, customer: Customer, drop_unbillable: bool
) -> list[InvoiceLineInput]:
    """The usage lines, checked to fit on one invoice with their VAT. Too large: `usage_amount_too_large` (422),
    or with `drop_unbillable` the largest lines are left out (each logged as an error) until the rest fits."""
    kept = list(lines)
    while kept and not _invoice_holds(kept, tax_treatment=customer.tax_treatment):
        if not drop_unbillable:
            raise ApplicationError(
                USAGE_TOO_LARGE,
                f"The usage of subscription {subscription.pk} comes to more than one invoice can hold "
                f"({sum(line.unit_amount for line in kept)} before VAT; at most {MAX_AMOUNT} with it).",
                status_code=422,
            )
        largest = max(kept, key=lambda line: line.unit_amount)
        kept.remove(largest)
        logger.error(
            "usage of subscription %s (customer %s): %s (%s) does not fit on one invoice with the rest; closed "
            "with no line for it",
            subscription.pk,
            subscription.customer_id,
            largest.description,
            largest.unit_amount,
        )
    return kept


@dataclass(frozen=True)
class UsageArrears:
    """The usage a subscription invoices up to a day: the days covered (None: none left) and their lines."""

    period: ServicePeriod | None = None
    lines: list[InvoiceLineInput] = field(default_factory=list)


def usage_arrears_bill(
    *, subscription: Subscription, customer: Customer, end: date, language: str, drop_unbillable: bool = False
) -> UsageArrears:
    """The `usage` lines of the days before `end` the subscription has not invoiced (`usage_period_unbilled`), and
    the customer's usage closed at the start of `end` (Seoul midnight), in the caller's transaction: the caller puts
    the lines on an invoice it issues in that same transaction.

    Usage too large to invoice raises `usage_amount_too_large` (422) before anything is written, or, with
    `drop_unbillable` (a subscription ending), is logged as an error and closed with no line (`usage_lines`,
    `usage_lines_fit`).

    Nothing for a subscription that never started (incomplete) or one still in its free trial. A plan without
    charges bills nothing but still closes the days before `end`: its usage is not billable, and leaving the mark
    behind would let a later metered plan (a plan change, or charges added to the plan file) bill all of it."""
    if subscription.status in (SubscriptionStatus.INCOMPLETE, SubscriptionStatus.TRIALING):
        return UsageArrears()
    if not plan_metered(subscription.plan_id, currency=subscription.currency):
        usage_period_close(customer=customer, until=billing_day_start(end))
        return UsageArrears()
    period = usage_period_unbilled(subscription=subscription, customer=customer, end=end)
    lines = []
    if period is not None:
        lines = usage_lines(
            subscription=subscription, period=period, language=language, drop_unbillable=drop_unbillable
        )
        lines = usage_lines_fit(lines, subscription=subscription, customer=customer, drop_unbillable=drop_unbillable)
    usage_period_close(customer=customer, until=billing_day_start(end))
    return UsageArrears(period=period, lines=lines)
