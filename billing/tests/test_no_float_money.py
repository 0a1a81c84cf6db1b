"""No float touches money: grep the apps for float(...) or float literals next to money names."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APPS = ["billing", "storage", "billing_site"]
MONEY_WORDS = r"(amount|price|total|subtotal|tax|vat|krw|won|balance|credit|fee|cost|money|paid|remaining)"
# float( anywhere on a line that names money, or a money name assigned/compared to a float literal.
FLOAT_CALL = re.compile(rf"float\s*\(.*{MONEY_WORDS}|{MONEY_WORDS}\w*.*float\s*\(", re.IGNORECASE)
FLOAT_LITERAL = re.compile(rf"{MONEY_WORDS}\w*\s*[:=]\s*[-+]?\d+\.\d+\b", re.IGNORECASE)
FLOAT_ANNOTATION = re.compile(rf"{MONEY_WORDS}\w*\s*:\s*float\b", re.IGNORECASE)
FLOAT_FIELD = re.compile(rf"{MONEY_WORDS}\w*\s*=\s*(models\.FloatField|serializers\.FloatField)", re.IGNORECASE)


def _python_files() -> list[Path]:
    files = []
    for app in APPS:
        for path in (REPO / app).rglob("*.py"):
            if "tests" in path.parts and path.name == Path(__file__).name:
                continue  # this file spells the patterns out
            files.append(path)
    return files


def find_float_money(text: str) -> list[str]:
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0]
        if any(pattern.search(code) for pattern in (FLOAT_CALL, FLOAT_LITERAL, FLOAT_ANNOTATION, FLOAT_FIELD)):
            hits.append(f"{number}: {line.strip()}")
    return hits


@pytest.mark.parametrize(
    "line",
    [
        "total = float(invoice.total) * 1.1",
        "amount_krw = float(request.data['amount'])",
        "vat_rate = 0.1",
        "price = models.FloatField()",
        "tax: float = 0.10",
    ],
)
def test_the_grep_catches_float_money(line):
    assert find_float_money(line)


@pytest.mark.parametrize("line", ["timeout = float(env('X'))", "ratio = 1.5", "amount = int(raw)"])
def test_the_grep_leaves_other_floats_alone(line):
    assert not find_float_money(line)


def test_no_float_near_money_in_the_apps():
    hits = {str(path.relative_to(REPO)): find_float_money(path.read_text()) for path in _python_files()}
    hits = {path: lines for path, lines in hits.items() if lines}
    assert not hits, f"float arithmetic next to money: {hits}"
