"""Usage lines on the invoice PDF: metric, quantity, included, billable and the tier (or package) breakdown in small
text under the line, in Korean and in English, as pdftotext reads it."""

import logging

import pytest

from billing.enums import ChargeModel, InvoiceLineKind
from billing.services.customers import customer_update
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.services.usage_invoicing import usage_line_description
from billing.services.usage_pricing import charge_compute
from billing.tests.factories import BillableMetricFactory, PlanChargeFactory

from ..helpers import pdf_text, stored_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def charges():
    api_calls = BillableMetricFactory(
        code="api_calls", name="API 호출", name_en="API calls", unit="건", unit_en="calls"
    )
    storage = BillableMetricFactory(code="storage_gb", name="저장 공간", name_en="Storage", unit="GB", unit_en="GB")
    package = PlanChargeFactory(
        metric=api_calls,
        charge_model=ChargeModel.PACKAGE,
        included_quantity=100_000,
        unit_amount=1_000,
        package_size=1_000,
    )
    graduated = PlanChargeFactory(
        metric=storage,
        charge_model=ChargeModel.GRADUATED,
        included_quantity=10,
        tiers=[
            {"up_to": 100, "unit_amount": 200, "flat_amount": 0},
            {"up_to": None, "unit_amount": 100, "flat_amount": 5_000},
        ],
    )
    return package, graduated


@pytest.fixture
def usage_invoice(customer, charges, django_capture_on_commit_callbacks):
    """An invoice of two usage lines (123,456 API calls by the package; 260 GB through two tiers), PDF rendered."""

    def make(language):
        customer_update(customer=customer, preferred_language=language)
        lines = []
        for charge, quantity in zip(charges, (123_456, 260), strict=True):
            result = charge_compute(charge=charge, quantity=quantity)
            lines.append(
                InvoiceLineInput(
                    description=usage_line_description(metric=charge.metric, result=result, language=language),
                    unit_amount=result.amount,
                    kind=InvoiceLineKind.USAGE,
                    metric_id=charge.metric_id,
                    usage=result.as_json(),
                )
            )
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_issue(customer=customer, lines=lines)
        invoice.refresh_from_db()
        return invoice

    return make


def _flat(text):
    """pdftotext -layout spreads a line over columns: words joined by single spaces, to search in."""
    return " ".join(text.split())


def test_korean_pdf_shows_the_usage_breakdown(usage_invoice, caplog):
    with caplog.at_level(logging.WARNING, logger="xhtml2pdf"):
        invoice = usage_invoice("ko")
    assert (invoice.pdf_status, invoice.pdf_error) == ("ready", "")
    text = _flat(pdf_text(stored_bytes(invoice)))

    assert "API 호출 123,456건 (기본 제공 100,000건)" in text
    assert "지표: API 호출 · 사용량 123,456건 · 기본 제공 100,000건 · 과금 대상 23,456건" in text
    assert "23,456 → 24 × ₩1,000 (1,000건 단위) = ₩24,000" in text
    assert "지표: 저장 공간 · 사용량 260GB · 기본 제공 10GB · 과금 대상 250GB" in text
    assert "구간 1 ~ 100: 100 × ₩200 = ₩20,000" in text
    assert "구간 101 ~: 150 × ₩100 + 기본료 ₩5,000 = ₩20,000" in text
    assert "₩64,000" in text  # 24,000 + 40,000, the supply amount
    assert not [record for record in caplog.records if "can draw" in record.getMessage()], "a glyph fell back to a box"


def test_english_pdf_shows_the_usage_breakdown(usage_invoice):
    invoice = usage_invoice("en")
    text = _flat(pdf_text(stored_bytes(invoice)))

    assert "API calls: 123,456 calls (100,000 calls included)" in text
    assert "Metric: API calls · Used 123,456 calls · Included 100,000 calls · Billable 23,456 calls" in text
    assert "23,456 → 24 × ₩1,000 (per 1,000 calls) = ₩24,000" in text
    assert "Metric: Storage · Used 260 GB · Included 10 GB · Billable 250 GB" in text
    assert "Tier 1 ~ 100: 100 × ₩200 = ₩20,000" in text
    assert "Tier 101 ~: 150 × ₩100 + flat ₩5,000 = ₩20,000" in text
    assert "지표" not in text and "구간" not in text


def test_other_lines_print_no_usage_text(issued):
    text = pdf_text(stored_bytes(issued(99_000)))

    assert "지표" not in text and "과금 대상" not in text
