"""The staff dashboard page (/admin/dashboard/) and its charts, drawn by the server as inline SVG, no CDN."""

from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from billing.periods import billing_date
from billing.selectors.dashboard import (
    MoneyMonth,
    MrrKrw,
    dashboard_invoices,
    dashboard_money_by_month,
    dashboard_mrr,
    dashboard_mrr_krw,
    dashboard_rates,
    dashboard_subscription_movements,
    dashboard_top_plans,
)
from billing.selectors.exchange_rates import Conversion, KrwTotal, krw_total

from .common import money
from .exchange_rates import rate_text

TOP_PLANS = 5

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 80, 10, 16, 40
COLORS = ("#417690", "#ba2121", "#e0a526")


@dataclass(frozen=True)
class Series:
    label: str
    values: list[int]
    color: str


def _n(value: float) -> str:
    return f"{value:.1f}"


def _nice_ceiling(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 4, 8):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def bar_chart(*, title: str, labels: list[str], series: list[Series], value_format: Any = str) -> SafeString:
    """Grouped bars, one group per label, with a y axis of five ticks; every bar carries a <title> tooltip."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    # At least 4, so that the five ticks of a small count are whole numbers.
    maximum = max(_nice_ceiling(max((value for item in series for value in item.values), default=0)), 4)
    group_width = plot_width / max(len(labels), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    parts: list[SafeString] = []
    for tick in range(5):
        value = maximum * tick // 4
        y = TOP + plot_height - plot_height * tick / 4
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#666">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                _n(y),
                _n(y),
                LEFT - 6,
                _n(y + 4),
                value_format(value),
            )
        )
    for index, label in enumerate(labels):
        x0 = LEFT + group_width * index + group_width * 0.1
        for position, item in enumerate(series):
            value = item.values[index]
            height = plot_height * value / maximum
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-value="{}">'
                    "<title>{} {}: {}</title></rect>",
                    _n(x0 + bar_width * position),
                    _n(TOP + plot_height - height),
                    _n(bar_width),
                    _n(height),
                    item.color,
                    value,
                    label,
                    item.label,
                    value_format(value),
                )
            )
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#333">{}</text>',
                _n(LEFT + group_width * index + group_width / 2),
                HEIGHT - BOTTOM + 16,
                label,
            )
        )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11">{}</text>',
        (
            (LEFT + 140 * i, HEIGHT - 14, item.color, LEFT + 140 * i + 14, HEIGHT - 5, item.label)
            for i, item in enumerate(series)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}"'
        ' class="billing-chart">'
        "<title>{}</title>{}{}</svg>",
        WIDTH,
        HEIGHT,
        title,
        title,
        SafeString("".join(parts)),
        legend,
    )


def _signed(amount: int, currency: str) -> str:
    return ("+" if amount > 0 else "") + money(amount, currency)


def _percent(current: int, previous: int) -> str:
    if previous:
        return f"{(current - previous) * 100 / previous:+.1f}%"
    return "—" if not current else "new"


def _conversion(part: Conversion) -> dict[str, Any]:
    """One currency's amount of a month, the rate used and its value in KRW (or "no rate")."""
    return {
        "currency": part.currency,
        "month": f"{part.month:%Y-%m}",
        "amount": money(part.amount, part.currency),
        "rate": "" if part.rate is None else rate_text(part.rate),
        "krw": gettext("no rate") if part.krw is None else money(part.krw, "KRW"),
    }


def _mrr_krw(mrr: MrrKrw) -> dict[str, Any]:
    current, previous = mrr.current, mrr.previous
    return {
        "show": any(part.currency != "KRW" for part in (*current.parts, *previous.parts)),
        "month": f"{current.month:%Y-%m}",
        "current": money(current.krw, "KRW"),
        "change": _signed(mrr.change, "KRW"),
        "change_percent": _percent(current.krw, previous.krw),
        "rates_used": [_conversion(part) for part in current.converted],
        "missing": [_conversion(part) for part in (*current.missing, *previous.missing)],
        "raw": mrr,
    }


def _rates_table(months: list[MoneyMonth]) -> list[dict[str, Any]]:
    """Per month and currency other than KRW with money: the rate used (or none) and each figure in KRW."""
    rows = []
    for month in reversed(months):
        for currency in month.currencies:
            if currency == "KRW":
                continue
            figures = [
                next((part for part in total.parts if part.currency == currency), None)
                for total in (month.revenue, month.refunds, month.credited)
            ]
            conversion = month.rate(currency)
            rows.append(
                {
                    "month": f"{month.month:%Y-%m}",
                    "currency": currency,
                    "rate": "" if conversion is None or conversion.rate is None else rate_text(conversion.rate),
                    "figures": [
                        "—"
                        if part is None
                        else money(part.amount, currency) + ("" if part.krw is None else f" ({money(part.krw, 'KRW')})")
                        for part in figures
                    ],
                }
            )
    return rows


def _top_plans(*, now: Any, today: Any, rates: Any) -> list[dict[str, Any]]:
    """Plans ranked by MRR in KRW with this month's rates (a plan's currency without a rate ranks after those, by
    its own MRR, and shows "no rate")."""
    this_month = today.replace(day=1)
    rows = [
        (plan, krw_total(month=this_month, amounts={plan.currency: plan.mrr}, rates=rates).parts[0])
        for plan in dashboard_top_plans(now=now, limit=None)
    ]
    rows.sort(
        key=lambda row: (
            row[1].krw is None,
            -(row[0].mrr if row[1].krw is None else row[1].krw),
            -row[0].subscriptions,
            row[0].plan_id,
        )
    )
    return [
        {
            "name": plan.name,
            "subscriptions": plan.subscriptions,
            "mrr": money(plan.mrr, plan.currency),
            "mrr_krw": _conversion(converted)["krw"],
            "raw": plan,
        }
        for plan, converted in rows[:TOP_PLANS]
    ]


def _krw_values(totals: list[KrwTotal]) -> list[int]:
    return [total.krw for total in totals]


def dashboard_context(*, now: Any = None) -> dict[str, Any]:
    """Every figure of the dashboard (seven aggregate reads and the exchange rates) plus its charts."""
    moment = now or timezone.now()
    today = billing_date(moment)
    rates = dashboard_rates(today=today)
    money_months = dashboard_money_by_month(today=today, rates=rates)
    movements = dashboard_subscription_movements(today=today)
    month_labels = [f"{item.month:%Y-%m}" for item in money_months]
    mrr_figures = dashboard_mrr(now=moment)
    mrr = [
        {
            "currency": figure.currency,
            "current": money(figure.current, figure.currency),
            "previous": money(figure.previous, figure.currency),
            "change": _signed(figure.change, figure.currency),
            "change_percent": _percent(figure.current, figure.previous),
            "raw": figure,
        }
        for figure in mrr_figures
    ]
    invoices = [
        {
            "currency": figure.currency,
            "open_count": figure.open_count,
            "open_amount": money(figure.open_amount, figure.currency),
            "overdue_count": figure.overdue_count,
            "overdue_amount": money(figure.overdue_amount, figure.currency),
            "raw": figure,
        }
        for figure in dashboard_invoices(today=today)
    ]
    return {
        "today": today,
        "mrr": mrr,
        "mrr_krw": _mrr_krw(dashboard_mrr_krw(figures=mrr_figures, today=today, rates=rates)),
        "invoices": invoices,
        "top_plans": _top_plans(now=moment, today=today, rates=rates),
        "money_months": money_months,
        "rates_table": _rates_table(money_months),
        "movements": movements,
        "revenue_chart": bar_chart(
            title=gettext("Revenue, refunds and credit notes by month (KRW)"),
            labels=month_labels,
            series=[
                Series(gettext("Revenue"), _krw_values([item.revenue for item in money_months]), COLORS[0]),
                Series(gettext("Refunds"), _krw_values([item.refunds for item in money_months]), COLORS[1]),
                Series(gettext("Credit notes"), _krw_values([item.credited for item in money_months]), COLORS[2]),
            ],
            value_format=lambda value: money(value, "KRW"),
        ),
        "movements_chart": bar_chart(
            title=gettext("New and canceled subscriptions by month"),
            labels=month_labels,
            series=[
                Series(gettext("New"), [item.new for item in movements], COLORS[0]),
                Series(gettext("Canceled"), [item.canceled for item in movements], COLORS[1]),
            ],
        ),
    }


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Staff with view access to invoices (billing staff and support) see the dashboard."""
    if not request.user.has_perm("billing.view_invoice"):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": gettext("Billing dashboard"),
        **dashboard_context(),
    }
    return TemplateResponse(request, "admin/billing/dashboard.html", context)
