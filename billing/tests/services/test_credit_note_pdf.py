"""Credit note PDFs (수정 청구서): Korean and English text as pdftotext reads it, the original invoice's numbers and
amounts, how the note was settled, storage as the customer's protected document, one render per revision, the
storage-down path, and the invoice PDF's credited amounts."""

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from billing.enums import CreditSettlement, JobKind
from billing.jobs import credit_note_pdf_render_job
from billing.models import CreditNote, Customer, Invoice
from billing.services.credit_note_pdf import credit_note_pdf_render, credit_note_pdf_signed_url
from billing.services.credit_notes import credit_note_issue
from billing.services.customers import customer_update
from billing.services.payments import payment_record_bank_transfer
from billing_site.jobs.models import Job
from storage.models import StoredFile

from ..helpers import pdf_fonts, pdf_text, stored_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def credited(
    issued: Callable[..., Invoice], billing_staff_user: Any, django_capture_on_commit_callbacks: Any
) -> Callable[..., CreditNote]:
    """An invoice of ₩99,000 + ₩9,900 VAT, paid by bank transfer (unless `paid=False`), then credited by billing
    staff with `credit_note_issue(**options)`; what the commits start (PDF renders, emails) has run."""

    def make(*, paid: bool = True, customer: Customer | None = None, **options: Any) -> CreditNote:
        invoice = issued(99_000, **({"customer": customer} if customer else {}))
        with django_capture_on_commit_callbacks(execute=True):
            if paid:
                payment_record_bank_transfer(
                    invoice=invoice, amount=invoice.total, actor=billing_staff_user, reference="KB-PAID-1"
                )
        with django_capture_on_commit_callbacks(execute=True):
            note = credit_note_issue(invoice=invoice, actor=billing_staff_user, **options)
        note.refresh_from_db()
        return note

    return make


def test_korean_credit_note_shows_the_original_invoice_the_credited_amounts_and_the_balance(
    credited: Callable[..., CreditNote], caplog: Any, tmp_path: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="xhtml2pdf"):
        note = credited(reason="goodwill", amount=54_450, settlement=CreditSettlement.BALANCE, memo="장애 보상")
    assert (note.pdf_status, note.pdf_error, note.pdf_rendered_revision) == ("ready", "", 1)
    content = stored_bytes(note)
    text = pdf_text(content)

    for label in (
        "수정 청구서",
        "수정 청구번호",
        "원 청구서",
        "공급가액",
        "세액",
        "합계",
        "수정 합계",
        "공급자",
        "공급받는자",
    ):
        assert label in text, label
    assert note.number in text and str(note.invoice.number) in text
    assert "₩99,000" in text and "₩9,900" in text and "₩108,900" in text  # the original invoice
    assert "₩49,500" in text and "₩4,950" in text and "₩54,450" in text  # what this note credits
    assert "사유: 고객 보상" in text and "장애 보상" in text
    assert "크레딧 잔액으로 적립: ₩54,450" in text
    assert "환불:" not in text and "청구 금액에서 차감" not in text
    assert "주식회사 테스트상사" in text and "220-81-62517" in text  # buyer, as on the invoice
    assert "123-45-67891" in text and "주식회사 빌링사이트" in text  # seller from settings
    assert "입금 안내" not in text and "PAID" not in text
    assert "NanumGothic" in pdf_fonts(content, tmp_path)
    assert not [record for record in caplog.records if "can draw" in record.getMessage()], "a glyph fell back to a box"


def test_english_credit_note_for_a_customer_who_prefers_english(
    customer: Customer, credited: Callable[..., CreditNote]
) -> None:
    customer_update(customer=customer, preferred_language="en")
    note = credited(reason="duplicate", settlement=CreditSettlement.BALANCE)
    text = pdf_text(stored_bytes(note))
    for label in ("Credit note", "Credit note number", "Original invoice", "Bill to", "Total credited", "Reason"):
        assert label in text, label
    assert "Reason: Duplicate" in text and "Added to your credit balance: ₩108,900" in text
    assert "₩99,000" in text and "₩9,900" in text and "₩108,900" in text
    assert note.number in text and str(note.invoice.number) in text
    assert "수정 청구번호" not in text and "사유" not in text


def test_a_credit_of_an_unpaid_invoice_is_taken_off_the_amount_due(credited: Callable[..., CreditNote]) -> None:
    note = credited(paid=False, reason="order_change", amount=10_890)
    assert (note.pre_payment_amount, note.refund_amount, note.balance_amount) == (10_890, 0, 0)
    text = pdf_text(stored_bytes(note))
    assert "청구 금액에서 차감: ₩10,890" in text and "사유: 주문 변경" in text
    assert "₩9,900" in text and "₩990" in text  # the credited supply amount and its VAT


def test_a_refund_by_bank_transfer_is_shown_as_refunded(credited: Callable[..., CreditNote]) -> None:
    note = credited(reason="other", amount=21_780, bank_reference="KB-OUT-7")
    assert note.refund_amount == 21_780
    assert "환불: ₩21,780" in pdf_text(stored_bytes(note))


def test_the_pdf_is_the_customers_protected_document(credited: Callable[..., CreditNote]) -> None:
    note = credited(reason="goodwill", settlement=CreditSettlement.BALANCE)
    stored = note.pdf_file
    assert stored is not None
    assert (stored.owner, stored.category, stored.content_type, stored.protected) == (
        note.customer.user,
        "document",
        "application/pdf",
        True,
    )
    assert (stored.attached_type, stored.attached_id) == ("billing.creditnote", str(note.pk))
    assert stored.original_name == f"credit-note-{note.number}.pdf"


def test_the_job_renders_each_revision_once(credited: Callable[..., CreditNote]) -> None:
    note = credited(reason="goodwill", settlement=CreditSettlement.BALANCE)
    assert Job.objects.filter(kind=JobKind.CREDIT_NOTE_PDF_RENDER, payload={"credit_note_id": note.pk}).count() == 1
    first = note.pdf_file_id

    assert credit_note_pdf_render_job(credit_note_id=note.pk) == "pdf ready (revision 1)"
    again = credit_note_pdf_render(credit_note=note)

    assert again.pdf_file_id == first
    assert StoredFile.objects.filter(attached_type="billing.creditnote").count() == 1


def test_storage_down_leaves_the_note_issued_and_its_pdf_pending_until_the_command(
    credited: Callable[..., CreditNote], settings: Any, unreachable_s3: Any, tmp_path: Any
) -> None:
    note = credited(reason="goodwill", settlement=CreditSettlement.BALANCE)
    assert (note.pdf_status, note.pdf_file_id) == ("pending", None)
    assert "unavailable" in note.pdf_error.lower()
    assert credit_note_pdf_signed_url(credit_note=note) is None

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storage.backends.SignedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "m")},
        },
    }
    call_command("billing_render_pdfs", "--no-progress")
    note.refresh_from_db()
    assert (note.pdf_status, note.pdf_error) == ("ready", "")
    assert note.number in pdf_text(stored_bytes(note))
    signed = credit_note_pdf_signed_url(credit_note=note)
    assert signed is not None and signed[0]


def test_a_download_renders_a_pending_pdf(issued: Callable[..., Invoice], billing_staff_user: Any) -> None:
    invoice = issued(99_000)
    note = credit_note_issue(invoice=invoice, actor=billing_staff_user, reason="goodwill")  # not committed yet
    assert credit_note_pdf_signed_url(credit_note=note) is None

    signed = credit_note_pdf_signed_url(credit_note=note, render_if_pending=True)

    note.refresh_from_db()
    assert signed is not None and (note.pdf_status, note.pdf_rendered_revision) == ("ready", 1)


def test_the_invoice_pdf_shows_what_was_credited_and_by_which_notes(credited: Callable[..., CreditNote]) -> None:
    note = credited(paid=False, reason="discount", amount=10_890)
    invoice = note.invoice
    invoice.refresh_from_db()
    assert invoice.pdf_rendered_revision == invoice.pdf_revision and invoice.pdf_status == "ready"
    text = pdf_text(stored_bytes(invoice))
    assert "수정 청구 금액" in text and "-₩10,890" in text
    assert f"수정 청구서: {note.number}" in text
    assert "미수금" in text and "₩98,010" in text  # 108,900 - 10,890
