"""Shared pieces of the billing admin: money and Seoul-time display, per-object action reports, date ranges, audit."""

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from auditlog.models import LogEntry
from django.contrib import admin, messages
from django.db.models import DateTimeField, Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.money import LANGUAGE_LOCALES, money_format
from billing.periods import BILLING_TIME_ZONE, billing_day_start
from billing_site.errors import ApplicationError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

EMPTY = "—"


def money(amount: int | None, currency: str) -> str:
    """₩99,000 · $12.34 (US$12.34 in Korean) in the admin's active language; an empty dash when there is no amount."""
    if amount is None:
        return EMPTY
    language = (translation.get_language() or "")[:2]
    # With translations deactivated (some commands) there is no language: the locale-neutral form then.
    return money_format(amount=amount, currency=currency, language=language if language in LANGUAGE_LOCALES else None)


def money_column(
    amount: str, description: "StrOrPromise", *, currency: str = "currency", ordering: str | None = None
) -> Callable[[Any, Model], str]:
    """An admin column (list_display, readonly_fields) showing the minor units at `amount` with `money`.

    `amount` and `currency` are attribute paths from the row ("total", "invoice.currency"); `ordering` sorts
    the changelist by that column.
    """
    amount_of = attrgetter(amount)
    currency_of = attrgetter(currency)

    def column(model_admin: Any, obj: Model) -> str:
        return money(amount_of(obj), currency_of(obj))

    return admin.display(description=description, ordering=ordering)(column)


def seoul(moment: datetime | None) -> str:
    """An aware moment as Asia/Seoul wall time (2025-01-31 14:05 KST), whatever the server's zone."""
    if moment is None:
        return EMPTY
    return timezone.localtime(moment, BILLING_TIME_ZONE).strftime("%Y-%m-%d %H:%M KST")


def seoul_column(
    moment: str, description: "StrOrPromise", *, ordering: str | None = None
) -> Callable[[Any, Model], str]:
    """An admin column showing the moment at attribute `moment` with `seoul`; `ordering` sorts the changelist by it."""
    moment_of = attrgetter(moment)

    def column(model_admin: Any, obj: Model) -> str:
        return seoul(moment_of(obj))

    return admin.display(description=description, ordering=ordering)(column)


def report_each(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    objects: Iterable[Model],
    *,
    operation: Callable[[Any], Any],
    success: str,
) -> tuple[int, int]:
    """Run `operation` on each object, one transaction each (the service's), and tell the user about every one.

    Success says `success` (a text with {object}); a refusal says the service's own message
    (ApplicationError.message), which names the precise reason. Returns (done, refused).
    """
    done = refused = 0
    for obj in objects:
        try:
            result = operation(obj)
        except ApplicationError as error:
            refused += 1
            model_admin.message_user(
                request,
                gettext("%(object)s: refused: %(reason)s") % {"object": obj, "reason": error.message},
                messages.ERROR,
            )
        else:
            done += 1
            model_admin.message_user(request, success.format(object=result or obj), messages.SUCCESS)
    return done, refused


def pdf_redirect(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    obj: Model,
    *,
    back: str,
    signed_url: Callable[[], tuple[str, Any] | None],
) -> HttpResponse:
    """To a document's signed PDF link (`signed_url` renders a pending PDF first), or back to `back` saying why not."""
    try:
        signed = signed_url()
    except ApplicationError as error:
        model_admin.message_user(
            request,
            gettext("%(object)s: refused: %(reason)s") % {"object": obj, "reason": error.message},
            messages.ERROR,
        )
        return HttpResponseRedirect(back)
    except Exception as error:  # the renderer or storage failed: the reason is on the document (pdf_error)
        model_admin.message_user(
            request, gettext("The PDF could not be produced: %(error)s") % {"error": error}, messages.ERROR
        )
        return HttpResponseRedirect(back)
    if signed is None:
        model_admin.message_user(request, gettext("The PDF is not ready yet."), messages.WARNING)
        return HttpResponseRedirect(back)
    return HttpResponseRedirect(signed[0])


class DateRangeFilter(admin.FieldListFilter):
    """From/to date inputs (Asia/Seoul days, the end included) for a DateField or DateTimeField."""

    template = "admin/billing/date_range_filter.html"

    def __init__(self, field: Any, request: HttpRequest, params: dict, model: Any, model_admin: Any, field_path: str):
        self.parameter_from = f"{field_path}__range_from"
        self.parameter_to = f"{field_path}__range_to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.value_from = self._param(self.parameter_from)
        self.value_to = self._param(self.parameter_to)

    def _param(self, name: str) -> date | None:
        value = self.used_parameters.get(name)
        if isinstance(value, list):
            value = value[-1] if value else None
        if not isinstance(value, str) or not value:
            return None
        try:
            return parse_date(value)
        except ValueError:
            return None

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_from, self.parameter_to]

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        is_moment = isinstance(self.field, DateTimeField)
        if self.value_from:
            start = billing_day_start(self.value_from) if is_moment else self.value_from
            queryset = queryset.filter(**{f"{self.field_path}__gte": start})
        if self.value_to:
            end = self.value_to + timedelta(days=1)
            queryset = queryset.filter(**{f"{self.field_path}__lt": billing_day_start(end) if is_moment else end})
        return queryset

    # Not Django's choice dicts (query_string, selected, display): date_range_filter.html reads these keys.
    def choices(self, changelist: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        return [
            {
                "from_name": self.parameter_from,
                "to_name": self.parameter_to,
                "from_value": self.value_from.isoformat() if self.value_from else "",
                "to_value": self.value_to.isoformat() if self.value_to else "",
                "kept": [
                    (key, value)
                    for key, value in changelist.params.items()
                    if key not in (self.parameter_from, self.parameter_to, "p")
                    for value in (value if isinstance(value, list) else [value])
                ],
                "clear_url": changelist.get_query_string(remove=[self.parameter_from, self.parameter_to]),
            }
        ]


class AuditTrailMixin(AuditlogHistoryAdminMixin):
    """Shows the latest audit entries (who, when, before -> after) on the change page, and links to all of them."""

    audit_trail_limit = 15

    @admin.display(description=_("audit trail"))
    def audit_trail(self, obj: Model) -> str:
        if obj is None or obj.pk is None:
            return EMPTY
        entries = list(
            LogEntry.objects.get_for_object(obj)
            .select_related("actor")
            .order_by("-timestamp")[: self.audit_trail_limit]
        )
        if not entries:
            return gettext("No changes recorded yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    seoul(entry.timestamp),
                    entry.actor or gettext("system"),
                    entry.get_action_display(),
                    format_html_join(
                        "",
                        "<div><b>{}</b>: {} &rarr; {}</div>",
                        ((field, values[0], values[1]) for field, values in entry.changes_display_dict.items()),
                    ),
                )
                for entry in entries
            ),
        )
        opts = obj._meta
        link = reverse(f"admin:{opts.app_label}_{opts.model_name}_auditlog", args=[obj.pk])
        return format_html(
            '<table class="billing-audit"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            '<tbody>{}</tbody></table><p><a href="{}">{}</a></p>',
            gettext("When"),
            gettext("Who"),
            gettext("Action"),
            gettext("Changes"),
            rows,
            link,
            gettext("Full audit log"),
        )


class NoAddOrChangeMixin:
    """Rows shown for reference: they are written only through the services, never added or edited here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyMixin(NoAddOrChangeMixin):
    """Rows that belong to another document (lines, counters, links): never added, edited or deleted here."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
