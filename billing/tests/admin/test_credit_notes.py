"""Credit notes, refunds and the balance ledger in the (Korean) admin: the pages, the invoice's "issue a credit note"
form and the customer's "adjust balance" form, which billing staff may use and support may not."""

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from billing.enums import BalanceEntryKind, CreditSettlement, InvoiceStatus
from billing.models import CreditNote, Customer, CustomerBalanceEntry, Invoice
from billing.services.credit_notes import credit_note_issue
from billing.services.payments import payment_record_bank_transfer

pytestmark = pytest.mark.django_db


def _messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def paid(issue: Any, billing_staff_user: Any) -> Invoice:
    """A ₩108,900 invoice (₩99,000 + VAT) paid in full by bank transfer."""
    invoice = issue(99_000)
    payment_record_bank_transfer(invoice=invoice, amount=invoice.total, actor=billing_staff_user, reference="KB-1")
    invoice.refresh_from_db()
    return invoice


@pytest.fixture
def note(paid: Invoice, billing_staff_user: Any) -> CreditNote:
    return credit_note_issue(
        invoice=paid, reason="goodwill", actor=billing_staff_user, amount=21_780, settlement=CreditSettlement.BALANCE
    )


@pytest.mark.parametrize("who", ["billing_staff_admin_client", "support_admin_client"])
def test_the_pages_load_in_korean_for_billing_staff_and_support(
    request: pytest.FixtureRequest, who: str, note: CreditNote, customer: Customer
) -> None:
    client: Client = request.getfixturevalue(who)
    listing = client.get(reverse("admin:billing_creditnote_changelist"))
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "수정 청구서" in page and note.number in page and "₩21,780" in page and "고객 보상" in page

    change = client.get(reverse("admin:billing_creditnote_change", args=[note.pk])).content.decode()
    assert str(note.invoice.number) in change and "크레딧 전환 금액" in change and "수정 청구서 항목" in change

    refunds = client.get(
        reverse("admin:billing_refund_changelist"), {"status__exact": "succeeded", "method__exact": "balance"}
    )
    assert refunds.status_code == 200 and note.number in refunds.content.decode()

    entries = client.get(reverse("admin:billing_customerbalanceentry_changelist")).content.decode()
    assert "크레딧 내역" in entries and "₩21,780" in entries

    invoice_page = client.get(reverse("admin:billing_invoice_change", args=[note.invoice_id])).content.decode()
    assert note.number in invoice_page and "수정 청구 금액" in invoice_page

    customer_page = client.get(reverse("admin:billing_customer_change", args=[customer.pk])).content.decode()
    assert note.number in customer_page and "변경 후 잔액" in customer_page


def test_support_can_neither_issue_credit_notes_nor_adjust_balances(
    support_admin_client: Client, paid: Invoice, customer: Customer
) -> None:
    form = reverse("admin:billing_invoice_credit_note", args=[paid.pk])
    assert support_admin_client.get(form).status_code == 403
    posted = support_admin_client.post(form, {"reason": "goodwill", "settlement": "balance"})
    assert posted.status_code == 403
    invoice_page = support_admin_client.get(reverse("admin:billing_invoice_change", args=[paid.pk])).content.decode()
    assert form not in invoice_page and "billing-credit-note" not in invoice_page
    listing = support_admin_client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert 'value="issue_credit_note"' not in listing

    adjust = reverse("admin:billing_customer_adjust_balance", args=[customer.pk])
    assert support_admin_client.post(adjust, {"amount": "5000", "reason": "보상"}).status_code == 403
    customer_page = support_admin_client.get(reverse("admin:billing_customer_change", args=[customer.pk]))
    assert adjust not in customer_page.content.decode()
    assert not CreditNote.objects.exists() and not CustomerBalanceEntry.objects.filter(kind="adjustment").exists()


def test_billing_staff_issue_a_credit_note_from_the_invoice_page(
    billing_staff_admin_client: Client, paid: Invoice, customer: Customer
) -> None:
    invoice_page = billing_staff_admin_client.get(reverse("admin:billing_invoice_change", args=[paid.pk]))
    form = reverse("admin:billing_invoice_credit_note", args=[paid.pk])
    assert form in invoice_page.content.decode() and "수정 청구서 발행" in invoice_page.content.decode()
    page = billing_staff_admin_client.get(form).content.decode()
    assert "₩108,900" in page and 'name="settlement"' in page

    response = billing_staff_admin_client.post(
        form, {"amount": "10890", "reason": "discount", "memo": "할인 적용", "settlement": "balance"}
    )

    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:billing_invoice_change", args=[paid.pk]
    )
    note = CreditNote.objects.get(invoice=paid)
    assert (note.total, note.tax, note.balance_amount, note.reason, note.memo) == (
        10_890,
        990,
        10_890,
        "discount",
        "할인 적용",
    )
    assert note.created_by is not None and note.created_by.username == "accountant"
    assert _messages(response) == [
        f"수정 청구서 {note.number} 발행 (₩10,890): 청구 금액 차감 ₩0, 환불 ₩0, 크레딧 잔액 전환 ₩10,890."
    ]
    customer.refresh_from_db()
    assert customer.credit_balance == 10_890


def test_a_refusal_shows_the_services_reason_and_issues_nothing(
    billing_staff_admin_client: Client, paid: Invoice
) -> None:
    form = reverse("admin:billing_invoice_credit_note", args=[paid.pk])

    too_much = billing_staff_admin_client.post(
        form, {"amount": "200000", "reason": "goodwill", "settlement": "balance"}
    )
    no_reference = billing_staff_admin_client.post(form, {"reason": "goodwill", "settlement": "refund"})

    assert too_much.status_code == 200 and any("거부됨" in message for message in _messages(too_much))
    assert no_reference.status_code == 200
    assert any("bank transfer" in message for message in _messages(no_reference))
    assert "Required for a bank transfer refund." in no_reference.content.decode()  # on the bank reference field
    assert not CreditNote.objects.exists()


def test_the_changelist_action_opens_the_form_for_one_invoice(
    billing_staff_admin_client: Client, paid: Invoice
) -> None:
    response = billing_staff_admin_client.post(
        reverse("admin:billing_invoice_changelist"), {"action": "issue_credit_note", "_selected_action": [paid.pk]}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:billing_invoice_credit_note", args=[paid.pk])


def test_a_void_invoice_offers_no_credit_note(
    billing_staff_admin_client: Client, issue: Any, billing_staff_user: Any
) -> None:
    from billing.services.invoices import invoice_void

    invoice = invoice_void(invoice=issue(10_000), actor=billing_staff_user)
    assert invoice.status == InvoiceStatus.VOID
    page = billing_staff_admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content.decode()
    assert "billing-credit-note" not in page


def test_billing_staff_adjust_a_balance_with_a_reason(billing_staff_admin_client: Client, customer: Customer) -> None:
    adjust = reverse("admin:billing_customer_adjust_balance", args=[customer.pk])
    page = billing_staff_admin_client.get(reverse("admin:billing_customer_change", args=[customer.pk]))
    assert adjust in page.content.decode()

    added = billing_staff_admin_client.post(adjust, {"amount": "5000", "reason": "장애 보상"})
    too_much = billing_staff_admin_client.post(adjust, {"amount": "-9000", "reason": "회수"})

    assert added.status_code == 302
    entry = CustomerBalanceEntry.objects.get(customer=customer, kind=BalanceEntryKind.ADJUSTMENT)
    assert (entry.amount, entry.balance_after, entry.reason) == (5_000, 5_000, "장애 보상")
    assert entry.created_by is not None and entry.created_by.username == "accountant"
    assert _messages(added) == [f"{customer}: 크레딧 잔액 ₩5,000 조정, 현재 잔액 ₩5,000."]
    assert too_much.status_code == 200 and any("거부됨" in message for message in _messages(too_much))
    customer.refresh_from_db()
    assert customer.credit_balance == 5_000


def test_the_pdf_link_redirects_to_a_signed_url(support_admin_client: Client, note: CreditNote) -> None:
    response = support_admin_client.get(reverse("admin:billing_creditnote_pdf", args=[note.pk]))
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.pdf_status == "ready" and response["Location"] != reverse(
        "admin:billing_creditnote_change", args=[note.pk]
    )
