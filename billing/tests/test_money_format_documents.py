"""Amounts on the documents a customer gets, per currency and language: the invoice PDF and email, the credit note
PDF and email (pdftotext and the locmem outbox), including a credit line's minus and a large amount."""

import logging
from collections.abc import Callable
from typing import Any

import pytest

from billing.models import Customer, Invoice
from billing.services.credit_notes import credit_note_issue
from billing.services.customers import customer_update
from billing.services.invoices import InvoiceLineInput, invoice_issue

from .helpers import pdf_text, stored_bytes

pytestmark = pytest.mark.django_db

# Per currency: the plan price and a credit line (minor units), then what each language shows for the price, the
# credit, the supply amount (price - credit), its 10 % VAT and the total.
DOCUMENTS = {
    "KRW": (99_000, -9_000, {"ko": ("₩99,000", "-₩9,000", "₩90,000", "₩9,000", "₩99,000")}),
    "USD": (
        7_900,
        -1_000,
        {
            "ko": ("US$79.00", "-US$10.00", "US$69.00", "US$6.90", "US$75.90"),
            "en": ("$79.00", "-$10.00", "$69.00", "$6.90", "$75.90"),
        },
    ),
    "EUR": (7_200, -1_000, {"ko": ("€72.00", "-€10.00", "€62.00", "€6.20", "€68.20")}),
    "JPY": (
        8_900,
        -1_000,
        {
            "ko": ("JP¥8,900", "-JP¥1,000", "JP¥7,900", "JP¥790", "JP¥8,690"),
            "en": ("¥8,900", "-¥1,000", "¥7,900", "¥790", "¥8,690"),
        },
    ),
}
# KRW and EUR look the same in both languages.
DOCUMENTS["KRW"][2]["en"] = DOCUMENTS["KRW"][2]["ko"]
DOCUMENTS["EUR"][2]["en"] = DOCUMENTS["EUR"][2]["ko"]


def _html(message: Any) -> str:
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return str(html)


@pytest.fixture
def billed_in(customer: Customer) -> Callable[[str, str], Customer]:
    """The customer billed in `currency` (chosen before anything was billed) with documents in `language`."""

    def make(currency: str, language: str) -> Customer:
        Customer.objects.filter(pk=customer.pk).update(currency=currency)
        customer.refresh_from_db()
        return customer_update(customer=customer, preferred_language=language)

    return make


@pytest.fixture
def invoiced(
    billed_in: Callable[[str, str], Customer], django_capture_on_commit_callbacks: Any
) -> Callable[..., Invoice]:
    """An invoice of `lines` in the customer's currency; its PDF render and email have run."""

    def make(currency: str, language: str, lines: list[InvoiceLineInput]) -> Invoice:
        buyer = billed_in(currency, language)
        with django_capture_on_commit_callbacks(execute=True):
            invoice = invoice_issue(customer=buyer, lines=lines, currency=currency)
        invoice.refresh_from_db()
        return invoice

    return make


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize("currency", sorted(DOCUMENTS))
def test_invoice_and_credit_note_show_amounts_in_the_documents_locale(
    invoiced: Callable[..., Invoice],
    billing_staff_user: Any,
    django_capture_on_commit_callbacks: Any,
    mailoutbox: list[Any],
    caplog: Any,
    currency: str,
    language: str,
) -> None:
    price, credit, shown = DOCUMENTS[currency]
    price_text, credit_text, subtotal, vat, total = shown[language]
    with caplog.at_level(logging.WARNING, logger="xhtml2pdf"):
        invoice = invoiced(
            currency, language, [InvoiceLineInput("Pro", price), InvoiceLineInput("Credit for downtime", credit)]
        )
    assert not [record for record in caplog.records if "can draw" in record.getMessage()], "a sign fell back to a box"
    assert (invoice.currency, invoice.subtotal, invoice.tax) == (currency, price + credit, (price + credit) // 10)

    text = pdf_text(stored_bytes(invoice))
    for amount in (price_text, credit_text, subtotal, vat, total):
        assert amount in text, (amount, text)
    (invoice_email,) = mailoutbox
    for body in (invoice_email.body, _html(invoice_email)):
        assert total in body, body

    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_issue(invoice=invoice, reason="duplicate", actor=billing_staff_user)
    note.refresh_from_db()
    assert (note.currency, note.total) == (currency, invoice.total)
    note_text = pdf_text(stored_bytes(note))
    for amount in (subtotal, vat, total):  # the original invoice's, and this note's: it credits all of it
        assert note_text.count(amount) >= 2, (amount, note_text)
    (note_email,) = [message for message in mailoutbox if message is not invoice_email]
    for body in (note_email.body, _html(note_email)):
        assert total in body and vat in body, body
    if language == "en":
        # An English document never shows Korean-only signs, and the reverse.
        assert "US$" not in text + note_text and "JP¥" not in text + note_text
    elif currency in ("USD", "JPY"):
        assert f" {shown['en'][4]}" not in text


@pytest.mark.parametrize(
    ("currency", "language", "line", "vat"),
    [
        ("KRW", "ko", "₩1,234,567,890,123", "₩123,456,789,012"),
        ("USD", "en", "$12,345,678,901.23", "$1,234,567,890.12"),
        ("USD", "ko", "US$12,345,678,901.23", "US$1,234,567,890.12"),
        ("JPY", "en", "¥1,234,567,890,123", "¥123,456,789,012"),
    ],
)
def test_a_large_invoice_is_shown_to_the_last_minor_unit(
    invoiced: Callable[..., Invoice], currency: str, language: str, line: str, vat: str
) -> None:
    invoice = invoiced(currency, language, [InvoiceLineInput("Enterprise", 1_234_567_890_123)])
    text = pdf_text(stored_bytes(invoice))
    assert line in text and vat in text, text
