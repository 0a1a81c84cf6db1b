"""Billing contacts (CC emails, 대표자, 업태/종목): checked by customer_update, snapshot by invoice_finalize and
printed on the invoice PDF."""

import pytest

from billing.services.customers import customer_update
from billing_site.errors import ApplicationError

from ..helpers import pdf_text, stored_bytes

pytestmark = pytest.mark.django_db


def test_addresses_keep_their_local_part_and_get_a_lowercase_domain(customer):
    updated = customer_update(
        customer=customer, email=" Billing@Buyer.CO.KR ", cc_emails=["CFO@Buyer.co.kr", "ap@BUYER.co.kr"]
    )
    assert (updated.email, updated.cc_emails) == ("Billing@buyer.co.kr", ["CFO@buyer.co.kr", "ap@buyer.co.kr"])


def test_a_customer_cannot_edit_another_customers_contacts(customer, other_customer):
    with pytest.raises(ApplicationError) as refused:
        customer_update(customer=customer, representative_name="남의 대표", actor=other_customer.user)
    assert refused.value.status_code == 403
    customer.refresh_from_db()
    assert customer.representative_name == ""


@pytest.mark.parametrize("field", ["display_name", "representative_name", "business_type", "business_item", "address"])
@pytest.mark.parametrize("character", ["\r", "\n", "\x00", "\x7f", "\u2028", "\x85"])
def test_control_characters_are_refused_in_every_text_field(customer, field, character):
    with pytest.raises(ApplicationError) as refused:
        customer_update(customer=customer, **{field: f"주식회사{character}바이어"})
    assert (refused.value.code, list(refused.value.fields)) == ("validation_error", [field])


def test_finalizing_snapshots_the_contacts_and_the_pdf_prints_them(customer, issue, django_capture_on_commit_callbacks):
    customer_update(customer=customer, representative_name="김대표", business_type="서비스", business_item="소프트웨어")
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(10_000)
    assert (invoice.buyer_representative, invoice.buyer_business_type, invoice.buyer_business_item) == (
        "김대표",
        "서비스",
        "소프트웨어",
    )
    text = pdf_text(stored_bytes(invoice))
    assert "대표자: 김대표" in text
    assert "업태/종목: 서비스 / 소프트웨어" in text


def test_the_english_pdf_labels_them_and_omits_what_is_empty(customer, issue, django_capture_on_commit_callbacks):
    customer_update(customer=customer, preferred_language="en", business_item="Software")
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(10_000)
    text = pdf_text(stored_bytes(invoice))
    assert "Business type / item: Software" in text
    assert text.count("Representative:") == 1  # the seller's only: the buyer has none


def test_a_pdf_without_contacts_prints_no_empty_labels(issue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(10_000)
    assert "업태/종목" not in pdf_text(stored_bytes(invoice))
