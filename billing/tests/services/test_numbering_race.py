"""The numbering race: 200 invoices finalized by 8 concurrent workers get 200 distinct, consecutive numbers."""

import pytest
from django.db import connection

from billing.models import Invoice, InvoiceNumberSequence
from billing.services.invoices import InvoiceLineInput, invoice_draft_create, invoice_finalize
from billing.services.numbering import billing_today

from ..helpers import run_concurrently

INVOICES = 200
WORKERS = 8


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_two_hundred_invoices_from_eight_workers_get_consecutive_numbers(postgresql, customer, without_pdf_rendering):
    drafts = [
        invoice_draft_create(customer=customer, lines=[InvoiceLineInput(f"item {index}", 1_000 + index)]).pk
        for index in range(INVOICES)
    ]
    shares = [drafts[worker::WORKERS] for worker in range(WORKERS)]

    def finalize_share(worker: int) -> list[str | None]:
        numbers = []
        for invoice_id in shares[worker]:
            numbers.append(invoice_finalize(invoice=Invoice(pk=invoice_id)).number)
        return numbers

    results = run_concurrently(finalize_share, WORKERS)
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    numbers = [number for share in results for number in share]

    day = billing_today()
    assert len(numbers) == len(set(numbers)) == INVOICES
    assert sorted(numbers) == [f"{day:%Y%m%d}-{sequence:04d}" for sequence in range(1, INVOICES + 1)]
    assert InvoiceNumberSequence.objects.get(day=day).last_number == INVOICES
    assert Invoice.objects.filter(status="open").count() == INVOICES
    # Every worker really ran in parallel with the others (each got some of the numbers).
    assert all(len(share) == INVOICES // WORKERS for share in results)
    assert connection.vendor == "postgresql"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_finalizations_with_rollbacks_leave_no_gaps(postgresql, customer, without_pdf_rendering):
    """Half the workers roll back after taking a number: the committed numbers are still 1..N without holes."""
    from django.db import transaction

    drafts = [invoice_draft_create(customer=customer, lines=[InvoiceLineInput("x", 1_000)]).pk for _ in range(40)]

    class Abort(Exception):
        pass

    def finalize(index: int) -> str | None:
        try:
            with transaction.atomic():
                number = invoice_finalize(invoice=Invoice(pk=drafts[index])).number
                if index % 2:
                    raise Abort
                return number
        except Abort:
            return None

    results = run_concurrently(finalize, len(drafts))
    committed = sorted(number for number in results if isinstance(number, str))
    day = billing_today()
    assert committed == [f"{day:%Y%m%d}-{sequence:04d}" for sequence in range(1, 21)]
    assert Invoice.objects.filter(status="draft").count() == 20
