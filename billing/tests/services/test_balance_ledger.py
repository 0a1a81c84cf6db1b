"""The customer balance ledger: staff adjustments (permission, reason, never below zero), the database keeping the
balance equal to the sum of its entries, entries and credit notes that never change, and the subscription flows
that write entries (credit applied to an invoice, a plan change's credit)."""

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from billing.enums import BalanceEntryKind, InvoiceLineKind
from billing.models import CreditNote, CreditNoteLine, Customer, CustomerBalanceEntry
from billing.services.balance import balance_adjust, balance_entry_write
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import InvoiceLineInput, invoice_issue
from billing.services.subscriptions import subscription_create
from billing.tests.factories import CustomerFactory, StaffUserFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

JAN_1 = date(2025, 1, 1)


def ledger_of(customer: Customer) -> list[tuple[str, int, int]]:
    entries = CustomerBalanceEntry.objects.filter(customer=customer).order_by("created_at", "id")
    return list(entries.values_list("kind", "amount", "balance_after"))


def assert_ledger_adds_up(customer: Customer) -> None:
    balance = Customer.objects.get(pk=customer.pk).credit_balance
    running = 0
    for _, amount, after in ledger_of(customer):
        running += amount
        assert after == running >= 0
    assert running == balance


def test_billing_staff_add_and_take_credit_with_a_reason(customer, billing_staff_user):
    added = balance_adjust(
        customer=customer, amount=50_000, reason="  Goodwill for the outage  ", actor=billing_staff_user
    )
    taken = balance_adjust(customer=customer, amount=-20_000, reason="Entered twice", actor=billing_staff_user)

    assert (added.kind, added.reason, added.created_by) == (
        BalanceEntryKind.ADJUSTMENT,
        "Goodwill for the outage",
        billing_staff_user,
    )
    assert (taken.amount, taken.balance_after) == (-20_000, 30_000)
    assert ledger_of(customer) == [("adjustment", 50_000, 50_000), ("adjustment", -20_000, 30_000)]
    assert_ledger_adds_up(customer)


def test_support_is_staff_alone_and_the_system_cannot_adjust(customer, support_user):
    bare = StaffUserFactory.create(username="bare")
    for actor in (support_user, bare, customer.user, None):
        with pytest.raises(ApplicationError) as refused:
            balance_adjust(customer=customer, amount=1_000, reason="why not", actor=actor)
        assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    assert ledger_of(customer) == []


@pytest.mark.parametrize("reason", ["", "   ", "two\nlines", "x" * 501, None])
def test_an_adjustment_says_why_in_one_line(customer, billing_staff_user, reason):
    with pytest.raises(ApplicationError) as refused:
        balance_adjust(customer=customer, amount=1_000, reason=reason, actor=billing_staff_user)
    assert refused.value.code == "invalid_reason"


def test_the_balance_never_goes_below_zero(billing_staff_user):
    customer = CustomerFactory.create(credit_balance=5_000)

    with pytest.raises(ApplicationError) as refused:
        balance_adjust(customer=customer, amount=-5_001, reason="too much", actor=billing_staff_user)

    assert (refused.value.code, refused.value.status_code) == ("insufficient_balance", 409)
    assert ledger_of(customer) == [("opening", 5_000, 5_000)]
    balance_adjust(customer=customer, amount=-5_000, reason="all of it", actor=billing_staff_user)
    assert Customer.objects.get(pk=customer.pk).credit_balance == 0


def test_an_entry_in_another_currency_is_refused(customer):
    with pytest.raises(ApplicationError) as refused, transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        balance_entry_write(customer=locked, amount=100, kind=BalanceEntryKind.ADJUSTMENT, currency="USD", reason="x")
    assert (refused.value.code, refused.value.status_code) == ("currency_mismatch", 409)


# --- what the database guarantees (PostgreSQL) --------------------------------------------------------------


def test_a_balance_changed_without_an_entry_fails_the_commit_check(postgresql, customer, billing_staff_user):
    balance_adjust(customer=customer, amount=1_000, reason="ok", actor=billing_staff_user)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the entries written so far add up
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    with pytest.raises(IntegrityError, match="ledger sums to"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE billing_customer SET credit_balance = credit_balance + 1 WHERE id = %s", [customer.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_an_entry_without_the_balance_fails_the_commit_check(postgresql, customer):
    with pytest.raises(IntegrityError, match="ledger sums to"), transaction.atomic(), connection.cursor() as cursor:
        CustomerBalanceEntry.objects.create(
            customer=customer, currency=customer.currency, amount=500, balance_after=500, kind="opening"
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_entries_are_never_changed_or_deleted(postgresql, customer, billing_staff_user):
    entry = balance_adjust(customer=customer, amount=1_000, reason="ok", actor=billing_staff_user)

    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerBalanceEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerBalanceEntry.objects.filter(pk=entry.pk).delete()
    assert CustomerBalanceEntry.objects.get(pk=entry.pk).reason == "ok"


def test_a_credit_note_changes_only_its_pdf_and_is_never_deleted(postgresql, customer):
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Pro", 99_000)])
    note = credit_note_issue(invoice=invoice, reason="discount", actor=None, amount=10_000)

    CreditNote.objects.filter(pk=note.pk).update(pdf_status="ready", pdf_rendered_revision=1, pdf_error="")
    for change in ({"total": 1, "subtotal": 1, "tax": 0}, {"memo": "changed"}, {"number": "20990101-C0001"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            CreditNote.objects.filter(pk=note.pk).update(**change)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNote.objects.filter(pk=note.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditNoteLine.objects.filter(credit_note=note).update(amount=1)
    note.refresh_from_db()
    assert (note.total, note.memo, note.pdf_status) == (10_000, "", "ready")


# --- the subscription flows write entries ----------------------------------------------------------------------


def test_credit_used_by_a_subscription_invoice_and_a_plan_change_credit_are_entries(plans):
    customer = CustomerFactory.create(credit_balance=10_000)

    started = subscription_create(customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(JAN_1))

    balance_line = started.invoice.lines.get(kind=InvoiceLineKind.BALANCE)
    assert balance_line.amount == -10_000
    used = CustomerBalanceEntry.objects.get(customer=customer, kind=BalanceEntryKind.APPLIED_TO_INVOICE)
    assert (used.amount, used.balance_after, used.invoice) == (-10_000, 0, started.invoice)

    pay(started.invoice)
    down = subscription_create(
        customer=customer, plan=plans["starter"], billing_period="monthly", now=seoul(JAN_1), when="now"
    )

    assert down.credit_to_balance > 0
    credit = CustomerBalanceEntry.objects.get(customer=customer, kind=BalanceEntryKind.PRORATION_CREDIT)
    assert (credit.amount, credit.balance_after) == (down.credit_to_balance, down.credit_to_balance)
    assert_ledger_adds_up(customer)
