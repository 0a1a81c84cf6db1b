"""The customer's tax treatment in the admin: billing staff set it on the customer page, support only sees it."""

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
    "subscriptions-TOTAL_FORMS": "0",
    "subscriptions-INITIAL_FORMS": "0",
}


def test_billing_staff_set_the_tax_treatment_on_the_customer_page(
    billing_staff_admin_client: Any, customer: Customer
) -> None:
    url = reverse("admin:billing_customer_change", args=[customer.pk])
    page = billing_staff_admin_client.get(url).content.decode()
    assert 'name="tax_treatment"' in page and "Zero-rated (영세율)" in page

    response = billing_staff_admin_client.post(url, {**PROFILE, "tax_treatment": "zero_rated"})
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert customer.tax_treatment == "zero_rated"

    kept = billing_staff_admin_client.post(
        url, {**PROFILE, "address": "부산광역시"}
    )  # a form without the field keeps it
    assert kept.status_code == 302
    customer.refresh_from_db()
    assert (customer.tax_treatment, customer.address) == ("zero_rated", "부산광역시")

    unknown = billing_staff_admin_client.post(url, {**PROFILE, "tax_treatment": "reduced"})
    assert unknown.status_code == 200  # the form shows the error
    customer.refresh_from_db()
    assert customer.tax_treatment == "zero_rated"


def test_support_sees_but_cannot_change_the_tax_treatment(support_admin_client: Any, customer: Customer) -> None:
    url = reverse("admin:billing_customer_change", args=[customer.pk])
    page = support_admin_client.get(url)
    assert page.status_code == 200
    assert 'name="tax_treatment"' not in page.content.decode()
    assert support_admin_client.post(url, {**PROFILE, "tax_treatment": "exempt"}).status_code == 403
    customer.refresh_from_db()
    assert customer.tax_treatment == "taxable"
