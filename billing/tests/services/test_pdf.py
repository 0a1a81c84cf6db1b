"""Invoice PDFs: Korean and English text as pdftotext reads it, the embedded Hangul font, status stamps,
re-rendering on change, storage as the customer's protected document, and the storage-down path."""

import logging

import pytest
from django.core.management import call_command

from billing.models import Invoice
from billing.services.customers import customer_tax_treatment_set, customer_update
from billing.services.invoices import InvoiceLineInput, invoice_issue, invoice_pdf_regenerate, invoice_void
from billing.services.payments import payment_record_bank_transfer
from billing.services.pdf import invoice_pdf_render
from billing.tests.factories import InvoiceFactory
from billing_site.errors import ApplicationError
from storage.models import StoredFile
from storage.services import file_delete

from ..helpers import pdf_fonts, pdf_text, stored_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def rendered(issued):
    """Issue an invoice and run its after-commit render (billing/tests/conftest.py `issued`)."""
    return issued


def test_korean_pdf_shows_labels_number_and_amounts(rendered, caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="xhtml2pdf"):
        invoice = rendered(99_000)
    assert (invoice.pdf_status, invoice.pdf_error) == ("ready", "")
    content = stored_bytes(invoice)
    text = pdf_text(content)

    for label in (
        "청구서",
        "청구번호",
        "발행일",
        "납부기한",
        "공급자",
        "공급받는자",
        "공급가액",
        "부가세",
        "합계",
        "입금 안내",
    ):
        assert label in text, label
    assert invoice.number in text
    assert "₩99,000" in text and "₩9,900" in text and "₩108,900" in text
    assert "주식회사 테스트상사" in text and "220-81-62517" in text  # buyer
    assert "123-45-67891" in text and "주식회사 빌링사이트" in text  # seller from settings
    assert "123456-01-234567" in text  # bank account for the transfer
    assert "PAID" not in text and "VOID" not in text
    assert "NanumGothic" in pdf_fonts(content, tmp_path)
    assert not [record for record in caplog.records if "can draw" in record.getMessage()], "a glyph fell back to a box"


def test_english_pdf_for_a_customer_who_prefers_english(customer, rendered):
    customer_update(customer=customer, preferred_language="en")
    invoice = rendered(1_234_567)
    text = pdf_text(stored_bytes(invoice))
    for label in ("INVOICE", "Invoice number", "Bill to", "Subtotal", "VAT", "Total", "How to pay"):
        assert label in text, label
    assert "₩1,234,567" in text and "₩123,456" in text and "₩1,358,023" in text
    assert "청구번호" not in text
    assert invoice.number in text


TREATMENT_SHOWN = {
    "ko": {"taxable": "과세 구분: 과세 (10%)", "zero_rated": "과세 구분: 영세율", "exempt": "과세 구분: 면세"},
    "en": {
        "taxable": "Tax treatment: Taxable (10%)",
        "zero_rated": "Tax treatment: Zero-rated (영세율)",
        "exempt": "Tax treatment: Exempt (면세)",
    },
}


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize(("treatment", "vat"), [("taxable", "₩9,900"), ("zero_rated", "₩0"), ("exempt", "₩0")])
def test_pdf_states_the_customers_tax_treatment(customer, rendered, treatment, language, vat):
    customer_update(customer=customer, preferred_language=language)
    customer_tax_treatment_set(customer=customer, tax_treatment=treatment, actor=None)
    customer.refresh_from_db()
    invoice = rendered(99_000, customer=customer)
    text = pdf_text(stored_bytes(invoice))
    assert TREATMENT_SHOWN[language][treatment] in text, text
    assert vat in text
    for other, phrase in TREATMENT_SHOWN[language].items():
        assert other == treatment or phrase not in text


def test_pdf_of_a_taxed_invoice_stays_taxable_after_the_customer_becomes_exempt(
    customer, rendered, django_capture_on_commit_callbacks
):
    invoice = rendered(99_000)
    customer_tax_treatment_set(customer=customer, tax_treatment="exempt", actor=None)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_pdf_regenerate(invoice=invoice)
    text = pdf_text(stored_bytes(invoice))
    assert "과세 구분: 과세 (10%)" in text and "₩9,900" in text
    assert "면세" not in text


def test_two_digit_currency_pdf(rendered):
    invoice = rendered(123_456, currency="USD")
    text = pdf_text(stored_bytes(invoice))
    assert "$1,234.56" in text and "$123.45" in text and "$1,358.01" in text


def test_customer_text_is_printed_not_interpreted(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(
            customer=customer,
            lines=[InvoiceLineInput('<img src="file:///etc/passwd"> 견적 <b>bold</b>', 1_000)],
        )
    text = pdf_text(stored_bytes(invoice))
    assert '<img src="file:///etc/passwd"> 견적 <b>bold</b>' in text


def test_pdf_is_the_customers_protected_document(rendered):
    invoice = rendered()
    stored = invoice.pdf_file
    assert (stored.owner, stored.category, stored.content_type) == (
        invoice.customer.user,
        "document",
        "application/pdf",
    )
    assert (stored.attached_type, stored.attached_id, stored.protected) == ("billing.invoice", str(invoice.pk), True)
    assert stored.original_name == f"invoice-{invoice.number}.pdf"
    with pytest.raises(ApplicationError) as refused:
        file_delete(file=stored, by_customer=True)
    assert refused.value.code == "file_attached"


def test_paid_stamp_after_payment_replaces_the_open_pdf(
    rendered, billing_staff_user, django_capture_on_commit_callbacks
):
    invoice = rendered(10_000)
    open_file = invoice.pdf_file
    with django_capture_on_commit_callbacks(execute=True):
        payment_record_bank_transfer(invoice=invoice, amount=invoice.total, actor=billing_staff_user, reference="KB-1")
    invoice.refresh_from_db()
    text = pdf_text(stored_bytes(invoice))
    assert "PAID" in text and "결제일" in text
    assert "입금 안내" not in text  # nothing left to pay
    assert invoice.pdf_file_id != open_file.pk
    assert (invoice.pdf_revision, invoice.pdf_rendered_revision) == (2, 2)
    assert StoredFile.objects.get(pk=open_file.pk).deleted_at is not None


def test_partial_payment_shows_paid_and_remaining(rendered, billing_staff_user, django_capture_on_commit_callbacks):
    invoice = rendered(100_000)
    with django_capture_on_commit_callbacks(execute=True):
        payment_record_bank_transfer(invoice=invoice, amount=60_000, actor=billing_staff_user)
    text = pdf_text(stored_bytes(invoice))
    assert "입금액" in text and "₩60,000" in text and "미수금" in text and "₩50,000" in text
    assert "PAID" not in text


def test_void_stamp(rendered, billing_staff_user, django_capture_on_commit_callbacks):
    invoice = rendered()
    with django_capture_on_commit_callbacks(execute=True):
        invoice_void(invoice=invoice, actor=billing_staff_user)
    text = pdf_text(stored_bytes(invoice))
    assert "VOID" in text and "입금 안내" not in text


def test_uncollectible_invoice_still_asks_for_payment_without_a_stamp(
    rendered, billing_staff_user, django_capture_on_commit_callbacks
):
    from billing.services.invoices import invoice_mark_uncollectible

    invoice = rendered()
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_uncollectible(invoice=invoice, actor=billing_staff_user)
    invoice.refresh_from_db()
    assert invoice.pdf_revision == 2 and invoice.pdf_status == "ready"
    text = pdf_text(stored_bytes(invoice))
    assert "입금 안내" in text and "UNCOLLECTIBLE" not in text and "PAID" not in text


def test_regenerate_renders_a_new_revision_and_discards_the_old_file(rendered, django_capture_on_commit_callbacks):
    invoice = rendered()
    old_file = invoice.pdf_file_id

    with django_capture_on_commit_callbacks(execute=True):
        invoice_pdf_regenerate(invoice=invoice)
    invoice.refresh_from_db()

    assert (invoice.pdf_status, invoice.pdf_rendered_revision) == ("ready", invoice.pdf_revision)
    assert invoice.pdf_file_id != old_file
    assert "청구서" in pdf_text(stored_bytes(invoice))
    assert not StoredFile.objects.filter(pk=old_file, deleted_at__isnull=True).exists()


def test_regenerate_refuses_a_draft(customer):
    draft = InvoiceFactory(customer=customer)

    with pytest.raises(ApplicationError) as refused:
        invoice_pdf_regenerate(invoice=draft)

    assert refused.value.code == "invoice_is_draft"


def test_render_is_idempotent(rendered):
    invoice = rendered()
    again = invoice_pdf_render(invoice=invoice)
    assert again.pdf_file_id == invoice.pdf_file_id
    assert StoredFile.objects.count() == 1


def test_a_render_overtaken_by_a_newer_change_discards_its_file(
    issue, billing_staff_user, monkeypatch, without_pdf_rendering, django_capture_on_commit_callbacks
):
    invoice = issue()
    import billing.services.pdf as pdf

    real_bytes = pdf.invoice_pdf_bytes

    def bytes_then_change(*, invoice):
        content = real_bytes(invoice=invoice)
        invoice_void(invoice=Invoice(pk=invoice.pk), actor=billing_staff_user)  # a concurrent status change
        return content

    monkeypatch.setattr(pdf, "invoice_pdf_bytes", bytes_then_change)
    with django_capture_on_commit_callbacks(execute=True):
        result = invoice_pdf_render(invoice=invoice)
    assert (result.status, result.pdf_status, result.pdf_file_id) == ("void", "pending", None)
    assert StoredFile.objects.get().deleted_at is not None  # the stale file was thrown away


def test_storage_down_leaves_the_invoice_issued_and_its_pdf_pending_until_the_command(
    issue, settings, unreachable_s3, django_capture_on_commit_callbacks, tmp_path
):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(50_000)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.pdf_status, invoice.pdf_file_id) == ("open", "pending", None)
    assert "storage_unavailable" in invoice.pdf_error or "unavailable" in invoice.pdf_error.lower()
    assert not StoredFile.objects.exists()

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storage.backends.SignedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "m")},
        },
    }
    call_command("billing_render_pdfs", "--no-progress")
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_error) == ("ready", "")
    assert invoice.number in pdf_text(stored_bytes(invoice))
