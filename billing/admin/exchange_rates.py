"""Exchange rates in the admin (issue 17): the list with a chart of each currency's rate per month, add and change
(through `exchange_rate_set`), and a CSV import (through `exchange_rates_import_csv`, all or nothing).

Billing staff add and change rates; support do not see them. A rate is corrected, never deleted: reports of its
month would silently lose that currency.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import (
    FileUploadHandler,
    MemoryFileUploadHandler,
    StopUpload,
    TemporaryFileUploadHandler,
)
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from billing.models import ExchangeRate
from billing.periods import add_months, billing_date
from billing.selectors.exchange_rates import rates_by_currency
from billing.services.exchange_rate_csv import MAX_IMPORT_BYTES
from billing.services.exchange_rates import (
    exchange_rate_clean,
    exchange_rate_set,
    exchange_rates_import_csv,
    rate_currencies,
)
from billing_site.errors import ApplicationError

from .common import AuditTrailMixin, seoul_column

CHART_MONTHS = 24
# Room for the multipart boundaries and the form's other fields next to the file.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
WIDTH, HEIGHT = 720, 170
LEFT, RIGHT, TOP, BOTTOM = 80, 10, 12, 30


def rate_text(rate: Decimal) -> str:
    """A rate as staff write it: 1,380.25 (thousands separated, no trailing zeros, never an exponent)."""
    text = format(rate, ",f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _coordinate(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1")))


def rate_chart(*, currency: str, months: list[date], rates: dict[date, Decimal]) -> SafeString:
    """One currency's rate per month as a line (broken where a month has no rate), each point with a tooltip."""
    values = list(rates.values())
    low, high = min(values), max(values)
    margin = (high - low) / 10 or high / 100 or Decimal(1)
    low, high = max(low - margin, Decimal(0)), high + margin
    plot_width, plot_height = Decimal(WIDTH - LEFT - RIGHT), Decimal(HEIGHT - TOP - BOTTOM)
    step = plot_width / max(len(months) - 1, 1)
    places = Decimal("0.01") if high >= 10 else Decimal("0.0001")

    def x(index: int) -> Decimal:
        return LEFT + step * index

    def y(rate: Decimal) -> Decimal:
        return TOP + plot_height * (high - rate) / (high - low)

    parts: list[SafeString] = []
    for tick in (high, (high + low) / 2, low):
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#666">{}</text>',
                LEFT,
                WIDTH - RIGHT,
                _coordinate(y(tick)),
                _coordinate(y(tick)),
                LEFT - 6,
                _coordinate(y(tick) + 4),
                rate_text(tick.quantize(places)),
            )
        )
    segment: list[str] = []
    for index, month in enumerate([*months, None]):
        rate = rates.get(month) if month is not None else None
        if rate is None:  # a month without a rate ends the line drawn so far: nothing is guessed across it
            if len(segment) > 1:
                parts.append(
                    format_html(
                        '<polyline points="{}" fill="none" stroke="#417690" stroke-width="2"/>', " ".join(segment)
                    )
                )
            segment = []
            continue
        point = (_coordinate(x(index)), _coordinate(y(rate)))
        segment.append(",".join(point))
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="3" fill="#417690" data-rate="{}"><title>{} {}: ₩{}</title></circle>',
                *point,
                rate,
                f"{month:%Y-%m}",
                currency,
                rate_text(rate),
            )
        )
    for index, month in enumerate(months):
        if index % 3 == 0 or index == len(months) - 1:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#333">{}</text>',
                    _coordinate(x(index)),
                    HEIGHT - BOTTOM + 16,
                    f"{month:%Y-%m}",
                )
            )
    title = gettext("%(currency)s: KRW per unit, by month") % {"currency": currency}
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}"'
        ' class="billing-chart exchange-rate-chart" data-currency="{}"><title>{}</title>{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        currency,
        title,
        SafeString("".join(parts)),
    )


def rate_charts(*, today: date, months: int = CHART_MONTHS) -> list[tuple[str, SafeString]]:
    """(currency, chart) for each currency with a rate in the last `months` months: one query."""
    this_month = today.replace(day=1)
    window = [add_months(this_month, offset) for offset in range(-(months - 1), 1)]
    by_currency = rates_by_currency(months=window)
    return [
        (currency, rate_chart(currency=currency, months=window, rates=rates))
        for currency, rates in sorted(by_currency.items())
    ]


class ExchangeRateForm(forms.ModelForm):
    """A rate checked by `exchange_rate_clean` (its refusal shows on the field it names); saved by the service."""

    currency = forms.ChoiceField(label=_("currency"), choices=[])

    class Meta:
        model = ExchangeRate
        fields = ["month", "currency", "krw_per_unit", "source"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "currency" in self.fields:
            self.fields["currency"].choices = [(code, code) for code in rate_currencies()]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        try:
            exchange_rate_clean(
                month=cleaned.get("month", self.instance.month),
                currency=cleaned.get("currency", self.instance.currency),
                krw_per_unit=cleaned.get("krw_per_unit"),
                source=cleaned.get("source", ""),
            )
        except ApplicationError as error:
            for name, problems in error.fields.items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, problems)
                elif name not in self.fields:
                    self.add_error(None, problems)
        return cleaned


class ExchangeRateImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8, at most 256 KiB; columns month, currency, krw_per_unit and optionally source."),
    )


class ImportSizeLimitHandler(FileUploadHandler):
    """Stops reading an upload past MAX_IMPORT_BYTES (a declared larger body is not read at all): at most that much
    of an import file is ever held, and the form says why the file was refused."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0
        self.exceeded = False

    # Django passes the boundary as bytes; its stubs say str.
    def handle_raw_input(  # type: ignore[override]
        self, input_data: Any, META: dict[str, Any], content_length: int, boundary: bytes, encoding: str | None = None
    ) -> tuple[QueryDict, MultiValueDict[str, Any]] | None:
        if content_length > MAX_IMPORT_BYTES + MULTIPART_OVERHEAD_BYTES:
            self.exceeded = True
            return QueryDict(), MultiValueDict()  # parsed as empty, unread
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > MAX_IMPORT_BYTES:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@admin.register(ExchangeRate)
class ExchangeRateAdmin(AuditTrailMixin, admin.ModelAdmin):
    form = ExchangeRateForm
    list_display = ["month_display", "currency", "rate_display", "source", "created_by", "updated"]
    list_filter = ["currency"]
    search_fields = ["currency", "source"]
    list_select_related = ["created_by"]
    ordering = ["-month", "currency"]
    change_list_template = "admin/billing/exchangerate/change_list.html"
    readonly_fields = ["created_by", "created", "updated", "audit_trail"]
    updated = seoul_column("updated_at", _("updated at"), ordering="updated_at")
    created = seoul_column("created_at", _("created at"), ordering="created_at")

    @admin.display(description=_("month"), ordering="month")
    def month_display(self, rate: ExchangeRate) -> str:
        return f"{rate.month:%Y-%m}"

    @admin.display(description=_("KRW per unit"), ordering="krw_per_unit")
    def rate_display(self, rate: ExchangeRate) -> str:
        return rate_text(rate.krw_per_unit)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("month", "currency", "krw_per_unit", "source")
        return ("month", "currency", "krw_per_unit", "source", "created_by", "created", "updated", "audit_trail")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Month and currency are what the rate is of: a rate for another month is another rate.
        return () if obj is None else ("month", "currency", *self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ExchangeRate, form: Any, change: bool) -> None:
        """Through `exchange_rate_set`, which checks the permission again and writes the rate."""
        saved = exchange_rate_set(
            month=obj.month,
            currency=obj.currency,
            krw_per_unit=obj.krw_per_unit,
            source=obj.source,
            actor=request.user,
        )
        obj.__dict__.update(saved.__dict__)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Above the list, each currency's rate per month over the last two years, and the import link."""
        context = {
            **(extra_context or {}),
            "rate_charts": rate_charts(today=billing_date(timezone.now())),
            "import_url": reverse("admin:billing_exchangerate_import") if self.has_add_permission(request) else "",
        }
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="billing_exchangerate_import"),
            *super().get_urls(),
        ]

    @csrf_exempt  # checked below, once the upload is read within its limit (Django reads it for the CSRF check)
    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            limit = ImportSizeLimitHandler(request)
            request.upload_handlers = [limit, MemoryFileUploadHandler(request), TemporaryFileUploadHandler(request)]
            request.POST  # noqa: B018 (reads the body now, through the handlers above)
            if limit.exceeded:  # refused before anything is done: no state changes, so no CSRF check needed
                too_large = gettext("The file is larger than %(size)s KiB; split it (nothing was imported).") % {
                    "size": MAX_IMPORT_BYTES // 1024
                }
                return self._import_page(request, ExchangeRateImportForm(), [too_large])
        view: Callable[[HttpRequest], HttpResponse] = csrf_protect(self._import_form)
        return view(request)

    def _import_form(self, request: HttpRequest) -> HttpResponse:
        form = ExchangeRateImportForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                summary = exchange_rates_import_csv(file=form.cleaned_data["file"], actor=request.user)
            except ApplicationError as error:
                problems = [
                    error.message,
                    *(str(item) for item in error.fields.get("file", []) if item != error.message),
                ]
            else:
                done = gettext(
                    "Imported %(rows)s rates: %(created)s new, %(updated)s changed, %(unchanged)s unchanged."
                )
                self.message_user(
                    request,
                    done
                    % {
                        "rows": summary.rows,
                        "created": summary.created,
                        "updated": summary.updated,
                        "unchanged": summary.unchanged,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:billing_exchangerate_changelist"))
        return self._import_page(request, form, problems)

    def _import_page(self, request: HttpRequest, form: forms.Form, problems: list[str]) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import exchange rates"),
            "opts": self.opts,
            "form": form,
            "problems": problems,
            "example": format_html_join("", "<code>{}</code><br>", ((line,) for line in EXAMPLE_CSV.splitlines())),
        }
        return TemplateResponse(request, "admin/billing/exchangerate/import.html", context)


EXAMPLE_CSV = "month,currency,krw_per_unit,source\n2026-06,USD,1380.25,한국은행 매매기준율\n2026-06,JPY,9.1234,"
