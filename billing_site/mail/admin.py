"""The emails page of the admin: every email and how sending it went, a chart of the last 14 days, a preview of the
message, "send again" (permission mail.resend_email), and the table of a user's emails for other admin pages."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing_site.admin_bases import SystemRecordAdmin
from billing_site.errors import ApplicationError

from .models import Email, EmailStatus
from .services import email_render, email_resend

CHART_DAYS = 14
STATUS_COLORS = {
    EmailStatus.SENT: "#417690",
    EmailStatus.PENDING: "#e6a23c",
    EmailStatus.SENDING: "#79aec8",
    EmailStatus.FAILED: "#ba2121",
    EmailStatus.SKIPPED: "#999999",
}
WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 44


def _n(value: float) -> str:
    return f"{value:.1f}"


def _moment(value: Any) -> str:
    """An aware moment in the site's time zone (Asia/Seoul), to the minute."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def emails_per_day(*, days: int = CHART_DAYS, today: date | None = None) -> tuple[list[date], dict[str, list[int]]]:
    """Emails created on each of the last `days` days (site time zone), per status: (days, {status: counts})."""
    last = today or timezone.localdate()
    first = last - timedelta(days=days - 1)
    dates = [first + timedelta(days=offset) for offset in range(days)]
    start = timezone.make_aware(datetime.combine(first, time.min))
    counts: dict[tuple[date, str], int] = defaultdict(int)
    rows = (
        Email.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "status")
        .annotate(total=Count("id"))
    )
    for row in rows:
        counts[(row["day"], row["status"])] += row["total"]
    return dates, {status: [counts[(day, status)] for day in dates] for status in STATUS_COLORS}


def emails_chart(*, days: int = CHART_DAYS, today: date | None = None) -> SafeString:
    """Stacked bars, one per day, coloured by status; inline SVG drawn here (no script, nothing from the network)."""
    dates, series = emails_per_day(days=days, today=today)
    totals = [sum(series[status][index] for status in series) for index in range(len(dates))]
    maximum = max(max(totals, default=0), 4)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(dates)
    parts: list[SafeString] = [
        format_html(
            '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#666">{}</text>'
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>',
            LEFT - 6,
            TOP + 4,
            maximum,
            LEFT,
            WIDTH - RIGHT,
            TOP,
            TOP,
        )
    ]
    for index, day in enumerate(dates):
        base = float(TOP + plot_height)
        for status, color in STATUS_COLORS.items():
            value = series[status][index]
            if not value:
                continue
            height = plot_height * value / maximum
            base -= height
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-status="{}" '
                    'data-value="{}"><title>{} {}: {}</title></rect>',
                    _n(LEFT + slot * index + slot * 0.15),
                    _n(base),
                    _n(slot * 0.7),
                    _n(height),
                    color,
                    status,
                    value,
                    day.isoformat(),
                    EmailStatus(status).label,
                    value,
                )
            )
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="10" fill="#333">{}</text>',
                _n(LEFT + slot * index + slot / 2),
                HEIGHT - BOTTOM + 14,
                day.strftime("%m-%d"),
            )
        )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}" font-size="11">{}</text>',
        (
            (LEFT + 110 * i, HEIGHT - 16, color, LEFT + 110 * i + 14, HEIGHT - 7, EmailStatus(status).label)
            for i, (status, color) in enumerate(STATUS_COLORS.items())
        ),
    )
    title = gettext("Emails of the last %(days)s days, per day and status") % {"days": days}
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}"'
        ' class="billing-chart emails-chart"><title>{}</title>{}{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        title,
        SafeString("".join(parts)),
        legend,
    )


def emails_table_html(*, user_id: int, limit: int = 20) -> str:
    """The latest `limit` emails of a user as an HTML table (everything escaped), each linking to its admin page."""
    emails = list(Email.objects.filter(user_id=user_id).order_by("-id")[:limit])
    if not emails:
        return format_html("<p>{}</p>", gettext("No emails yet."))
    header = format_html_join(
        "",
        "<th>{}</th>",
        ((label,) for label in (_("created at"), _("kind"), _("to"), _("status"), _("attempts"), _("sent at"))),
    )
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:mail_email_change", args=(email.pk,)),
                _moment(email.created_at),
                email.kind,
                email.to_address,
                email.get_status_display(),
                email.attempts,
                _moment(email.sent_at),
            )
            for email in emails
        ),
    )
    return format_html('<table class="emails-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', header, rows)


@admin.register(Email)
class EmailAdmin(SystemRecordAdmin):
    list_display = ["created", "kind", "to_address", "status", "attempts", "sent"]
    list_filter = ["status", "kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["to_address", "=object_id"]
    ordering = ["-id"]
    actions = ["resend_selected"]
    change_list_template = "admin/mail/email/change_list.html"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("preview", *(field.name for field in self.model._meta.concrete_fields))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.get_fields(request, obj))

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("mail.resend_email"))

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, email: Email) -> str:
        return _moment(email.created_at)

    @admin.display(description=_("sent at"), ordering="sent_at")
    def sent(self, email: Email) -> str:
        return _moment(email.sent_at)

    @admin.display(description=_("preview"))
    def preview(self, email: Email) -> str:
        """The message as it would be sent now (rendered from the object as it is today), escaped."""
        try:
            rendered = email_render(email=email, preview=True)
        except Exception as error:  # the object is gone, the renderer skips it, or no renderer: say so, do not 500
            return format_html("<p>{}: {}</p>", gettext("No preview"), f"{type(error).__name__}: {error}")
        attachments = ", ".join(attachment.filename for attachment in rendered.attachments) or "-"
        return format_html(
            '<div class="email-preview"><p><strong>{}</strong> {}</p><p><strong>{}</strong> {}</p>'
            '<pre style="white-space: pre-wrap; max-width: 60em;">{}</pre></div>',
            gettext("Subject:"),
            rendered.subject,
            gettext("Attachments:"),
            attachments,
            rendered.text,
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        waiting = Email.objects.filter(status__in=[EmailStatus.PENDING, EmailStatus.SENDING]).count()
        failed = Email.objects.filter(status=EmailStatus.FAILED).count()
        context = {"emails_chart": emails_chart(), "emails_waiting": waiting, "emails_failed": failed}
        return super().changelist_view(request, extra_context={**(extra_context or {}), **context})

    @admin.action(description=_("Send the selected emails again"), permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[Email]) -> None:
        for email in queryset.order_by("id"):
            try:
                email_resend(email=email, actor=request.user)
            except ApplicationError as error:
                self.message_user(
                    request,
                    gettext("%(object)s: refused: %(reason)s") % {"object": email, "reason": error.message},
                    messages.ERROR,
                )
            else:
                self.message_user(request, gettext("%(object)s: queued again") % {"object": email}, messages.SUCCESS)
