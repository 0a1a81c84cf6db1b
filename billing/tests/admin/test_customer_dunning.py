"""The customer's admin page shows what dunning did for their overdue invoices, to staff who may see invoices."""

from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing.models import Customer
from billing.services.dunning import dunning_run
from billing.services.subscriptions import subscription_create
from billing.tests.factories import StaffUserFactory
from billing.tests.helpers import seoul
from billing_site.tests.helpers import admin_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def dunned(customer: Customer, plans: dict[str, Any], settings: Any) -> Any:
    """A first invoice due on 31 January 2025, unpaid: its third reminder (day 7) was sent on 7 February."""
    settings.BILLING_DUNNING_SCHEDULE = [1, 3, 7]
    invoice = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 1))
    ).invoice
    dunning_run(as_of=date(2025, 2, 7), now=seoul(date(2025, 2, 7)))
    return invoice


def _page(client: Any, customer: Customer) -> str:
    response = client.get(reverse("admin:billing_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_billing_staff_see_the_dunning_steps_with_their_invoice(
    billing_staff_admin_client: Any, customer: Customer, dunned: Any
) -> None:
    page = _page(billing_staff_admin_client, customer)

    section = page[page.index("납기 후 일수") :]  # the dunning table's header ("days after due"; the admin is Korean)
    assert reverse("admin:billing_invoice_change", args=[dunned.pk]) in section
    assert dunned.number in section
    assert '<td class="num">3</td><td class="num">7</td>' in section  # step 3, seven days after the due date
    assert "2025-02-07" in section or "Feb. 7, 2025" in section or "2025년 2월 7일" in section


def test_staff_who_may_not_see_invoices_get_no_dunning_section(customer: Customer, dunned: Any) -> None:
    viewer = StaffUserFactory.create(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer", content_type__app_label="billing"))

    page = _page(admin_session(viewer), customer)

    assert "납기 후 일수" not in page
