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
    dashboard_corrections_by_month,
    dashboard_invoices,
    dashboard_mrr,
    dashboard_revenue_by_month,
    dashboard_subscription_movements,
    dashboard_top_plans,
)

from .common import money

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


def dashboard_context(*, now: Any = None) -> dict[str, Any]:
    """Every figure of the dashboard (six aggregate reads) plus its charts."""
    moment = now or timezone.now()
    today = billing_date(moment)
    revenue = dashboard_revenue_by_month(today=today)
    corrections = dashboard_corrections_by_month(today=today)
    movements = dashboard_subscription_movements(today=today)
    month_labels = [f"{item.month:%Y-%m}" for item in revenue]
    mrr = [
        {
            "currency": figure.currency,
            "current": money(figure.current, figure.currency),
            "previous": money(figure.previous, figure.currency),
            "change": ("+" if figure.change > 0 else "") + money(figure.change, figure.currency),
            "change_percent": (
                f"{figure.change * 100 / figure.previous:+.1f}%"
                if figure.previous
                else ("—" if not figure.current else "new")
            ),
            "raw": figure,
        }
        for figure in dashboard_mrr(now=moment)
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
    plans = [
        {"name": plan.name, "subscriptions": plan.subscriptions, "mrr": money(plan.mrr, plan.currency), "raw": plan}
        for plan in dashboard_top_plans(now=moment)
    ]
    return {
        "today": today,
        "mrr": mrr,
        "invoices": invoices,
        "top_plans": plans,
        "revenue": revenue,
        "corrections": corrections,
        "movements": movements,
        "revenue_chart": bar_chart(
            title=gettext("Revenue, refunds and credit notes by month (KRW)"),
            labels=month_labels,
            series=[
                Series(gettext("Revenue"), [item.value for item in revenue], COLORS[0]),
                Series(gettext("Refunds"), [item.refunds for item in corrections], COLORS[1]),
                Series(gettext("Credit notes"), [item.credited for item in corrections], COLORS[2]),
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
