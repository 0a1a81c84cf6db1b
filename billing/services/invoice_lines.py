"""The lines of a draft invoice: what a line may be, the checks before it is written, and the totals (VAT by the
invoice's tax treatment and rate) computed from them."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings

from billing.enums import InvoiceLineKind, TaxTreatment
from billing.models import Invoice, InvoiceLine
from billing.money import MAX_AMOUNT, amount_validate, line_amount, vat_amount
from billing_site.errors import ApplicationError

MAX_LINES = 200
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class InvoiceLineInput:
    """A line to put on a draft. `unit_amount` is in minor units and may be negative (a credit); a `discount` or
    `balance` line (InvoiceLineKind) only takes money off."""

    description: str
    unit_amount: int
    quantity: int = 1
    period_start: date | None = None
    period_end: date | None = None
    kind: str = InvoiceLineKind.ITEM
    # A `usage` line's metric and breakdown (billing.services.usage_invoicing): printed on the PDF.
    metric_id: int | None = None
    usage: dict[str, Any] | None = None


def lines_validate(lines: Sequence[InvoiceLineInput]) -> list[InvoiceLineInput]:
    if not lines:
        raise ApplicationError(
            "invoice_has_no_lines", "An invoice needs at least one line.", fields={"lines": ["Required."]}
        )
    if len(lines) > MAX_LINES:
        raise ApplicationError("too_many_lines", f"An invoice has at most {MAX_LINES} lines.")
    for index, line in enumerate(lines):
        field = f"lines[{index}]"
        if not line.description or not line.description.strip():
            raise ApplicationError(
                "invalid_line", "Every line needs a description.", fields={f"{field}.description": ["Required."]}
            )
        if (
            isinstance(line.quantity, bool)
            or not isinstance(line.quantity, int)
            or not 1 <= line.quantity <= MAX_QUANTITY
        ):
            raise ApplicationError(
                "invalid_line",
                f"quantity must be an integer from 1 to {MAX_QUANTITY}.",
                fields={f"{field}.quantity": ["Out of range."]},
            )
        if isinstance(line.unit_amount, bool) or not isinstance(line.unit_amount, int):
            raise ApplicationError(
                "invalid_amount",
                "unit_amount must be an integer in minor units.",
                fields={f"{field}.unit_amount": ["Not an integer."]},
            )
        charges = (InvoiceLineKind.ITEM, InvoiceLineKind.USAGE)
        if line.kind not in InvoiceLineKind.values or (line.kind not in charges and line.unit_amount > 0):
            raise ApplicationError(
                "invalid_line", "A discount or credit balance line takes money off.", fields={field: ["Invalid."]}
            )
        # A usage line always says what it measured (billing_invoice_line_usage_detail), and only a usage line does.
        detail = (line.metric_id is not None, line.usage is not None)
        if detail != ((True, True) if line.kind == InvoiceLineKind.USAGE else (False, False)):
            raise ApplicationError(
                "invalid_line", "Only a usage line has a metric and its breakdown.", fields={field: ["Invalid."]}
            )
        if abs(line.unit_amount) * line.quantity > MAX_AMOUNT:
            raise ApplicationError(
                "invalid_amount", "A line amount is too large.", fields={f"{field}.unit_amount": ["Too large."]}
            )
        if (line.period_start is None) != (line.period_end is None) or (
            line.period_start and line.period_end and line.period_end < line.period_start
        ):
            raise ApplicationError(
                "invalid_line",
                "A line period needs a start and an end, in order.",
                fields={f"{field}.period_end": ["Invalid period."]},
            )
    return list(lines)


def totals_compute(
    amounts: Sequence[int], *, tax: int | None, tax_treatment: str, rate_basis_points: int
) -> tuple[int, int, int]:
    """Subtotal, VAT and total. The server computes the VAT from the invoice's tax treatment and rate (billing.tax:
    the rate of its issue day); a `tax` sent along (seed clients send it) must equal it, so no caller can print its
    own VAT on our document."""
    subtotal = sum(amounts)
    if subtotal < 0:
        raise ApplicationError(
            "negative_subtotal",
            "Credits exceed the charges; put the excess on the customer's credit balance instead.",
        )
    tax_amount = vat_amount(supply_amount=subtotal, tax_treatment=tax_treatment, rate_basis_points=rate_basis_points)
    if tax is not None and amount_validate(tax, field="tax", allow_zero=True) != tax_amount:
        treatment = TaxTreatment(tax_treatment).label
        raise ApplicationError(
            "tax_mismatch",
            f"VAT is computed by the server: {tax_amount} for this invoice ({treatment}); send that or leave tax out.",
            fields={"tax": [f"Must be {tax_amount} (or left out)."]},
        )
    total = subtotal + tax_amount
    if total > MAX_AMOUNT:
        raise ApplicationError("invalid_amount", "The invoice total is too large.")
    return subtotal, tax_amount, total


def lines_write(invoice: Invoice, lines: Sequence[InvoiceLineInput]) -> list[int]:
    amounts = [line_amount(quantity=line.quantity, unit_amount=line.unit_amount) for line in lines]
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=position,
            description=line.description.strip(),
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            amount=amount,
            period_start=line.period_start,
            period_end=line.period_end,
            kind=line.kind,
            metric_id=line.metric_id,
            usage=line.usage,
        )
        for position, (line, amount) in enumerate(zip(lines, amounts, strict=True))
    )
    return amounts


def days_until_due_validate(days: int | None) -> int:
    value = settings.BILLING_INVOICE_DUE_DAYS if days is None else days
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
        raise ApplicationError(
            "invalid_due_days", "due_days must be an integer from 1 to 365.", fields={"due_days": ["Out of range."]}
        )
    return value
