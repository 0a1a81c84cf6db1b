"""Properties of VAT under any rate schedule: the VAT of a supply at any scheduled rate is never negative and never
above the rate (less than one minor unit below it: truncated), an untaxed supply carries none, and the credit notes
of an invoice never take back more VAT than the invoice had (exactly its VAT once it is credited in full)."""

from datetime import date
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.enums import CreditNoteReason, TaxTreatment
from billing.models import Customer, Invoice
from billing.money import BASIS_POINTS, MAX_AMOUNT
from billing.services.credit_note_amounts import CreditedSoFar
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.tax import vat_on, vat_rate_for

rates = st.integers(0, BASIS_POINTS)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))
schedules = st.dictionaries(days, rates, max_size=5)
treatments = st.sampled_from(TaxTreatment.values)


def schedule_text(schedule: dict[date, int]) -> str:
    """The environment's form of a schedule, in any order."""
    return ",".join(f"{day.isoformat()}={rate}" for day, rate in schedule.items())


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    base=rates,
    schedule=schedules,
    day=days,
    supply=st.integers(0, MAX_AMOUNT // 2),
    treatment=treatments,
)
def test_vat_at_any_scheduled_rate_is_never_negative_nor_above_the_rate(
    base: int, schedule: dict[date, int], day: date, supply: int, treatment: str
) -> None:
    with override_settings(BILLING_VAT_RATE_BASIS_POINTS=base, BILLING_VAT_RATE_CHANGES=schedule_text(schedule)):
        rate = vat_rate_for(tax_treatment=treatment, day=day)
        tax = vat_on(supply_amount=supply, tax_treatment=treatment, day=day)
    earlier = [changed for changed_on, changed in sorted(schedule.items()) if changed_on <= day]
    expected_rate = (earlier[-1] if earlier else base) if treatment == TaxTreatment.TAXABLE else 0
    assert rate == expected_rate
    assert tax >= 0
    assert tax * BASIS_POINTS <= supply * rate  # never above the rate
    assert supply * rate - tax * BASIS_POINTS < BASIS_POINTS  # truncated: less than one minor unit below it


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    supply=st.integers(1, MAX_AMOUNT // 2),
    rate=rates,
    requests=st.lists(
        st.one_of(
            st.tuples(st.just("amount"), st.integers(1, MAX_AMOUNT)),
            st.tuples(st.just("supply"), st.integers(1, MAX_AMOUNT)),
        ),
        max_size=8,
    ),
)
def test_credit_notes_arithmetic_never_takes_back_more_vat_than_the_invoice_had(
    supply: int, rate: int, requests: list[tuple[str, int]]
) -> None:
    invoice_tax = supply * rate // BASIS_POINTS
    invoice_total = supply + invoice_tax
    credited = tax_credited = 0
    for kind, value in [*requests, ("rest", 0)]:
        so_far = CreditedSoFar(
            invoice_tax=invoice_tax, invoice_total=invoice_total, credited=credited, tax_credited=tax_credited
        )
        if so_far.creditable <= 0:
            break
        if kind == "supply":
            total = so_far.total_for_supply(min(value, so_far.supply_creditable))
            assert total is not None
        else:
            total = so_far.creditable if kind == "rest" else min(value, so_far.creditable)
        tax = so_far.note_tax(total)
        assert 0 <= tax <= total
        # The invoice's rate's share of the note's total, give or take the one unit the cumulative rule carries.
        assert tax * (BASIS_POINTS + rate) <= total * rate + BASIS_POINTS + rate
        credited, tax_credited = credited + total, tax_credited + tax
        assert tax_credited <= invoice_tax and credited <= invoice_total
    assert (credited, tax_credited) == (invoice_total, invoice_tax)  # in full: exactly the invoice's VAT


class _RolledBack(Exception):
    """Leaves the savepoint of one example."""


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    rate=rates,
    treatment=treatments,
    supply=st.integers(1, 10**12),
    credits=st.lists(st.integers(1, 10**12), min_size=1, max_size=4),
)
def test_issued_invoices_and_their_credit_notes_keep_vat_within_the_scheduled_rate(
    customer: Customer, billing_staff_user: Any, rate: int, treatment: str, supply: int, credits: list[int]
) -> None:
    try:
        with override_settings(BILLING_VAT_RATE_CHANGES=f"2000-01-01={rate}"), transaction.atomic():
            Customer.objects.filter(pk=customer.pk).update(tax_treatment=treatment)
            customer.refresh_from_db()
            invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Pro 플랜", supply)])
            applied = rate if treatment == TaxTreatment.TAXABLE else 0
            assert (invoice.tax_treatment, invoice.vat_rate_basis_points) == (treatment, applied)
            assert invoice.tax >= 0 and invoice.tax * BASIS_POINTS <= supply * applied
            taken = 0
            for amount in [*credits, None]:  # None: whatever is left
                left = Invoice.objects.get(pk=invoice.pk)
                if left.total - left.amount_credited <= 0:
                    break
                note = credit_note_issue(
                    invoice=left,
                    reason=CreditNoteReason.OTHER,
                    actor=billing_staff_user,
                    amount=None if amount is None else min(amount, left.total - left.amount_credited),
                )
                assert 0 <= note.tax <= note.total
                taken += note.tax
                assert taken <= invoice.tax
            assert taken == invoice.tax
            raise _RolledBack
    except _RolledBack:
        pass
