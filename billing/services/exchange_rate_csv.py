"""Reading a CSV file of exchange rates for billing.services.exchange_rates: bytes to rows of typed cells, each
problem with its line. Nothing here touches the database; the service checks the values and writes them.

The file is UTF-8 (a UTF-8 byte-order mark, which Excel's "CSV UTF-8" writes, is allowed), comma-separated, with a
header row naming the columns `month, currency, krw_per_unit` and optionally `source`, in any order:

    month,currency,krw_per_unit,source
    2026-06,USD,1380.25,한국은행 매매기준율
    2026-06-01,JPY,9.1234,한국은행 매매기준율

A month is `YYYY-MM` or its first day `YYYY-MM-01`; a rate is digits with at most one `.` (no thousands separator,
no exponent). Cells a spreadsheet would run as a formula are refused, not cleaned up, so what is stored is what
the file says.
"""

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from billing_site.errors import ApplicationError

MAX_IMPORT_BYTES = 256 * 1024  # about 5,000 rows: decades of monthly rates for every currency we bill in
MAX_IMPORT_ROWS = 2_000
MAX_LISTED_PROBLEMS = 50
COLUMNS = ("month", "currency", "krw_per_unit", "source")
REQUIRED_COLUMNS = COLUMNS[:3]
# What a spreadsheet runs as a formula when a cell starts with it (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# ASCII digits only: Python's \d (and Decimal) would also take full-width and other scripts' digits.
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?")
_RATE = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")
_NEGATIVE_RATE = re.compile(r"-[0-9]{1,30}(?:\.[0-9]{1,30})?")
_GROUPED_RATE = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_FOREIGN_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with an import file: its line (0 for the file as a whole) and column (may be empty)."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"Line {self.line}" if self.line else "File"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass(frozen=True)
class RateRow:
    """A data row's cells, typed where they could be read (None: unreadable, its problem is reported)."""

    line: int
    month: date | None
    currency: str
    krw_per_unit: Decimal | None
    source: str


@dataclass
class ParsedCsv:
    rows: list[RateRow] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    def reported(self, line: int, column: str) -> bool:
        return any(problem.line == line and problem.column == column for problem in self.problems)


def import_problems_error(problems: list[ImportProblem]) -> ApplicationError:
    """400 `import_invalid`: the problems (the first MAX_LISTED_PROBLEMS of them) in `fields["file"]`."""
    listed = [str(problem) for problem in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        listed.append(f"… and {len(problems) - MAX_LISTED_PROBLEMS} more.")
    return ApplicationError(
        "import_invalid",
        f"The file has {len(problems)} problem(s); nothing was imported.",
        fields={"file": listed},
    )


def _shown(cell: str) -> str:
    """A cell quoted in a message, cut short (a message never carries a whole hostile cell)."""
    return repr(cell if len(cell) <= 40 else cell[:40] + "…")


def _text(raw: bytes) -> str:
    """The file as text; an encoding we do not read is refused whole (nothing to say per row)."""
    problem = None
    if raw.startswith(_FOREIGN_BOMS):
        problem = ImportProblem(0, "", "The file is UTF-16 or UTF-32; save it as CSV UTF-8.")
    elif b"\x00" in raw:
        problem = ImportProblem(0, "", "The file contains NUL bytes: it is not a CSV text file.")
    else:
        try:
            text = raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            message = "Not UTF-8 (a Korean Excel CSV is often EUC-KR/CP949); save the file as CSV UTF-8."
            problem = ImportProblem(line, "", message)
        else:
            if not text.strip():
                problem = ImportProblem(0, "", "The file is empty.")
    if problem is not None:
        raise import_problems_error([problem])
    return text


def _formula(cell: str, *, numeric: bool = False) -> bool:
    """A cell a spreadsheet would run: starting (after spaces) with =, +, -, @, or with a tab or carriage return.
    In a numeric cell a minus followed by a number is a negative number (refused as such, later)."""
    stripped = cell.strip(" ")
    if numeric and _NEGATIVE_RATE.fullmatch(stripped.replace(" ", "")):
        return False
    return cell.startswith(("\t", "\r")) or stripped.startswith(FORMULA_STARTS)


def _month(cell: str) -> tuple[date | None, str | None]:
    match = _MONTH.fullmatch(cell)
    if match is None:
        return None, f"{_shown(cell)} is not a month: write YYYY-MM (2026-06) or its first day (2026-06-01)."
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        return date(year, month, day), None  # a day other than the 1st is refused by the service's check
    except ValueError:
        return None, f"{_shown(cell)} is not a date."


def _rate(cell: str) -> tuple[Decimal | None, str | None]:
    compact = cell.replace(" ", "")
    if _RATE.fullmatch(compact) or _NEGATIVE_RATE.fullmatch(compact):
        return Decimal(compact), None  # the sign, zero and the number of places are the service's checks
    if _GROUPED_RATE.fullmatch(compact):
        return None, f"{_shown(cell)}: write the rate without thousands separators (1380.25, not 1,380.25)."
    return None, f"{_shown(cell)} is not a plain decimal number (digits and at most one '.')."


def _header(cells: list[str], line: int, parsed: ParsedCsv) -> list[str] | None:
    names = [cell.strip().lower() for cell in cells]
    unknown = [name for name in names if name not in COLUMNS]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    expected = "the first row names the columns month, currency, krw_per_unit and optionally source"
    if unknown:
        shown = ", ".join(_shown(name) for name in unknown[:5])
        parsed.problems.append(ImportProblem(line, "", f"Unknown column(s) {shown}: {expected}."))
    if missing:
        parsed.problems.append(ImportProblem(line, "", f"Missing column(s) {', '.join(missing)}: {expected}."))
    if repeated:
        parsed.problems.append(ImportProblem(line, "", f"Column(s) named twice: {', '.join(repeated)}."))
    return None if unknown or missing or repeated else names


def _row(line: int, values: dict[str, str], parsed: ParsedCsv) -> RateRow:
    problems: list[ImportProblem] = []
    for column, cell in values.items():
        if _formula(cell, numeric=column == "krw_per_unit"):
            problems.append(ImportProblem(line, column, "Looks like a spreadsheet formula; refused."))
        elif not cell.strip() and column in REQUIRED_COLUMNS:
            problems.append(ImportProblem(line, column, "Empty."))
    unreadable = {problem.column for problem in problems}
    month = rate = None
    if "month" not in unreadable:
        month, month_problem = _month(values["month"].strip())
        if month_problem:
            problems.append(ImportProblem(line, "month", month_problem))
    if "krw_per_unit" not in unreadable:
        rate, rate_problem = _rate(values["krw_per_unit"].strip())
        if rate_problem:
            problems.append(ImportProblem(line, "krw_per_unit", rate_problem))
    parsed.problems += problems
    currency = "" if "currency" in unreadable else values["currency"]
    source = "" if "source" in unreadable else values.get("source", "")
    return RateRow(line=line, month=month, currency=currency, krw_per_unit=rate, source=source)


def exchange_rates_csv_parse(raw: bytes) -> ParsedCsv:
    """The rows of the file (at most MAX_IMPORT_ROWS) and every problem found reading them."""
    parsed = ParsedCsv()
    reader = csv.reader(io.StringIO(_text(raw), newline=""), strict=True)
    names: list[str] | None = None
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if names is None:
                names = _header(cells, line, parsed)
                if names is None:
                    return parsed
                continue
            if len(cells) != len(names):
                parsed.problems.append(ImportProblem(line, "", f"{len(cells)} cells; the header has {len(names)}."))
                continue
            if len(parsed.rows) == MAX_IMPORT_ROWS:
                parsed.problems.append(ImportProblem(line, "", f"More than {MAX_IMPORT_ROWS} rates; split the file."))
                return parsed
            parsed.rows.append(_row(line, dict(zip(names, cells, strict=True)), parsed))
    except csv.Error as error:
        parsed.problems.append(ImportProblem(reader.line_num, "", f"Not a well-formed CSV line ({error})."))
    if names is not None and not parsed.rows and not parsed.problems:
        parsed.problems.append(ImportProblem(0, "", "No rates: the file has only its header row."))
    return parsed
