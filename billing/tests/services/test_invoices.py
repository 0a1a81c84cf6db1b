"""Invoice lifecycle: drafts, finalization and numbering, every transition allowed and refused, immutability."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction

from billing.enums import InvoiceStatus
from billing.models import Invoice, InvoiceLine, InvoiceNumberSequence
from billing.services.customers import customer_update
from billing.services.invoices import (
    InvoiceLineInput,
    invoice_draft_create,
    invoice_draft_delete,
    invoice_draft_lines_replace,
    invoice_finalize,
    invoice_issue,
    invoice_issue_for_order,
    invoice_mark_uncollectible,
    invoice_void,
)
from billing.services.numbering import billing_today
from billing.services.orders import OrderItemInput, order_cancel, order_create
from billing.services.payments import payment_record
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

LINE = InvoiceLineInput(description="Pro 플랜 (월간)", unit_amount=99_000)


def _number(day: date, sequence: int) -> str:
    return f"{day:%Y%m%d}-{sequence:04d}"


# --- drafts and totals ---------------------------------------------------------------------------------


def test_draft_has_totals_but_no_number(buyer):
    draft = invoice_draft_create(customer=buyer, lines=[LINE, InvoiceLineInput("추가 좌석", 5_500, 2)])
    assert (draft.status, draft.number, draft.issue_date) == ("draft", None, None)
    assert (draft.subtotal, draft.tax, draft.total, draft.amount_remaining) == (110_000, 11_000, 121_000, 121_000)
    assert draft.pdf_status == "none"


@pytest.mark.parametrize(
    ("amount", "tax", "expected_tax"),
    [(1, None, 0), (19, None, 1), (99_999, None, 9_999), (10**12, None, 10**11), (50_000, 0, 0), (50_000, 1234, 1234)],
)
def test_tax_defaults_to_truncated_vat_or_takes_an_explicit_amount(buyer, amount, tax, expected_tax):
    invoice = invoice_issue(customer=buyer, lines=[InvoiceLineInput("x", amount)], tax=tax)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (amount, expected_tax, amount + expected_tax)


def test_two_digit_currency_invoice(buyer):
    invoice = invoice_issue(customer=buyer, lines=[InvoiceLineInput("Seat", 1999, 3)], currency="USD")
    assert (invoice.currency, invoice.subtotal, invoice.tax, invoice.total) == ("USD", 5997, 599, 6596)


def test_credit_lines_reduce_the_subtotal(buyer):
    invoice = invoice_issue(
        customer=buyer,
        lines=[
            InvoiceLineInput("Business 플랜", 199_000, period_start=date(2025, 3, 1), period_end=date(2025, 3, 31)),
            InvoiceLineInput("Pro 플랜 미사용분 환급", -49_500),
        ],
    )
    assert (invoice.subtotal, invoice.tax, invoice.total) == (149_500, 14_950, 164_450)
    assert [line.amount for line in invoice.lines.order_by("position")] == [199_000, -49_500]


def test_credits_larger_than_charges_are_refused(buyer):
    with pytest.raises(ApplicationError) as refused:
        invoice_issue(customer=buyer, lines=[InvoiceLineInput("a", 1_000), InvoiceLineInput("credit", -2_000)])
    assert refused.value.code == "negative_subtotal"


def test_fully_credited_invoice_is_paid_at_finalization(buyer):
    invoice = invoice_issue(customer=buyer, lines=[InvoiceLineInput("a", 10_000), InvoiceLineInput("credit", -10_000)])
    assert (invoice.status, invoice.total, invoice.amount_remaining) == ("paid", 0, 0)
    assert invoice.paid_at is not None and invoice.number


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([], "invoice_has_no_lines"),
        ([InvoiceLineInput("", 100)], "invalid_line"),
        ([InvoiceLineInput("x", 100, quantity=0)], "invalid_line"),
        ([InvoiceLineInput("x", 10**15 + 1)], "invalid_amount"),
        ([InvoiceLineInput("x", 100, period_start=date(2025, 2, 1), period_end=date(2025, 1, 1))], "invalid_line"),
    ],
)
def test_invalid_lines_are_refused(buyer, lines, code):
    with pytest.raises(ApplicationError) as refused:
        invoice_draft_create(customer=buyer, lines=lines)
    assert refused.value.code == code
    assert not Invoice.objects.exists()


def test_draft_lines_can_be_replaced_and_the_draft_deleted(buyer):
    draft = invoice_draft_create(customer=buyer, lines=[LINE])
    replaced = invoice_draft_lines_replace(invoice=draft, lines=[InvoiceLineInput("Starter", 29_000)])
    assert (replaced.subtotal, replaced.total, replaced.lines.count()) == (29_000, 31_900, 1)
    invoice_draft_delete(invoice=replaced)
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists()


# --- finalization and numbering ------------------------------------------------------------------------


def test_finalization_numbers_dates_and_snapshots_the_buyer(buyer):
    invoice = invoice_issue(customer=buyer, lines=[LINE], days_until_due=14)
    today = billing_today()
    assert invoice.number == _number(today, 1)
    assert (invoice.status, invoice.issue_date, invoice.due_date) == ("open", today, today + timedelta(days=14))
    assert (invoice.buyer_name, invoice.buyer_business_number) == ("주식회사 테스트상사", "2208162517")
    assert invoice.pdf_status == "pending"

    customer_update(customer=buyer, display_name="새 이름", business_registration_number="")
    invoice.refresh_from_db()
    assert (invoice.buyer_name, invoice.buyer_business_number) == ("주식회사 테스트상사", "2208162517")


def test_numbers_are_consecutive_per_day(buyer):
    numbers = [invoice_issue(customer=buyer, lines=[LINE]).number for _ in range(3)]
    today = billing_today()
    assert numbers == [_number(today, 1), _number(today, 2), _number(today, 3)]


@pytest.mark.parametrize(
    ("utc_moment", "number_day"),
    [
        (datetime(2025, 1, 31, 14, 59, tzinfo=UTC), date(2025, 1, 31)),  # 23:59 in Seoul
        (datetime(2025, 1, 31, 15, 0, tzinfo=UTC), date(2025, 2, 1)),  # midnight in Seoul, still Jan 31 in UTC
        (datetime(2024, 12, 31, 20, 0, tzinfo=UTC), date(2025, 1, 1)),
    ],
)
def test_the_number_date_is_the_day_in_seoul(buyer, utc_moment, number_day):
    invoice = invoice_finalize(invoice=invoice_draft_create(customer=buyer, lines=[LINE]), now=utc_moment)
    assert invoice.number == _number(number_day, 1)
    assert invoice.issue_date == number_day


def test_each_day_starts_again_at_one(buyer):
    first = invoice_finalize(
        invoice=invoice_draft_create(customer=buyer, lines=[LINE]), now=datetime(2025, 3, 1, 3, tzinfo=UTC)
    )
    second = invoice_finalize(
        invoice=invoice_draft_create(customer=buyer, lines=[LINE]), now=datetime(2025, 3, 2, 3, tzinfo=UTC)
    )
    assert (first.number, second.number) == ("20250301-0001", "20250302-0001")


def test_a_rolled_back_finalization_consumes_no_number(buyer):
    draft = invoice_draft_create(customer=buyer, lines=[LINE])
    with pytest.raises(RuntimeError), transaction.atomic():
        invoice_finalize(invoice=draft)
        raise RuntimeError("something after the number failed")
    draft.refresh_from_db()
    assert (draft.status, draft.number) == ("draft", None)
    assert invoice_finalize(invoice=draft).number == _number(billing_today(), 1)
    assert invoice_issue(customer=buyer, lines=[LINE]).number == _number(billing_today(), 2)


def test_a_refused_finalization_consumes_no_number(buyer):
    order = order_create(customer=buyer, items=[OrderItemInput("x", 1_000)])
    draft = invoice_draft_create(customer=buyer, lines=[InvoiceLineInput("x", 1_000)], order=order, tax=100)
    order_cancel(order=order)
    with pytest.raises(ApplicationError) as refused:
        invoice_finalize(invoice=draft)
    assert refused.value.code == "order_not_invoiceable"
    assert invoice_issue(customer=buyer, lines=[LINE]).number == _number(billing_today(), 1)


def test_numbers_grow_past_9999(buyer):
    today = billing_today()
    InvoiceNumberSequence.objects.create(day=today, last_number=9_998)
    assert invoice_issue(customer=buyer, lines=[LINE]).number == _number(today, 9_999)
    assert invoice_issue(customer=buyer, lines=[LINE]).number == f"{today:%Y%m%d}-10000"


def test_finalizing_twice_is_refused(buyer):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    with pytest.raises(ApplicationError) as refused:
        invoice_finalize(invoice=invoice)
    assert (refused.value.code, refused.value.status_code) == ("invalid_invoice_transition", 409)


# --- every transition, allowed and refused --------------------------------------------------------------


def _in_status(status: str, buyer, staff) -> Invoice:
    if status == "draft":
        return invoice_draft_create(customer=buyer, lines=[LINE])
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    if status == "paid":
        payment_record(invoice=invoice, amount=invoice.total, method="bank_transfer")
    elif status == "void":
        invoice_void(invoice=invoice, actor=staff)
    elif status == "uncollectible":
        invoice_mark_uncollectible(invoice=invoice, actor=staff)
    invoice.refresh_from_db()
    assert invoice.status == status
    return invoice


def _move(invoice: Invoice, target: str, staff) -> None:
    if target == "open":
        invoice_finalize(invoice=invoice)
    elif target == "paid":
        payment_record(invoice=invoice, amount=max(invoice.amount_remaining, 1), method="bank_transfer")
    elif target == "void":
        invoice_void(invoice=invoice, actor=staff)
    elif target == "uncollectible":
        invoice_mark_uncollectible(invoice=invoice, actor=staff)


# Written out here on purpose (not read from INVOICE_TRANSITIONS): this is the specification.
ALLOWED = {
    ("draft", "open"),
    ("open", "paid"),
    ("open", "void"),
    ("open", "uncollectible"),
    ("uncollectible", "paid"),
    ("uncollectible", "void"),
}
PAIRS = [
    (source, target)
    for source in ("draft", "open", "paid", "void", "uncollectible")
    for target in ("open", "paid", "void", "uncollectible")
    if source != target
]


@pytest.mark.parametrize(("source", "target"), [pair for pair in PAIRS if pair in ALLOWED])
def test_allowed_transition(buyer, staff, source, target):
    invoice = _in_status(source, buyer, staff)
    _move(invoice, target, staff)
    invoice.refresh_from_db()
    assert invoice.status == target
    timestamp = {
        "open": "finalized_at",
        "paid": "paid_at",
        "void": "voided_at",
        "uncollectible": "marked_uncollectible_at",
    }
    assert getattr(invoice, timestamp[target]) is not None


@pytest.mark.parametrize(("source", "target"), [pair for pair in PAIRS if pair not in ALLOWED])
def test_refused_transition(buyer, staff, source, target):
    invoice = _in_status(source, buyer, staff)
    before = Invoice.objects.values().get(pk=invoice.pk)
    with pytest.raises(ApplicationError) as refused:
        _move(invoice, target, staff)
    assert refused.value.code in ("invalid_invoice_transition", "invoice_not_payable")
    assert refused.value.status_code == 409
    assert Invoice.objects.values().get(pk=invoice.pk) == before


def test_void_and_uncollectible_are_staff_only(buyer):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    for service in (invoice_void, invoice_mark_uncollectible):
        with pytest.raises(ApplicationError) as refused:
            service(invoice=invoice, actor=buyer.user)
        assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    invoice.refresh_from_db()
    assert invoice.status == "open"


def test_an_invoice_with_payments_cannot_be_voided(buyer, staff):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    payment_record(invoice=invoice, amount=1_000, method="bank_transfer")
    with pytest.raises(ApplicationError) as refused:
        invoice_void(invoice=invoice, actor=staff)
    assert refused.value.code == "invoice_has_payments"


# --- orders follow their invoice ------------------------------------------------------------------------


def test_order_is_invoiced_paid_or_back_to_pending_with_its_invoice(buyer, staff):
    order = order_create(customer=buyer, items=[OrderItemInput("Pro 플랜", 99_000, 2)])
    invoice = invoice_issue_for_order(order=order)
    order.refresh_from_db()
    assert order.status == "invoiced"
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.order_id) == (198_000, 19_800, 217_800, order.pk)
    assert [(line.description, line.quantity, line.unit_amount) for line in invoice.lines.all()] == [
        ("Pro 플랜", 2, 99_000)
    ]

    with pytest.raises(ApplicationError) as twice:
        invoice_issue_for_order(order=order)
    assert twice.value.code == "order_not_invoiceable"

    invoice_void(invoice=invoice, actor=staff)
    order.refresh_from_db()
    assert order.status == "pending"  # a correction is void + new invoice

    corrected = invoice_issue_for_order(order=order)
    payment_record(invoice=corrected, amount=corrected.total, method="bank_transfer")
    order.refresh_from_db()
    assert order.status == "paid"


# --- immutability ---------------------------------------------------------------------------------------


def test_issued_invoice_lines_cannot_be_replaced_nor_the_invoice_deleted_by_services(buyer):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    with pytest.raises(ApplicationError) as edit:
        invoice_draft_lines_replace(invoice=invoice, lines=[InvoiceLineInput("cheaper", 1)])
    with pytest.raises(ApplicationError) as delete:
        invoice_draft_delete(invoice=invoice)
    assert edit.value.code == delete.value.code == "invoice_not_editable"
    invoice.refresh_from_db()
    assert invoice.total == 108_900


@pytest.mark.parametrize(
    "change",
    [
        {"total": 1, "subtotal": 0, "tax": 1},
        {"number": "20000101-0001"},
        {"currency": "USD"},
        {"issue_date": date(2000, 1, 1)},
        {"buyer_name": "someone else"},
        {"status": "draft"},
    ],
    ids=["amounts", "number", "currency", "issue-date", "buyer", "back-to-draft"],
)
def test_database_refuses_changes_to_an_issued_invoice(buyer, change):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**change)


def test_database_refuses_moving_an_issued_invoice_to_another_customer(buyer, intruder):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(customer=intruder)


def test_database_refuses_touching_the_lines_of_an_issued_invoice(buyer):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).update(unit_amount=1, amount=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(invoice=invoice, description="sneaky", unit_amount=1, amount=1)
    assert list(invoice.lines.values_list("amount", flat=True)) == [99_000]


def test_database_refuses_deleting_an_issued_invoice_or_its_lines(postgresql, buyer):
    """PostgreSQL only: SQLite (development) leaves deletes to the services, so that `flush` works there."""
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.filter(invoice=invoice).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).delete()
    assert invoice.lines.count() == 1


def test_database_still_allows_what_may_change_after_issue(buyer):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    Invoice.objects.filter(pk=invoice.pk).update(
        pdf_error="x", stripe_hosted_invoice_url="https://invoice.stripe.com/i/x"
    )
    invoice.refresh_from_db()
    assert invoice.stripe_hosted_invoice_url.endswith("/x")


@pytest.mark.parametrize(
    "change",
    [{"amount_paid": 1}, {"amount_remaining": -1, "amount_paid": 108_901}, {"status": "paid"}, {"status": "bogus"}],
    ids=["paid-plus-remaining", "negative-remaining", "paid-without-paid-at", "unknown-status"],
)
def test_database_check_constraints_hold(buyer, change):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**change)


def test_number_is_unique_in_the_database(buyer):
    invoice = invoice_issue(customer=buyer, lines=[LINE])
    draft = invoice_draft_create(customer=buyer, lines=[LINE])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=draft.pk).update(
            status=InvoiceStatus.OPEN,
            number=invoice.number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            finalized_at=invoice.finalized_at,
        )
