"""Credit notes: full and partial, by amount and by lines, VAT in proportion, where the money goes (off what the
invoice asks, back to the card or by bank transfer, onto the balance), their numbers, refusals and permissions."""

from datetime import date
from typing import Any

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.enums import (
    BalanceEntryKind,
    CreditSettlement,
    InvoiceLineKind,
    InvoiceStatus,
    JobKind,
    PaymentMethod,
    PaymentStatus,
    RefundMethod,
    RefundStatus,
)
from billing.models import CreditNote, CreditNoteNumberSequence, Customer, CustomerBalanceEntry, Invoice, Payment
from billing.services.credit_note_amounts import CreditedSoFar, credited_tax, spread
from billing.services.credit_notes import CreditLineInput, credit_note_issue, credit_note_issue_for_provider_refund
from billing.services.invoices import InvoiceLineInput, invoice_draft_create, invoice_issue, invoice_void
from billing.services.payments import payment_record
from billing.tests.factories import CustomerFactory, StaffUserFactory
from billing.tests.helpers import run_concurrently, seoul
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job

# A float a client might send (computed, so that the no-float-near-money grep has nothing to flag).
NOT_AN_INTEGER = 3 / 2

DAY = date(2026, 11, 28)
LINES = [("Pro 플랜", 50_000), ("추가 저장 공간", 30_000), ("설치 지원", 19_000)]  # 99,000 + VAT 9,900


def issue_invoice(customer: Customer, lines: list[tuple[str, int]] = LINES) -> Invoice:
    return invoice_issue(
        customer=customer, lines=[InvoiceLineInput(description=text, unit_amount=amount) for text, amount in lines]
    )


def credit(invoice: Invoice, **options: Any) -> CreditNote:
    options.setdefault("reason", "order_change")
    options.setdefault("actor", None)
    options.setdefault("now", seoul(DAY))
    return credit_note_issue(invoice=invoice, **options)


def fresh(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def assert_money_balances(invoice: Invoice) -> None:
    invoice = fresh(invoice)
    assert invoice.total - invoice.amount_credited == (
        invoice.amount_paid - invoice.amount_refunded + invoice.amount_remaining
    )
    notes = list(invoice.credit_notes.all())
    assert sum(note.total for note in notes) == invoice.amount_credited
    assert sum(note.subtotal for note in notes) <= invoice.subtotal
    assert sum(note.tax for note in notes) <= invoice.tax


# --- full and partial, by amount and by lines ------------------------------------------------------------


def test_a_fully_credited_unpaid_invoice_is_settled_and_keeps_its_number(customer):
    invoice = issue_invoice(customer)
    number = invoice.number

    note = credit(invoice)

    invoice = fresh(invoice)
    assert (invoice.status, invoice.number, invoice.amount_remaining) == (InvoiceStatus.PAID, number, 0)
    assert invoice.paid_at is not None
    assert (invoice.amount_credited, invoice.amount_paid, invoice.amount_refunded) == (108_900, 0, 0)
    assert (note.subtotal, note.tax, note.total) == (99_000, 9_900, 108_900)
    assert (note.pre_payment_amount, note.refund_amount, note.balance_amount) == (108_900, 0, 0)
    assert note.number == "20261128-C0001"
    assert [(line.invoice_line.description, line.amount) for line in note.lines.order_by("position")] == LINES
    assert not note.refunds.exists()


def test_a_partial_credit_by_amount_lowers_what_is_asked_with_vat_in_proportion(customer):
    invoice = issue_invoice(customer)

    note = credit(invoice, amount=10_000)

    # floor(9,900 x 10,000 / 108,900) = 909 of VAT.
    assert (note.subtotal, note.tax, note.total, note.pre_payment_amount) == (9_091, 909, 10_000, 10_000)
    assert sum(note.lines.values_list("amount", flat=True)) == 9_091
    invoice = fresh(invoice)
    assert (invoice.status, invoice.amount_remaining, invoice.amount_credited) == ("open", 98_900, 10_000)
    assert_money_balances(invoice)


def test_a_credit_by_lines_takes_the_smallest_total_of_that_supply_amount_and_the_rest_takes_the_rest(customer):
    invoice = issue_invoice(customer)
    storage = invoice.lines.get(position=1)

    first = credit(invoice, lines=[CreditLineInput(invoice_line_id=storage.pk, amount=30_000)])
    rest = credit(invoice)

    assert (first.subtotal, first.tax, first.total) == (30_000, 2_999, 32_999)
    assert [(line.invoice_line_id, line.amount) for line in first.lines.all()] == [(storage.pk, 30_000)]
    assert (rest.subtotal, rest.tax, rest.total) == (69_000, 6_901, 75_901)
    # The rest is credited from the lines that still have something left.
    assert sorted(rest.lines.values_list("amount", flat=True)) == [19_000, 50_000]
    assert fresh(invoice).status == InvoiceStatus.PAID
    assert_money_balances(invoice)


@pytest.mark.parametrize(
    "amounts",
    [[1, 1, 1], [10_000, 10_000, 10_000], [7, 108_892], [33_333, 33_333, 33_333], [108_899], [11, 13, 17, 19]],
)
def test_several_notes_add_up_to_the_invoice_tax_exactly_when_everything_is_credited(customer, amounts):
    invoice = issue_invoice(customer)
    for amount in amounts:
        credit(invoice, amount=amount)
    credit(invoice)  # the rest

    notes = CreditNote.objects.filter(invoice=invoice)
    assert sum(notes.values_list("tax", flat=True)) == 9_900
    assert sum(notes.values_list("subtotal", flat=True)) == 99_000
    assert sum(notes.values_list("total", flat=True)) == 108_900
    with pytest.raises(ApplicationError) as refused:
        credit(invoice, amount=1)
    assert (refused.value.code, refused.value.status_code) == ("nothing_to_credit", 409)


@settings(max_examples=300, deadline=None)
@given(
    supply=st.integers(1, 10**9),
    rate=st.sampled_from([0, 1, 500, 1_000, 10_000]),
    cuts=st.lists(st.integers(1, 10**9), max_size=6),
)
def test_the_vat_rule_adds_up_at_full_and_never_passes_the_invoice(supply, rate, cuts):
    tax = supply * rate // 10_000
    total = supply + tax
    so_far = CreditedSoFar(invoice_tax=tax, invoice_total=total, credited=0, tax_credited=0)
    for cut in cuts:
        if so_far.creditable == 0:
            break
        amount = min(cut, so_far.creditable)
        note_tax = so_far.note_tax(amount)
        assert 0 <= note_tax <= amount
        so_far = CreditedSoFar(tax, total, so_far.credited + amount, so_far.tax_credited + note_tax)
        assert so_far.tax_credited == credited_tax(invoice_tax=tax, invoice_total=total, credited=so_far.credited)
        assert so_far.credited - so_far.tax_credited <= supply
    if so_far.supply_creditable > 0:
        wanted = max(1, so_far.supply_creditable // 3)
        found = so_far.total_for_supply(wanted)
        assert found is not None and found - so_far.note_tax(found) == wanted
        if wanted == so_far.supply_creditable:  # all the supply left: the whole rest, the last VAT with it
            assert found == so_far.creditable
        else:  # otherwise the smallest total of that supply amount
            assert found == wanted or (found - 1) - so_far.note_tax(found - 1) < wanted
    assert so_far.note_tax(so_far.creditable) == tax - so_far.tax_credited


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=8), st.data())
def test_spread_is_proportional_within_capacities_and_exact(capacities, data):
    amount = data.draw(st.integers(0, sum(capacities)))
    parts = spread(amount, capacities)
    assert sum(parts) == amount
    assert all(0 <= part <= capacity for part, capacity in zip(parts, capacities, strict=True))


# --- where the money goes ---------------------------------------------------------------------------------


def test_a_partly_paid_invoice_is_credited_first_off_what_it_asks_and_the_rest_is_refunded(customer):
    invoice = issue_invoice(customer)
    payment_record(invoice=invoice, amount=60_000, method=PaymentMethod.BANK_TRANSFER, provider_reference="IN-1")

    with pytest.raises(ApplicationError) as refused:
        credit(invoice, amount=70_000)
    assert (refused.value.code, refused.value.fields.keys()) == ("bank_reference_required", {"bank_reference"})

    note = credit(invoice, amount=70_000, bank_reference="OUT-77")

    assert (note.pre_payment_amount, note.refund_amount, note.balance_amount) == (48_900, 21_100, 0)
    [refund] = note.refunds.all()
    assert (refund.method, refund.status, refund.amount, refund.provider_reference) == (
        RefundMethod.BANK_TRANSFER,
        RefundStatus.SUCCEEDED,
        21_100,
        "OUT-77",
    )
    invoice = fresh(invoice)
    assert (invoice.status, invoice.amount_remaining, invoice.amount_refunded) == ("paid", 0, 21_100)
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.amount_refunded, payment.status) == (21_100, PaymentStatus.SUCCEEDED)
    assert_money_balances(invoice)


def test_a_card_refund_is_pending_and_asked_of_the_provider_by_a_job(customer):
    invoice = issue_invoice(customer)
    payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.CARD, provider_reference="pi_1")

    note = credit(invoice)

    [refund] = note.refunds.all()
    assert (refund.method, refund.status, refund.amount, refund.payment.provider_reference) == (
        RefundMethod.CARD,
        RefundStatus.PENDING,
        108_900,
        "pi_1",
    )
    job = Job.objects.get(key=f"refund:{refund.pk}")
    assert (job.kind, job.payload) == (JobKind.REFUND_PROVIDER_CREATE, {"refund_id": refund.pk})
    payment = refund.payment
    payment.refresh_from_db()
    assert (payment.amount_refunded, payment.status) == (108_900, PaymentStatus.REFUNDED)
    assert payment.refunded_at is not None
    assert fresh(invoice).amount_refunded == 108_900
    assert_money_balances(invoice)


def test_refunds_go_over_the_payments_newest_first_each_at_most_what_it_has_left(customer):
    invoice = issue_invoice(customer)
    older = payment_record(invoice=invoice, amount=8_900, method=PaymentMethod.CARD, provider_reference="pi_old")
    newer = payment_record(invoice=invoice, amount=100_000, method=PaymentMethod.BANK_TRANSFER, provider_reference="B")

    first = credit(invoice, amount=90_000, bank_reference="OUT-1")
    second = credit(invoice, amount=15_000, bank_reference="OUT-2")  # the bank payment has 10,000 left, then the card

    assert [(r.payment_id, r.amount) for r in first.refunds.all()] == [(newer.pk, 90_000)]
    assert sorted((r.payment_id, r.amount) for r in second.refunds.all()) == sorted(
        [(newer.pk, 10_000), (older.pk, 5_000)]
    )
    assert [(p.amount_refunded, p.status) for p in Payment.objects.filter(invoice=invoice).order_by("pk")] == [
        (5_000, PaymentStatus.SUCCEEDED),
        (100_000, PaymentStatus.REFUNDED),
    ]


def test_a_second_bank_refund_needs_its_own_reference(customer):
    invoice = issue_invoice(customer)
    payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.BANK_TRANSFER, provider_reference="B")
    credit(invoice, amount=1_000, bank_reference="OUT-1")

    with pytest.raises(ApplicationError) as refused:
        credit(invoice, amount=1_000, bank_reference="OUT-1")

    assert (refused.value.code, refused.value.status_code) == ("duplicate_refund_reference", 409)
    assert fresh(invoice).amount_credited == 1_000


def test_a_credit_to_the_balance_is_a_balance_refund_and_a_ledger_entry(customer, billing_staff_user):
    invoice = issue_invoice(customer)
    payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.CARD, provider_reference="pi_2")

    note = credit(invoice, amount=20_000, settlement=CreditSettlement.BALANCE, actor=billing_staff_user)

    assert (note.refund_amount, note.balance_amount) == (0, 20_000)
    [refund] = note.refunds.all()
    assert (refund.method, refund.status, refund.payment) == (RefundMethod.BALANCE, RefundStatus.SUCCEEDED, None)
    entry = CustomerBalanceEntry.objects.get(customer=customer)
    assert (entry.kind, entry.amount, entry.balance_after) == (BalanceEntryKind.CREDIT_NOTE, 20_000, 20_000)
    assert (entry.credit_note, entry.refund, entry.invoice_id, entry.created_by) == (
        note,
        refund,
        invoice.pk,
        billing_staff_user,
    )
    assert Customer.objects.get(pk=customer.pk).credit_balance == 20_000
    assert Payment.objects.get(invoice=invoice).amount_refunded == 0  # no money went back to the card
    assert_money_balances(invoice)


def test_the_note_renders_its_pdf_after_commit_and_the_invoice_pdf_shows_the_credit(customer):
    invoice = issue_invoice(customer)
    revision = invoice.pdf_revision

    note = credit(invoice, amount=1_000)

    job = Job.objects.get(key=f"credit_note_pdf:{note.pk}:1")
    assert (job.kind, job.payload) == (JobKind.CREDIT_NOTE_PDF_RENDER, {"credit_note_id": note.pk})
    assert (note.pdf_status, note.pdf_revision) == ("pending", 1)
    assert fresh(invoice).pdf_revision == revision + 1
    assert Job.objects.filter(key=f"invoice_pdf:{invoice.pk}:{revision + 1}").exists()


def test_an_uncollectible_invoice_can_be_credited_and_becomes_paid_when_nothing_is_left(customer):
    from billing.services.invoices import invoice_mark_uncollectible

    invoice = issue_invoice(customer)
    invoice_mark_uncollectible(invoice=invoice, actor=None)

    credit(invoice)

    assert fresh(invoice).status == InvoiceStatus.PAID


# --- numbers ------------------------------------------------------------------------------------------------


def test_credit_note_numbers_are_gapless_per_day_and_a_refused_note_gives_its_number_back(customer):
    first, second = issue_invoice(customer), issue_invoice(customer)
    numbers = [credit(first, amount=100).number, credit(second, amount=100).number]
    with pytest.raises(ApplicationError):
        credit(first, amount=10**9)  # refused: nothing written
    with pytest.raises(RuntimeError), transaction.atomic():
        credit(second, amount=100)
        raise RuntimeError("something after the note failed")
    numbers.append(credit(first, amount=100).number)
    numbers.append(credit(first, amount=100, now=seoul(date(2026, 11, 29))).number)

    assert numbers == ["20261128-C0001", "20261128-C0002", "20261128-C0003", "20261129-C0001"]
    assert CreditNoteNumberSequence.objects.get(day=DAY).last_number == 3


# --- refusals -----------------------------------------------------------------------------------------------


def code_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value.code, refused.value.status_code


def test_draft_and_void_invoices_cannot_be_credited(customer):
    draft = invoice_draft_create(customer=customer, lines=[InvoiceLineInput("x", 1_000)])
    void = invoice_void(invoice=issue_invoice(customer), actor=None)

    assert code_of(lambda: credit(draft)) == ("invoice_not_creditable", 409)
    assert code_of(lambda: credit(void)) == ("invoice_not_creditable", 409)


def test_a_credited_unpaid_invoice_can_be_voided_but_one_with_payments_cannot(customer):
    invoice = issue_invoice(customer)
    note = credit(invoice, amount=1_000)

    assert invoice_void(invoice=invoice, actor=None).status == InvoiceStatus.VOID
    assert list(fresh(invoice).credit_notes.values_list("pk", flat=True)) == [note.pk]  # still accounted for

    paid_in_part = issue_invoice(customer)
    payment_record(invoice=paid_in_part, amount=1_000, method=PaymentMethod.BANK_TRANSFER)
    credit(paid_in_part, amount=1_000)
    assert code_of(lambda: invoice_void(invoice=paid_in_part, actor=None)) == ("invoice_has_payments", 409)
    assert fresh(paid_in_part).status == InvoiceStatus.OPEN


def test_refused_requests(customer, other_customer):
    invoice = issue_invoice(customer)
    foreign = issue_invoice(other_customer).lines.get(position=0)
    line = invoice.lines.get(position=0)
    cases = {
        "both": (lambda: credit(invoice, amount=1, lines=[CreditLineInput(line.pk, 1)]), ("validation_error", 400)),
        "empty lines": (lambda: credit(invoice, lines=[]), ("validation_error", 400)),
        "reason": (lambda: credit(invoice, reason="because"), ("invalid_reason", 400)),
        "memo": (lambda: credit(invoice, memo="two\nlines"), ("invalid_memo", 400)),
        "long memo": (lambda: credit(invoice, memo="x" * 501), ("invalid_memo", 400)),
        "settlement": (lambda: credit(invoice, settlement="cash"), ("validation_error", 400)),
        "zero": (lambda: credit(invoice, amount=0), ("invalid_amount", 400)),
        "float": (lambda: credit(invoice, amount=NOT_AN_INTEGER), ("invalid_amount", 400)),
        "too much": (lambda: credit(invoice, amount=108_901), ("amount_exceeds_creditable", 409)),
        "foreign line": (lambda: credit(invoice, lines=[CreditLineInput(foreign.pk, 1)]), ("invalid_line", 400)),
        "unknown line": (lambda: credit(invoice, lines=[CreditLineInput(10**9, 1)]), ("invalid_line", 400)),
        "twice": (
            lambda: credit(invoice, lines=[CreditLineInput(line.pk, 1), CreditLineInput(line.pk, 1)]),
            ("invalid_line", 400),
        ),
        "line too much": (
            lambda: credit(invoice, lines=[CreditLineInput(line.pk, 50_001)]),
            ("amount_exceeds_creditable", 409),
        ),
        "line zero": (lambda: credit(invoice, lines=[CreditLineInput(line.pk, 0)]), ("invalid_amount", 400)),
    }
    for name, (call, expected) in cases.items():
        assert code_of(call) == expected, name
    assert not CreditNote.objects.exists()


def test_only_positive_item_lines_are_credited_by_line(customer):
    invoice = invoice_issue(
        customer=customer,
        lines=[
            InvoiceLineInput("Pro", 100_000),
            InvoiceLineInput("Plan change credit", -20_000),
            InvoiceLineInput("Coupon", -10_000, kind=InvoiceLineKind.DISCOUNT),
        ],
    )
    charge, minus, discount = invoice.lines.order_by("position")

    for line in (minus, discount):
        assert code_of(lambda line=line: credit(invoice, lines=[CreditLineInput(line.pk, 1)])) == ("invalid_line", 400)
    # The charge's 100,000 is more than the 70,000 of supply the invoice has at all.
    assert code_of(lambda: credit(invoice, lines=[CreditLineInput(charge.pk, 70_001)])) == (
        "amount_exceeds_creditable",
        409,
    )
    note = credit(invoice, lines=[CreditLineInput(charge.pk, 70_000)])
    assert (note.subtotal, note.tax, note.total) == (70_000, 7_000, 77_000)
    assert fresh(invoice).status == InvoiceStatus.PAID


# --- permissions --------------------------------------------------------------------------------------------


def test_support_and_is_staff_alone_cannot_credit_billing_staff_can(customer, support_user, billing_staff_user):
    invoice = issue_invoice(customer)
    bare_staff = StaffUserFactory.create(username="bare")

    assert code_of(lambda: credit(invoice, actor=support_user)) == ("permission_denied", 403)
    assert code_of(lambda: credit(invoice, actor=bare_staff)) == ("permission_denied", 403)
    assert code_of(lambda: credit(invoice, actor=customer.user)) == ("permission_denied", 403)
    note = credit(invoice, amount=1_000, actor=billing_staff_user)
    assert note.created_by == billing_staff_user


def test_giving_money_back_also_needs_the_refund_permission(customer):
    from django.contrib.auth.models import Permission

    invoice = issue_invoice(customer)
    payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.CARD, provider_reference="pi_3")
    clerk = StaffUserFactory.create(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="add_creditnote"))

    assert code_of(lambda: credit(invoice, amount=1_000, actor=clerk)) == ("permission_denied", 403)
    unpaid = issue_invoice(customer)
    assert credit(unpaid, amount=1_000, actor=clerk).pre_payment_amount == 1_000  # nothing given back


# --- refunds made at the provider ---------------------------------------------------------------------------


def test_a_refund_made_in_the_stripe_dashboard_becomes_a_credit_note_once(customer):
    invoice = issue_invoice(customer)
    payment = payment_record(invoice=invoice, amount=invoice.total, method=PaymentMethod.CARD, provider_reference="pi")

    note = credit_note_issue_for_provider_refund(payment=payment, amount=50_000, reference="re_1", now=seoul(DAY))
    again = credit_note_issue_for_provider_refund(payment=payment, amount=50_000, reference="re_1")
    capped = credit_note_issue_for_provider_refund(payment=payment, amount=10**6, reference="re_2")

    assert again is None
    assert note is not None and capped is not None
    assert (note.reason, note.memo, note.pre_payment_amount, note.refund_amount) == (
        "other",
        "Refunded in Stripe (re_1)",
        0,
        50_000,
    )
    [refund] = note.refunds.all()
    assert (refund.method, refund.status, refund.provider_reference) == ("card", "succeeded", "re_1")
    assert not Job.objects.filter(key=f"refund:{refund.pk}").exists()
    assert capped.total == 58_900
    assert credit_note_issue_for_provider_refund(payment=payment, amount=1, reference="re_3") is None
    payment.refresh_from_db()
    assert (payment.amount_refunded, payment.status) == (108_900, PaymentStatus.REFUNDED)
    assert_money_balances(invoice)


# --- concurrency --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_full_credit_notes_credit_the_invoice_once(postgresql, without_pdf_rendering):
    customer = CustomerFactory.create()
    invoice = issue_invoice(customer)
    payment_record(invoice=invoice, amount=50_000, method=PaymentMethod.CARD, provider_reference="pi_race")

    results = run_concurrently(lambda index: credit(invoice, settlement=CreditSettlement.BALANCE), 2)

    notes = [result for result in results if isinstance(result, CreditNote)]
    refused = [result for result in results if isinstance(result, ApplicationError)]
    assert len(notes) == 1 and [error.code for error in refused] == ["nothing_to_credit"], results
    invoice = fresh(invoice)
    assert (invoice.amount_credited, invoice.amount_refunded, invoice.status) == (108_900, 50_000, "paid")
    assert Customer.objects.get(pk=customer.pk).credit_balance == 50_000
    assert CreditNote.objects.count() == 1
