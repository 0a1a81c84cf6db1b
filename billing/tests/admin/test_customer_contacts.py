"""Billing contacts in the admin: billing staff edit them (through customer_update) on the customer page, in a
"Billing contacts" section; support staff only see them."""

from typing import Any

import pytest
from django.urls import reverse

from billing.models import Customer

pytestmark = pytest.mark.django_db

PROFILE = {
    "display_name": "주식회사 테스트상사",
    "email": "buyer@example.com",
    "business_registration_number": "2208162517",
    "address": "서울특별시 중구 세종대로 110",
    "preferred_language": "ko",
    "cc_emails": "",
    "representative_name": "",
    "business_type": "",
    "business_item": "",
    "subscriptions-TOTAL_FORMS": "0",
    "subscriptions-INITIAL_FORMS": "0",
}


def _url(customer: Customer) -> str:
    return reverse("admin:billing_customer_change", args=[customer.pk])


def test_billing_staff_edit_the_contacts(billing_staff_admin_client: Any, customer: Customer) -> None:
    page = billing_staff_admin_client.get(_url(customer)).content.decode()
    assert "Billing contacts" in page or "청구 담당 연락처" in page
    assert 'name="cc_emails"' in page and 'name="representative_name"' in page

    contacts = {
        "cc_emails": "cfo@buyer.co.kr\r\nAP@Buyer.co.kr\r\n",
        "representative_name": "김대표",
        "business_type": "서비스",
        "business_item": "소프트웨어",
    }
    response = billing_staff_admin_client.post(_url(customer), {**PROFILE, **contacts})
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert customer.cc_emails == ["cfo@buyer.co.kr", "AP@buyer.co.kr"]
    assert (customer.representative_name, customer.business_type, customer.business_item) == (
        "김대표",
        "서비스",
        "소프트웨어",
    )
    assert "cfo@buyer.co.kr\nAP@buyer.co.kr" in billing_staff_admin_client.get(_url(customer)).content.decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cc_emails", "a@buyer.co.kr\nb@buyer.co.kr\nc@buyer.co.kr\nd@buyer.co.kr"),
        ("cc_emails", "buyer@example.com"),
        ("cc_emails", "not-an-address"),
        ("representative_name", "김대표\x00"),
    ],
)
def test_invalid_contacts_show_on_the_form_and_nothing_is_saved(
    billing_staff_admin_client: Any, customer: Customer, field: str, value: str
) -> None:
    response = billing_staff_admin_client.post(_url(customer), {**PROFILE, field: value, "business_item": "바뀜"})
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors.get(field), response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.cc_emails, customer.representative_name, customer.business_item) == ([], "", "")


def test_support_staff_see_but_cannot_change_the_contacts(support_admin_client: Any, customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(representative_name="김대표", cc_emails=["cfo@buyer.co.kr"])
    page = support_admin_client.get(_url(customer))
    assert page.status_code == 200
    content = page.content.decode()
    assert "김대표" in content and 'name="representative_name"' not in content
    response = support_admin_client.post(_url(customer), {**PROFILE, "representative_name": "바뀜"})
    assert response.status_code == 403
    customer.refresh_from_db()
    assert (customer.representative_name, customer.cc_emails) == ("김대표", ["cfo@buyer.co.kr"])
