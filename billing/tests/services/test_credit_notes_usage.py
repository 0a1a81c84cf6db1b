"""Credit notes on an invoice of metered usage: its usage lines are charges like items (before, a full or an amount
credit of a usage-only invoice failed with an internal error, and its lines could not be named)."""

from datetime import date

import pytest

from billing.enums import ChargeModel, InvoiceLineKind
from billing.models import Invoice
from billing.services.credit_notes import CreditLineInput, credit_note_issue
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.services.usage_invoicing import usage_line_description
from billing.services.usage_pricing import charge_compute
from billing.tests.factories import BillableMetricFactory, PlanChargeFactory
from billing.tests.helpers import seoul

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 28)


@pytest.fixture
def usage_invoice(customer):
    """₩23,000 of API calls (123,456 calls, 100,000 included, ₩1,000 per started 1,000) and a ₩10,000 item."""
    metric = BillableMetricFactory(code="api_calls", name="API 호출", name_en="API calls", unit="건", unit_en="calls")
    charge = PlanChargeFactory(
        metric=metric,
        charge_model=ChargeModel.PACKAGE,
        included_quantity=100_000,
        unit_amount=1_000,
        package_size=1_000,
    )
    result = charge_compute(charge=charge, quantity=123_456)
    assert result.amount == 24_000
    usage = InvoiceLineInput(
        description=usage_line_description(metric=metric, result=result, language="ko"),
        unit_amount=result.amount,
        kind=InvoiceLineKind.USAGE,
        metric_id=metric.pk,
        usage=result.as_json(),
    )
    return invoice_issue(
        customer=customer, lines=[usage, InvoiceLineInput(description="설치 지원", unit_amount=10_000)]
    )


def test_a_full_credit_covers_the_usage_lines(usage_invoice):
    note = credit_note_issue(invoice=usage_invoice, reason="order_change", actor=None, now=seoul(DAY))
    assert (note.total, note.tax) == (usage_invoice.total, usage_invoice.tax) == (37_400, 3_400)
    credited = {line.invoice_line.kind: line.amount for line in note.lines.select_related("invoice_line")}
    assert credited == {InvoiceLineKind.USAGE: 24_000, InvoiceLineKind.ITEM: 10_000}
    assert Invoice.objects.get(pk=usage_invoice.pk).amount_credited == 37_400


def test_an_amount_credit_spreads_over_usage_and_items(usage_invoice):
    note = credit_note_issue(invoice=usage_invoice, reason="order_change", actor=None, amount=11_000, now=seoul(DAY))
    assert (note.total, note.tax) == (11_000, 1_000)
    assert sorted(line.amount for line in note.lines.all()) == [2_941, 7_059]  # 10,000 in proportion to 10,000/24,000


def test_a_usage_line_can_be_credited_by_name(usage_invoice):
    usage_line = usage_invoice.lines.get(kind=InvoiceLineKind.USAGE)
    note = credit_note_issue(
        invoice=usage_invoice,
        reason="order_change",
        actor=None,
        lines=[CreditLineInput(invoice_line_id=usage_line.pk, amount=4_000)],
        now=seoul(DAY),
    )
    # The smallest total whose supply amount is 4,000 (total_for_supply): its VAT is 399, the invoice's in proportion.
    assert (note.total, note.tax) == (4_399, 399)
    assert [(line.invoice_line_id, line.amount) for line in note.lines.all()] == [(usage_line.pk, 4_000)]
