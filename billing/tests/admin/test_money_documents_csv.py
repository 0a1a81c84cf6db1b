"""CSV exports of credit notes and refunds, and the invoice export's credited and refunded columns: amounts as
numbers, memo text never a spreadsheet formula, the changelist's filters respected."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from billing.enums import CreditNoteReason, CreditSettlement
from billing.services.credit_notes import credit_note_issue
from billing.services.payments import payment_record_bank_transfer

from .test_csv_injection import rows_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunded(issue: Any, billing_staff_user: Any) -> Any:
    """A paid 11,000 invoice, 5,500 of it credited back by bank transfer, with a memo that looks like a formula."""
    invoice = issue(10_000)
    payment_record_bank_transfer(invoice=invoice, amount=invoice.total, actor=billing_staff_user, reference="KB-IN")
    return credit_note_issue(
        invoice=invoice,
        reason=CreditNoteReason.GOODWILL,
        amount=5_500,
        memo='=HYPERLINK("http://evil")',
        settlement=CreditSettlement.REFUND,
        bank_reference="KB-OUT",
        actor=billing_staff_user,
    )


def test_the_credit_note_export(admin_client: Client, refunded: Any) -> None:
    (row,) = rows_of(admin_client.get(reverse("admin:billing_creditnote_export_csv")))
    assert row["수정 청구서 번호"] == refunded.number
    assert row["원 청구서 번호"] == refunded.invoice.number
    assert (row["공급가액"], row["부가세"], row["합계"]) == ("5000", "500", "5500")
    assert (row["미수금 차감"], row["환불"], row["크레딧 적립"]) == ("0", "5500", "0")
    assert row["사유"] == "goodwill"
    assert row["메모"] == '\'=HYPERLINK("http://evil")'


def test_the_refund_export_and_its_filter(admin_client: Client, refunded: Any) -> None:
    (row,) = rows_of(admin_client.get(reverse("admin:billing_refund_export_csv")))
    assert (row["수정 청구서 번호"], row["환불 수단"], row["상태"], row["금액"], row["거래 참조"]) == (
        refunded.number,
        "bank_transfer",
        "succeeded",
        "5500",
        "KB-OUT",
    )
    assert rows_of(admin_client.get(reverse("admin:billing_refund_export_csv") + "?status__exact=failed")) == []


def test_the_invoice_export_shows_what_was_credited_and_refunded(admin_client: Client, refunded: Any) -> None:
    (row,) = rows_of(admin_client.get(reverse("admin:billing_invoice_export_csv")))
    assert (row["합계"], row["입금액"], row["미수금"], row["수정 청구액"], row["환불액"]) == (
        "11000",
        "11000",
        "0",
        "5500",
        "5500",
    )


def test_support_exports_too_but_a_user_without_a_group_does_not(
    support_admin_client: Client, client: Client, refunded: Any
) -> None:
    assert len(rows_of(support_admin_client.get(reverse("admin:billing_creditnote_export_csv")))) == 1
    assert client.get(reverse("admin:billing_refund_export_csv")).status_code == 302  # to the login page
