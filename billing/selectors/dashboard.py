"""Reads of the staff dashboard: MRR, revenue by month, new and canceled subscriptions, open and overdue invoices,
top plans. Every figure is one aggregate query grouped in the database (months on the Asia/Seoul calendar);
billing.admin.dashboard draws them.

Definitions:
- MRR: the monthly value (supply amount, VAT excluded) of subscriptions in service: an annual price counts
  as a twelfth (truncated to the minor unit). In service at a moment = created by then, not ended by then,
  and not a checkout still waiting for (or that never got) its first payment. Per currency.
- Revenue: money received, i.e. succeeded payments, by the Asia/Seoul month of `succeeded_at`.
- New: subscriptions started that are not a plan change of an earlier one (and not a never-paid checkout).
  Canceled: subscriptions ended at the customer's or staff's request (plan changes and expired checkouts
  are neither churn nor new business).
- Refunds: money given back by card or bank transfer (succeeded refunds, by the month of `succeeded_at`); a
  refund to the credit balance is not money out. Credit notes: their totals (VAT included), by month of issue.
- Open invoices: status open; overdue: open with a due date before today (Asia/Seoul). Amounts remaining.
- In KRW (issue 17): MRR, revenue, refunds and credit notes of every currency converted with the exchange rate
  of their month (billing.selectors.exchange_rates: exact, rounded once to whole won per figure); a currency
  without a rate for the month is listed as missing and left out of the KRW figure, never guessed.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.enums import InvoiceStatus, PaymentStatus, RefundMethod, RefundStatus
from billing.models import CreditNote, Invoice, Payment, Refund, Subscription
from billing.models.subscriptions import CancellationReason, SubscriptionStatus
from billing.periods import BILLING_TIME_ZONE, BillingPeriod, add_months, billing_day_start
from billing.selectors.exchange_rates import Conversion, KrwTotal, Rates, krw_total, rates_between

MONTHS = 12


@dataclass(frozen=True)
class MonthValue:
    month: date  # first day of the month
    value: int


@dataclass(frozen=True)
class MrrFigure:
    currency: str
    current: int
    previous: int

    @property
    def change(self) -> int:
        return self.current - self.previous


@dataclass(frozen=True)
class InvoiceFigure:
    currency: str
    open_count: int
    open_amount: int
    overdue_count: int
    overdue_amount: int


@dataclass(frozen=True)
class PlanFigure:
    plan_id: int
    name: str
    currency: str
    subscriptions: int
    mrr: int


def month_starts(*, today: date, months: int = MONTHS) -> list[date]:
    """The first days of the last `months` months, oldest first, ending with today's month."""
    this_month = today.replace(day=1)
    return [add_months(this_month, offset) for offset in range(-(months - 1), 1)]


def _monthly_value() -> Case:
    return Case(
        When(billing_period=BillingPeriod.ANNUAL, then=F("price_amount") / Value(12)),
        default=F("price_amount"),
        output_field=IntegerField(),
    )


def _in_service_at(moment: datetime) -> Q:
    return (
        Q(created_at__lte=moment)
        & (Q(ended_at__isnull=True) | Q(ended_at__gt=moment))
        & ~Q(status=SubscriptionStatus.INCOMPLETE)
        & ~Q(cancellation_reason=CancellationReason.INCOMPLETE_EXPIRED)
    )


def dashboard_mrr(*, now: datetime | None = None) -> list[MrrFigure]:
    """MRR now and one month earlier, per currency: one grouped query."""
    moment = now or timezone.now()
    local = moment.astimezone(BILLING_TIME_ZONE)
    month_ago = datetime.combine(add_months(local.date(), -1), local.timetz())
    rows = (
        Subscription.objects.filter(_in_service_at(moment) | _in_service_at(month_ago))
        .values("currency")
        .annotate(
            current=Sum(_monthly_value(), filter=_in_service_at(moment), default=0),
            previous=Sum(_monthly_value(), filter=_in_service_at(month_ago), default=0),
        )
        .order_by("currency")
    )
    return [MrrFigure(row["currency"], row["current"], row["previous"]) for row in rows]


def _fill(months: list[date], values: dict[date, int]) -> list[MonthValue]:
    return [MonthValue(month, values.get(month, 0)) for month in months]


def _month_of(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _by_month_and_currency(rows: Iterable[Mapping[str, Any]]) -> dict[date, dict[str, int]]:
    totals: dict[date, dict[str, int]] = {}
    for row in rows:
        totals.setdefault(_month_of(row["month"]), {})[row["currency"]] = row["total"]
    return totals


def _monthly_totals(
    rows: QuerySet[Any], *, date_field: str, amount_field: str, currency: str | None
) -> dict[date, dict[str, int]]:
    """Sum of `amount_field` by Asia/Seoul month of `date_field` and currency: one grouped query."""
    if currency is not None:
        rows = rows.filter(currency=currency)
    return _by_month_and_currency(
        rows.annotate(month=TruncMonth(date_field, tzinfo=BILLING_TIME_ZONE))
        .values("month", "currency")
        .annotate(total=Sum(amount_field))
        .order_by("month", "currency")
    )


def _received(*, since: datetime, currency: str | None) -> dict[date, dict[str, int]]:
    """Succeeded payments by Asia/Seoul month and currency."""
    payments = Payment.objects.filter(status=PaymentStatus.SUCCEEDED, succeeded_at__gte=since)
    return _monthly_totals(payments, date_field="succeeded_at", amount_field="amount", currency=currency)


def _refunded(*, since: datetime, currency: str | None) -> dict[date, dict[str, int]]:
    """Money given back by card or bank transfer by Asia/Seoul month and currency."""
    refunds = Refund.objects.filter(
        status=RefundStatus.SUCCEEDED,
        method__in=[RefundMethod.CARD, RefundMethod.BANK_TRANSFER],
        succeeded_at__gte=since,
    )
    return _monthly_totals(refunds, date_field="succeeded_at", amount_field="amount", currency=currency)


def _credited(*, since: datetime, currency: str | None) -> dict[date, dict[str, int]]:
    """Credit note totals by Asia/Seoul month of issue and currency."""
    notes = CreditNote.objects.filter(issued_at__gte=since)
    return _monthly_totals(notes, date_field="issued_at", amount_field="total", currency=currency)


def dashboard_revenue_by_month(*, today: date, currency: str = "KRW", months: int = MONTHS) -> list[MonthValue]:
    """Succeeded payments in `currency` per Asia/Seoul month for the last `months` months (zero-filled), one query."""
    starts = month_starts(today=today, months=months)
    received = _received(since=billing_day_start(starts[0]), currency=currency)
    return _fill(starts, {month: amounts.get(currency, 0) for month, amounts in received.items()})


@dataclass(frozen=True)
class CorrectionMonth:
    month: date
    refunds: int
    credited: int


def dashboard_corrections_by_month(
    *, today: date, currency: str = "KRW", months: int = MONTHS
) -> list[CorrectionMonth]:
    """Money refunded (card and bank transfer) and credit notes issued per Asia/Seoul month: two grouped queries."""
    starts = month_starts(today=today, months=months)
    since = billing_day_start(starts[0])
    refunds = _refunded(since=since, currency=currency)
    credited = _credited(since=since, currency=currency)
    return [
        CorrectionMonth(month, refunds.get(month, {}).get(currency, 0), credited.get(month, {}).get(currency, 0))
        for month in starts
    ]


@dataclass(frozen=True)
class MoneyMonth:
    """One Asia/Seoul month's money per currency (minor units): received, refunded, credited; each in KRW too."""

    month: date
    revenue: KrwTotal
    refunds: KrwTotal
    credited: KrwTotal

    @property
    def currencies(self) -> list[str]:
        """Every currency with money this month, KRW first."""
        seen = {part.currency for total in (self.revenue, self.refunds, self.credited) for part in total.parts}
        return sorted(seen, key=lambda currency: (currency != "KRW", currency))

    def rate(self, currency: str) -> Conversion | None:
        """The conversion of `currency` this month (its rate, or none), from whichever figure has it."""
        for total in (self.revenue, self.refunds, self.credited):
            for part in total.parts:
                if part.currency == currency:
                    return part
        return None


def dashboard_rates(*, today: date, months: int = MONTHS) -> dict[tuple[date, str], Decimal]:
    """The exchange rates of the dashboard's months (by month and currency): one query."""
    return rates_between(first=month_starts(today=today, months=months)[0], last=today)


def dashboard_money_by_month(*, today: date, rates: Rates, months: int = MONTHS) -> list[MoneyMonth]:
    """Revenue, refunds and credit notes per Asia/Seoul month in every currency and in KRW with `rates` (from
    dashboard_rates): three grouped queries."""
    starts = month_starts(today=today, months=months)
    since = billing_day_start(starts[0])
    received = _received(since=since, currency=None)
    refunded = _refunded(since=since, currency=None)
    credited = _credited(since=since, currency=None)
    return [
        MoneyMonth(
            month=month,
            revenue=krw_total(month=month, amounts=received.get(month, {}), rates=rates),
            refunds=krw_total(month=month, amounts=refunded.get(month, {}), rates=rates),
            credited=krw_total(month=month, amounts=credited.get(month, {}), rates=rates),
        )
        for month in starts
    ]


@dataclass(frozen=True)
class MrrKrw:
    """MRR of every currency in KRW: now with this month's rates, a month ago with that month's."""

    current: KrwTotal
    previous: KrwTotal

    @property
    def change(self) -> int:
        return self.current.krw - self.previous.krw


def dashboard_mrr_krw(*, figures: list[MrrFigure], today: date, rates: Rates) -> MrrKrw:
    """`figures` (dashboard_mrr at `today`) in KRW; nothing read."""
    this_month = today.replace(day=1)
    return MrrKrw(
        current=krw_total(month=this_month, amounts={f.currency: f.current for f in figures}, rates=rates),
        previous=krw_total(
            month=add_months(this_month, -1), amounts={f.currency: f.previous for f in figures}, rates=rates
        ),
    )


@dataclass(frozen=True)
class SubscriptionMovement:
    month: date
    new: int
    canceled: int


def dashboard_subscription_movements(*, today: date, months: int = MONTHS) -> list[SubscriptionMovement]:
    """New and canceled subscriptions per Asia/Seoul month: two grouped queries."""
    starts = month_starts(today=today, months=months)
    since = billing_day_start(starts[0])
    new_rows = (
        Subscription.objects.filter(created_at__gte=since, replaces__isnull=True)
        .exclude(status=SubscriptionStatus.INCOMPLETE)
        .exclude(cancellation_reason=CancellationReason.INCOMPLETE_EXPIRED)
        .annotate(month=TruncMonth("created_at", tzinfo=BILLING_TIME_ZONE))
        .values("month")
        .annotate(count=Count("id"))
        .order_by("month")
    )
    canceled_rows = (
        Subscription.objects.filter(
            ended_at__gte=since, status=SubscriptionStatus.CANCELED, cancellation_reason=CancellationReason.REQUESTED
        )
        .annotate(month=TruncMonth("ended_at", tzinfo=BILLING_TIME_ZONE))
        .values("month")
        .annotate(count=Count("id"))
        .order_by("month")
    )
    new = {_month_of(row["month"]): row["count"] for row in new_rows}
    canceled = {_month_of(row["month"]): row["count"] for row in canceled_rows}
    return [SubscriptionMovement(month, new.get(month, 0), canceled.get(month, 0)) for month in starts]


def dashboard_invoices(*, today: date) -> list[InvoiceFigure]:
    """Open and overdue invoices (count and amount remaining) per currency: one grouped query."""
    overdue = Q(due_date__lt=today)
    rows = (
        Invoice.objects.filter(status=InvoiceStatus.OPEN)
        .values("currency")
        .annotate(
            open_count=Count("id"),
            open_amount=Sum("amount_remaining", default=0),
            overdue_count=Count("id", filter=overdue),
            overdue_amount=Sum("amount_remaining", filter=overdue, default=0),
        )
        .order_by("currency")
    )
    return [
        InvoiceFigure(
            row["currency"], row["open_count"], row["open_amount"], row["overdue_count"], row["overdue_amount"]
        )
        for row in rows
    ]


def dashboard_top_plans(*, now: datetime | None = None, limit: int | None = 5) -> list[PlanFigure]:
    """Plans by MRR of their subscriptions in service now (then by count), per currency: one grouped query.
    (`limit` None: every plan and currency, for the caller to rank in KRW.)"""
    moment = now or timezone.now()
    rows = (
        Subscription.objects.filter(_in_service_at(moment))
        .values("plan_id", "plan__name", "currency")
        .annotate(subscriptions=Count("id"), mrr=Sum(_monthly_value(), default=0))
        .order_by("-mrr", "-subscriptions", "plan_id")[:limit]
    )
    return [
        PlanFigure(row["plan_id"], row["plan__name"], row["currency"], row["subscriptions"], row["mrr"]) for row in rows
    ]
