"""The customer's currency in the admin: billing staff choose it while nothing is billed, then it is read-only;
support only sees it."""

from typing import Any

import pytest
from django.urls import reverse

from billing.models import Customer
from billing.services.subscriptions import subscription_create
from billing.tests.factories import CustomerFactory, SubscriptionPlanFactory

pytestmark = pytest.mark.django_db

PROFILE = {
    "display_name": "Acme Inc.",
    "email": "buyer@example.com",
    "business_registration_number": "",
    "address": "1 Market St, San Francisco",
    "preferred_language": "en",
    "subscriptions-TOTAL_FORMS": "0",
    "subscriptions-INITIAL_FORMS": "0",
}


@pytest.fixture
def buyer() -> Customer:
    return CustomerFactory.create(display_name="Acme Inc.", email="buyer@example.com")


def url_of(customer: Customer) -> str:
    return reverse("admin:billing_customer_change", args=[customer.pk])


def test_billing_staff_choose_the_currency_while_nothing_is_billed(billing_staff_admin_client: Any, buyer) -> None:
    page = billing_staff_admin_client.get(url_of(buyer)).content.decode()
    assert '<select name="currency"' in page and '<option value="JPY">' in page

    response = billing_staff_admin_client.post(url_of(buyer), {**PROFILE, "currency": "USD"})

    assert response.status_code == 302, response.content.decode()[:2000]
    buyer.refresh_from_db()
    assert buyer.currency == "USD"
    kept = billing_staff_admin_client.post(url_of(buyer), {**PROFILE, "address": "2 Market St"})
    assert kept.status_code == 302
    buyer.refresh_from_db()
    assert (buyer.currency, buyer.address) == ("USD", "2 Market St")


@pytest.mark.parametrize("currency", ["usd", "XXX", "USD' OR 1=1"])
def test_an_unknown_currency_shows_on_the_form(billing_staff_admin_client: Any, buyer, currency) -> None:
    response = billing_staff_admin_client.post(url_of(buyer), {**PROFILE, "currency": currency})

    assert response.status_code == 200  # the form with its error
    buyer.refresh_from_db()
    assert buyer.currency == "KRW"


def test_once_billed_the_currency_is_read_only(billing_staff_admin_client: Any, buyer) -> None:
    plan = SubscriptionPlanFactory.create(monthly_price=10_000, prices={"EUR": (900, 9_000)})
    subscription_create(customer=buyer, plan=plan, billing_period="monthly", currency="EUR")

    page = billing_staff_admin_client.get(url_of(buyer)).content.decode()
    assert 'name="currency"' not in page and "EUR" in page

    response = billing_staff_admin_client.post(url_of(buyer), {**PROFILE, "currency": "KRW"})

    assert response.status_code == 302  # the read-only field is not part of the form: ignored
    buyer.refresh_from_db()
    assert buyer.currency == "EUR"


def test_support_sees_but_cannot_change_the_currency(support_admin_client: Any, buyer) -> None:
    page = support_admin_client.get(url_of(buyer))
    assert page.status_code == 200
    assert 'name="currency"' not in page.content.decode()

    assert support_admin_client.post(url_of(buyer), {**PROFILE, "currency": "USD"}).status_code == 403
    buyer.refresh_from_db()
    assert buyer.currency == "KRW"
