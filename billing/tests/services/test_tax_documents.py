"""Each tax treatment on invoices and credit notes (the VAT, the treatment, rate and basis an invoice keeps, its
PDF, the API, the admin), and a VAT rate change by date: an invoice issued the day before it and one issued on it."""

from datetime import date, datetime
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from billing.enums import CreditNoteReason, TaxTreatment
from billing.models import Customer, Invoice
from billing.services.credit_note_pdf import credit_note_pdf_context, credit_note_pdf_html
from billing.services.credit_notes import CreditLineInput, credit_note_issue
from billing.services.customers import customer_tax_basis_set, customer_tax_treatment_set, customer_update
from billing.services.invoices import (
    InvoiceLineInput,
    invoice_draft_create,
    invoice_finalize,
    invoice_issue,
    invoice_issue_for_order,
)
from billing.services.numbering import billing_today
from billing.services.orders import OrderItemInput, order_create
from billing.services.pdf import invoice_pdf_html
from billing_site.errors import ApplicationError

from ..helpers import pdf_text, seoul, stored_bytes

pytestmark = pytest.mark.django_db

ZERO_RATED_KO = "부가가치세법 제24조 제1항 제3호, 같은 법 시행령 제33조 제2항"
EXEMPT_KO = "부가가치세법 제26조"
CHANGE = "2027-07-01=1200"  # 10 % until 30 June 2027, 12 % from 1 July 2027 (Seoul days)
EVE = seoul(date(2027, 6, 30), hour=23, minute=59)
CHANGE_DAY = seoul(date(2027, 7, 1), hour=0, minute=0)

TREATMENTS = [
    # treatment, VAT of 99,000, rate, basis printed
    (TaxTreatment.TAXABLE, 9_900, 1000, ""),
    (TaxTreatment.ZERO_RATED, 0, 0, ZERO_RATED_KO),
    (TaxTreatment.EXEMPT, 0, 0, EXEMPT_KO),
]


def treated(customer: Customer, treatment: str) -> Customer:
    return customer_tax_treatment_set(customer=customer, tax_treatment=treatment, actor=None)


def issue_on(customer: Customer, moment: datetime, amount: int = 99_000) -> Invoice:
    """An invoice drafted and issued at `moment` (its Seoul day is its issue day)."""
    draft = invoice_draft_create(customer=customer, lines=[InvoiceLineInput("Pro 플랜", amount)], now=moment)
    return invoice_finalize(invoice=draft, now=moment)


# --- invoices, per treatment ----------------------------------------------------------------------------


@pytest.mark.parametrize(("treatment", "vat", "rate", "basis"), TREATMENTS)
def test_an_invoice_keeps_the_treatment_rate_and_basis_it_was_issued_with(
    customer: Customer, treatment: str, vat: int, rate: int, basis: str
) -> None:
    invoice = invoice_issue(customer=treated(customer, treatment), lines=[InvoiceLineInput("Pro 플랜", 99_000)])
    invoice.refresh_from_db()
    assert (invoice.tax_treatment, invoice.vat_rate_basis_points, invoice.tax_basis) == (treatment, rate, basis)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (99_000, vat, 99_000 + vat)

    # Whatever the customer becomes afterwards, the issued invoice stays as it was issued.
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=None)
    customer_tax_basis_set(customer=customer, tax_basis="다른 근거", actor=None)
    invoice.refresh_from_db()
    assert (invoice.tax_treatment, invoice.vat_rate_basis_points, invoice.tax_basis) == (treatment, rate, basis)


@pytest.mark.parametrize(
    "change",
    [{"tax_treatment": "exempt", "tax": 0, "total": 99_000}, {"vat_rate_basis_points": 1200}, {"tax_basis": "x"}],
)
def test_the_database_freezes_the_vat_of_an_issued_invoice(customer: Customer, change: dict[str, Any]) -> None:
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Pro 플랜", 99_000)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**change)


def test_a_zero_rated_invoice_prints_the_customers_own_basis_in_its_language(customer: Customer) -> None:
    customer_update(customer=customer, preferred_language="en")
    customer_tax_basis_set(customer=treated(customer, TaxTreatment.ZERO_RATED), tax_basis="VAT Act Art. 21", actor=None)
    customer.refresh_from_db()
    invoice = invoice_issue(customer=customer, lines=[InvoiceLineInput("Consulting", 99_000)])
    assert invoice.tax_basis == "VAT Act Art. 21"

    customer_tax_basis_set(customer=customer, tax_basis="", actor=None)  # back to the default, in English
    customer.refresh_from_db()
    again = invoice_issue(customer=customer, lines=[InvoiceLineInput("Consulting", 99_000)])
    assert again.tax_basis == "Value-Added Tax Act, Article 24(1)3, and its Enforcement Decree, Article 33(2)"


# --- the rate change by date ----------------------------------------------------------------------------


def test_an_invoice_issued_the_day_before_a_change_keeps_the_old_rate_one_on_the_day_takes_the_new(
    settings: Any, customer: Customer
) -> None:
    settings.BILLING_VAT_RATE_CHANGES = CHANGE
    before, on_the_day = issue_on(customer, EVE), issue_on(customer, CHANGE_DAY)

    assert (before.issue_date, before.vat_rate_basis_points, before.tax, before.total) == (
        date(2027, 6, 30),
        1000,
        9_900,
        108_900,
    )
    assert (on_the_day.issue_date, on_the_day.vat_rate_basis_points, on_the_day.tax, on_the_day.total) == (
        date(2027, 7, 1),
        1200,
        11_880,
        110_880,
    )
    assert "부가세 10%" in invoice_pdf_html(invoice=before) and "과세 (10%)" in invoice_pdf_html(invoice=before)
    assert "부가세 12%" in invoice_pdf_html(invoice=on_the_day) and "과세 (12%)" in invoice_pdf_html(invoice=on_the_day)


def test_a_draft_priced_before_the_change_is_recomputed_when_issued_on_its_day(
    settings: Any, customer: Customer
) -> None:
    settings.BILLING_VAT_RATE_CHANGES = CHANGE
    draft = invoice_draft_create(customer=customer, lines=[InvoiceLineInput("Pro 플랜", 99_000)], now=EVE)
    assert (draft.vat_rate_basis_points, draft.tax) == (1000, 9_900)

    issued = invoice_finalize(invoice=draft, now=CHANGE_DAY)
    issued.refresh_from_db()
    assert (issued.vat_rate_basis_points, issued.subtotal, issued.tax, issued.total, issued.amount_remaining) == (
        1200,
        99_000,
        11_880,
        110_880,
        110_880,
    )


@pytest.mark.parametrize("treatment", [TaxTreatment.ZERO_RATED, TaxTreatment.EXEMPT])
def test_a_rate_change_never_taxes_an_untaxed_customer(settings: Any, customer: Customer, treatment: str) -> None:
    settings.BILLING_VAT_RATE_CHANGES = CHANGE
    customer = treated(customer, treatment)
    for invoice in (issue_on(customer, EVE), issue_on(customer, CHANGE_DAY)):
        assert (invoice.tax_treatment, invoice.vat_rate_basis_points, invoice.tax) == (treatment, 0, 0)


def test_an_order_priced_before_a_change_must_be_ordered_again(settings: Any, customer: Customer) -> None:
    order = order_create(customer=customer, items=[OrderItemInput("설치비", 50_000)])
    assert order.tax == 5_000
    settings.BILLING_VAT_RATE_CHANGES = f"{billing_today().isoformat()}=1200"  # from today on

    with pytest.raises(ApplicationError) as outdated:
        invoice_issue_for_order(order=order)
    assert (outdated.value.code, outdated.value.status_code) == ("order_tax_outdated", 409)

    again = order_create(customer=customer, items=[OrderItemInput("설치비", 50_000)])
    invoice = invoice_issue_for_order(order=again)
    assert (again.tax, invoice.tax, invoice.vat_rate_basis_points) == (6_000, 6_000, 1200)


# --- credit notes follow their invoice -------------------------------------------------------------------


@pytest.mark.parametrize(("treatment", "vat", "rate", "basis"), TREATMENTS)
def test_a_credit_note_takes_back_vat_at_its_invoices_treatment(
    customer: Customer, billing_staff_user: Any, treatment: str, vat: int, rate: int, basis: str
) -> None:
    invoice = invoice_issue(customer=treated(customer, treatment), lines=[InvoiceLineInput("Pro 플랜", 99_000)])
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.TAXABLE, actor=None)  # later: moot
    line = invoice.lines.get()

    part = credit_note_issue(
        invoice=invoice,
        reason=CreditNoteReason.DISCOUNT,
        actor=billing_staff_user,
        lines=[CreditLineInput(invoice_line_id=line.pk, amount=33_000)],
    )
    rest = credit_note_issue(invoice=invoice, reason=CreditNoteReason.GOODWILL, actor=billing_staff_user)

    # The invoice's VAT in proportion (credit_note_amounts: floored, so at most one won under the rate's share).
    assert part.subtotal == 33_000 and 33_000 * rate // 10_000 - 1 <= part.tax <= 33_000 * rate // 10_000
    assert (rest.subtotal + part.subtotal, rest.tax + part.tax) == (99_000, vat)  # in full: exactly the invoice's
    context = credit_note_pdf_context(credit_note=part)
    assert (context["tax_treatment"], context["tax_rate_percent"], context["tax_basis"]) == (
        treatment,
        str(rate // 100),
        basis,
    )


def test_a_credit_note_after_the_rate_changed_takes_back_at_the_invoices_rate(
    settings: Any, customer: Customer, billing_staff_user: Any
) -> None:
    settings.BILLING_VAT_RATE_CHANGES = CHANGE
    invoice = issue_on(customer, CHANGE_DAY)  # 12 %
    settings.BILLING_VAT_RATE_CHANGES = ""  # today: back to 10 %

    note = credit_note_issue(
        invoice=invoice,
        reason=CreditNoteReason.DISCOUNT,
        actor=billing_staff_user,
        lines=[CreditLineInput(invoice_line_id=invoice.lines.get().pk, amount=50_000)],
    )
    # 12 % of the supply in the invoice's proportion (floored: 5,999), never today's 10 % (5,000).
    assert (note.subtotal, note.tax, note.total) == (50_000, 5_999, 55_999)
    html = credit_note_pdf_html(credit_note=note)
    assert "수정 세액 12%" in html and "과세 (12%)" in html


@pytest.mark.parametrize(
    ("treatment", "basis"), [(TaxTreatment.ZERO_RATED, ZERO_RATED_KO), (TaxTreatment.EXEMPT, EXEMPT_KO)]
)
def test_an_untaxed_credit_note_prints_its_invoices_treatment_and_basis(
    customer: Customer, billing_staff_user: Any, treatment: str, basis: str
) -> None:
    invoice = invoice_issue(customer=treated(customer, treatment), lines=[InvoiceLineInput("Pro 플랜", 99_000)])
    note = credit_note_issue(invoice=invoice, reason=CreditNoteReason.GOODWILL, actor=billing_staff_user)
    assert (note.tax, note.total) == (0, 99_000)
    html = credit_note_pdf_html(credit_note=note)
    assert basis in html and ("영세율" if treatment == TaxTreatment.ZERO_RATED else "면세") in html


# --- PDFs, the API and the admin ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "treatment", "printed"),
    [
        (
            "ko",
            TaxTreatment.ZERO_RATED,
            ["과세 구분: 영세율", "적용 근거:", "부가가치세법 제24조 제1항 제3호", "부가세 0%"],
        ),
        (
            "en",
            TaxTreatment.EXEMPT,
            ["Tax treatment: Exempt (면세)", "Legal basis:", "Value-Added Tax Act, Article 26"],
        ),
        ("ko", TaxTreatment.TAXABLE, ["과세 구분: 과세 (10%)", "부가세 10%"]),
    ],
)
def test_the_pdf_prints_the_treatment_the_rate_and_the_basis(
    customer: Customer, issued: Any, language: str, treatment: str, printed: list[str]
) -> None:
    customer_update(customer=customer, preferred_language=language)
    invoice = issued(99_000, customer=treated(customer, treatment))
    text = " ".join(pdf_text(stored_bytes(invoice)).split())
    for phrase in printed:
        assert phrase in text, (phrase, text)
    if treatment == TaxTreatment.TAXABLE:
        assert "적용 근거" not in text


def test_the_invoice_api_shows_the_vat_it_was_issued_with(
    customer: Customer, customer_client: Any, billing_staff_user: Any
) -> None:
    invoice = invoice_issue(
        customer=treated(customer, TaxTreatment.ZERO_RATED), lines=[InvoiceLineInput("Pro 플랜", 99_000)]
    )
    body = customer_client.get(f"/api/invoices/{invoice.pk}").json()
    assert (body["tax_treatment"], body["vat_rate_basis_points"], body["tax_basis"], body["tax"]) == (
        "zero_rated",
        0,
        ZERO_RATED_KO,
        0,
    )
    note = credit_note_issue(invoice=invoice, reason=CreditNoteReason.GOODWILL, actor=billing_staff_user)
    listed = customer_client.get("/api/credit-notes").json()["results"]
    assert [(row["id"], row["tax_treatment"], row["vat_rate_basis_points"]) for row in listed] == [
        (note.pk, "zero_rated", 0)
    ]


def test_billing_staff_set_the_tax_basis_on_the_customer_page(
    billing_staff_admin_client: Any, support_admin_client: Any, customer: Customer
) -> None:
    url = reverse("admin:billing_customer_change", args=[customer.pk])
    profile = {
        "display_name": customer.display_name,
        "email": customer.email,
        "business_registration_number": customer.business_registration_number,
        "address": customer.address,
        "preferred_language": "ko",
        "subscriptions-TOTAL_FORMS": "0",
        "subscriptions-INITIAL_FORMS": "0",
    }
    page = billing_staff_admin_client.get(url).content.decode()
    assert 'name="tax_basis"' in page

    saved = billing_staff_admin_client.post(url, {**profile, "tax_basis": "부가가치세법 제21조"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    customer.refresh_from_db()
    assert customer.tax_basis == "부가가치세법 제21조"

    assert billing_staff_admin_client.post(url, {**profile, "address": "부산광역시"}).status_code == 302
    customer.refresh_from_db()
    assert (customer.tax_basis, customer.address) == ("부가가치세법 제21조", "부산광역시")  # left out: kept

    assert billing_staff_admin_client.post(url, {**profile, "tax_basis": "제21조\n제1항"}).status_code == 200
    assert billing_staff_admin_client.post(url, {**profile, "tax_basis": ""}).status_code == 302
    customer.refresh_from_db()
    assert customer.tax_basis == ""  # an empty field clears it: the default basis again

    assert 'name="tax_basis"' not in support_admin_client.get(url).content.decode()
    assert support_admin_client.post(url, {**profile, "tax_basis": "x"}).status_code == 403
