"""manage.py billing_exchange_rates_import FILE: the admin's CSV import (the same service) from a shell, all or
nothing, each problem on stderr with its line."""

import io
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from billing.models import ExchangeRate
from billing.services.exchange_rate_csv import MAX_IMPORT_BYTES

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("billing_exchange_rates_import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_file_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("month,currency,krw_per_unit,source\n2026-06,USD,1380.25,한국은행\n2026-06,JPY,9.1,\n")

    out, _err = run(str(path))

    assert "Imported 2 rate(s): 2 new, 0 changed, 0 unchanged." in out
    rows = set(ExchangeRate.objects.values_list("currency", "krw_per_unit"))
    assert rows == {("USD", Decimal("1380.25")), ("JPY", Decimal("9.1"))}
    assert not ExchangeRate.objects.filter(created_by__isnull=False).exists()  # a command has no user
    out, _err = run(str(path))
    assert "0 new, 0 changed, 2 unchanged" in out


def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin: Any = io.TextIOWrapper(io.BytesIO(b"month,currency,krw_per_unit\n2026-07,EUR,1495.5\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    out, _err = run("-")
    assert "1 new" in out
    assert ExchangeRate.objects.get().month == date(2026, 7, 1)


def test_a_wrong_file_imports_nothing_and_lists_the_problems(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("month,currency,krw_per_unit\n2026-06,USD,1380\n2026-06-15,KRW,=1+1\n2026-06,USD,1390\n")

    with pytest.raises(CommandError, match="The file has 4 problem"):
        run(str(path))

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("billing_exchange_rates_import", str(path), stderr=err)
    assert err.getvalue().splitlines() == [
        "Line 3, krw_per_unit: Looks like a spreadsheet formula; refused.",
        "Line 3, month: A rate is for a whole month: give its first day (2026-06-01), not 2026-06-15.",
        "Line 3, currency: KRW is what reports convert to: it has no rate.",
        "Line 4: USD 2026-06 is on line 2 already.",
    ]
    assert not ExchangeRate.objects.exists()


def test_a_missing_or_huge_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "nowhere.csv"))
    huge = tmp_path / "huge.csv"
    huge.write_bytes(b"month,currency,krw_per_unit\n" + b"2026-06,USD,1380\n" * (MAX_IMPORT_BYTES // 10))
    with pytest.raises(CommandError, match="larger than 256 KiB"):
        run(str(huge))
    assert not ExchangeRate.objects.exists()
