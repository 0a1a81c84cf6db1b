"""The customer's admin page lists the emails sent to them (staff answer "I got nothing" from it), for staff who may
see emails (mail.view_email); a staff member who may see the customer but not emails gets no such section."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from billing.models import Customer
from billing.tests.factories import StaffUserFactory
from billing_site.mail.models import Email, EmailStatus
from billing_site.tests.helpers import admin_session

pytestmark = pytest.mark.django_db


def _email(customer: Customer, **values: Any) -> Email:
    fields = {
        "user": customer.user,
        "kind": "billing.invoice_issued",
        "object_type": "billing.invoice",
        "object_id": "7",
        "to_address": "ap@buyer.co.kr",
        "subject": "[빌링사이트] 청구서 20250131-0001",
        **values,
    }
    return Email.objects.create(**fields)


def _page(client: Any, customer: Customer) -> str:
    response = client.get(reverse("admin:billing_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_billing_staff_see_the_customers_emails_with_links(billing_staff_admin_client: Any, customer: Customer):
    sent = _email(customer, status=EmailStatus.SENT)
    failed = _email(customer, status=EmailStatus.FAILED, occurrence="again", last_error="SMTPDataError: 451")
    other = _email(customer, object_id="8", to_address="someone@else.example")
    other.user = None
    other.save(update_fields=["user"])

    page = _page(billing_staff_admin_client, customer)

    assert "ap@buyer.co.kr" in page
    assert reverse("admin:mail_email_change", args=[sent.pk]) in page
    assert reverse("admin:mail_email_change", args=[failed.pk]) in page
    assert "someone@else.example" not in page  # another user's email never shows here


def test_staff_who_may_not_see_emails_get_no_email_section(customer: Customer):
    viewer = StaffUserFactory.create(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer", content_type__app_label="billing"))
    _email(customer, status=EmailStatus.SENT)

    page = _page(admin_session(viewer), customer)

    assert "ap@buyer.co.kr" not in page
