"""CSV exports for accounting: the filtered invoice, payment, credit note or refund changelist as UTF-8 CSV with
Korean headers.

Amounts are integers in minor units (won for KRW) with their currency beside them; moments are Asia/Seoul.
The byte-order mark lets Excel open the Korean text correctly. Text that a spreadsheet would read as a formula
(customers write descriptions and names) is written with a leading `'` (spreadsheet_cell).
"""

import csv
import numbers
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import CreditNote, Invoice, Payment, Refund
from billing.periods import BILLING_TIME_ZONE


class _Echo:
    def write(self, value: str) -> str:
        return value


def _moment(value: datetime | None) -> str:
    return timezone.localtime(value, BILLING_TIME_ZONE).isoformat(timespec="seconds") if value else ""


def _day(value: Any) -> str:
    return value.isoformat() if value else ""


# (Korean header, value of one row). Accounting reads these files: the headers stay Korean in any UI language.
INVOICE_COLUMNS: tuple[tuple[str, Callable[[Invoice], Any]], ...] = (
    ("청구서 번호", lambda invoice: invoice.number or ""),
    ("상태", lambda invoice: invoice.status),
    ("고객 ID", lambda invoice: invoice.customer_id),
    ("고객명", lambda invoice: invoice.buyer_name or invoice.customer.display_name),
    ("이메일", lambda invoice: invoice.buyer_email or invoice.customer.email),
    ("사업자등록번호", lambda invoice: invoice.buyer_business_number or invoice.customer.business_registration_number),
    ("통화", lambda invoice: invoice.currency),
    ("공급가액", lambda invoice: invoice.subtotal),
    ("부가세", lambda invoice: invoice.tax),
    ("합계", lambda invoice: invoice.total),
    ("입금액", lambda invoice: invoice.amount_paid),
    ("미수금", lambda invoice: invoice.amount_remaining),
    ("발행일", lambda invoice: _day(invoice.issue_date)),
    ("납기일", lambda invoice: _day(invoice.due_date)),
    ("결제 완료 일시", lambda invoice: _moment(invoice.paid_at)),
    ("무효 처리 일시", lambda invoice: _moment(invoice.voided_at)),
    ("적요", lambda invoice: invoice.description),
    # Added with credit notes (issue 15), after the older columns so that existing spreadsheets keep their layout.
    ("수정 청구액", lambda invoice: invoice.amount_credited),
    ("환불액", lambda invoice: invoice.amount_refunded),
)

PAYMENT_COLUMNS: tuple[tuple[str, Callable[[Payment], Any]], ...] = (
    ("결제 ID", lambda payment: payment.pk),
    ("청구서 번호", lambda payment: payment.invoice.number or ""),
    ("고객 ID", lambda payment: payment.customer_id),
    ("고객명", lambda payment: payment.customer.display_name),
    ("결제 수단", lambda payment: payment.method),
    ("상태", lambda payment: payment.status),
    ("통화", lambda payment: payment.currency),
    ("금액", lambda payment: payment.amount),
    ("거래 참조", lambda payment: payment.provider_reference),
    ("입금 일시", lambda payment: _moment(payment.received_at)),
    ("처리 일시", lambda payment: _moment(payment.succeeded_at)),
    ("기록자", lambda payment: payment.recorded_by.get_username() if payment.recorded_by else ""),
    ("메모", lambda payment: payment.note),
)


CREDIT_NOTE_COLUMNS: tuple[tuple[str, Callable[[CreditNote], Any]], ...] = (
    ("수정 청구서 번호", lambda note: note.number),
    ("원 청구서 번호", lambda note: note.invoice.number or ""),
    ("고객 ID", lambda note: note.customer_id),
    ("고객명", lambda note: note.invoice.buyer_name or note.customer.display_name),
    ("사업자등록번호", lambda note: note.invoice.buyer_business_number),
    ("사유", lambda note: note.reason),
    ("통화", lambda note: note.currency),
    ("공급가액", lambda note: note.subtotal),
    ("부가세", lambda note: note.tax),
    ("합계", lambda note: note.total),
    ("미수금 차감", lambda note: note.pre_payment_amount),
    ("환불", lambda note: note.refund_amount),
    ("크레딧 적립", lambda note: note.balance_amount),
    ("발행일", lambda note: _day(note.issue_date)),
    ("메모", lambda note: note.memo),
)

REFUND_COLUMNS: tuple[tuple[str, Callable[[Refund], Any]], ...] = (
    ("환불 ID", lambda refund: refund.pk),
    ("수정 청구서 번호", lambda refund: refund.credit_note.number),
    ("청구서 번호", lambda refund: refund.invoice.number or ""),
    ("고객 ID", lambda refund: refund.customer_id),
    ("결제 ID", lambda refund: refund.payment_id or ""),
    ("환불 수단", lambda refund: refund.method),
    ("상태", lambda refund: refund.status),
    ("통화", lambda refund: refund.currency),
    ("금액", lambda refund: refund.amount),
    ("거래 참조", lambda refund: refund.provider_reference),
    ("요청 일시", lambda refund: _moment(refund.created_at)),
    ("완료 일시", lambda refund: _moment(refund.succeeded_at)),
    ("실패 사유", lambda refund: refund.failure_reason),
)

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (`=HYPERLINK(...)`,
# `+cmd|...`, `@SUM(...)`); OWASP's CSV injection rule lists exactly these.
SPREADSHEET_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """One cell as a spreadsheet must show it: numbers as they are (amounts, also negative ones, stay summable),
    anything else as text, with a leading `'` when it would start a formula, so the spreadsheet keeps it as text."""
    if value is None or isinstance(value, numbers.Number):
        return value
    text = str(value)
    return "'" + text if text.startswith(SPREADSHEET_FORMULA_PREFIXES) else text


def csv_rows(rows: Iterable[Any], columns: tuple[tuple[str, Callable[[Any], Any]], ...]) -> Iterator[str]:
    """The CSV text of an export, line by line; every export goes through here, so every cell is spreadsheet-safe.
    Amounts must come as numbers (int), not as text: text that starts with `-` is quoted like any other."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([spreadsheet_cell(header) for header, _value in columns])
    for row in rows:
        yield writer.writerow([spreadsheet_cell(value(row)) for _header, value in columns])


def csv_response(
    queryset: QuerySet, columns: tuple[tuple[str, Callable[[Any], Any]], ...], filename: str
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_rows(queryset.iterator(chunk_size=2000), columns), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CsvExportMixin:
    """An "export CSV" link on the changelist (the current filters and search) and the same for selected rows."""

    csv_columns: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
    csv_filename = "export.csv"
    csv_select_related: tuple[str, ...] = ()

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        return [
            path(
                "export-csv/",
                self.admin_site.admin_view(self.export_csv_view),  # type: ignore[attr-defined]
                name=f"{opts.app_label}_{opts.model_name}_export_csv",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def csv_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related(*self.csv_select_related)

    def export_csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The changelist's own rows: same filters, search and ordering, every page."""
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        return csv_response(self.csv_queryset(changelist.get_queryset(request)), self.csv_columns, self.csv_filename)

    @admin.action(description=_("Export selected to CSV"), permissions=["view"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> StreamingHttpResponse:
        return csv_response(self.csv_queryset(queryset), self.csv_columns, self.csv_filename)
