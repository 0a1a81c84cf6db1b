"""Staff-only invoice actions: record a bank transfer, void, mark uncollectible."""

import pytest

from billing.models import Invoice, Payment
from billing.services.orders import OrderItemInput, order_create
from billing_site.tests.helpers import jwt_client

from ..factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def _paths(invoice_id):
    return {
        "payments": f"/api/invoices/{invoice_id}/payments",
        "void": f"/api/invoices/{invoice_id}/void",
        "uncollectible": f"/api/invoices/{invoice_id}/mark-uncollectible",
    }


@pytest.mark.parametrize("action", ["payments", "void", "uncollectible"])
def test_customers_get_403_even_on_their_own_invoice(customer_client, other_customer_client, issue, action):
    invoice = issue(1_000)
    for client in (customer_client, other_customer_client):
        response = client.post(_paths(invoice.pk)[action], {"amount_krw": invoice.total}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("open", 0)


def test_staff_records_a_bank_transfer(billing_staff_client, issue, billing_staff_user):
    invoice = issue(99_000)
    response = billing_staff_client.post(
        _paths(invoice.pk)["payments"] + "/",
        {"amount_krw": 108_900, "reference": "KB-20250301-01", "note": "입금 확인"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["payment"]["method"], body["payment"]["amount_krw"], body["payment"]["reference"]) == (
        "bank_transfer",
        108_900,
        "KB-20250301-01",
    )
    assert (body["invoice"]["status"], body["invoice"]["amount_remaining"]) == ("paid", 0)
    assert Payment.objects.get().recorded_by == billing_staff_user


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"amount_krw": 0}, 400, "invalid_amount"),
        ({"amount_krw": 2_000_000}, 409, "amount_exceeds_remaining"),
        ({}, 400, "validation_error"),
        ({"amount": 100, "amount_krw": 200}, 400, "validation_error"),
    ],
)
def test_bad_payments_are_refused(billing_staff_client, issue, payload, status, code):
    invoice = issue(1_000)
    response = billing_staff_client.post(_paths(invoice.pk)["payments"], payload, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_staff_void_and_uncollectible(billing_staff_client, issue):
    void = issue(1_000)
    response = billing_staff_client.post(_paths(void.pk)["void"])
    assert (response.status_code, response.json()["status"]) == (200, "void")
    again = billing_staff_client.post(_paths(void.pk)["void"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_invoice_transition")

    written_off = issue(1_000)
    response = billing_staff_client.post(_paths(written_off.pk)["uncollectible"])
    assert (response.status_code, response.json()["status"]) == (200, "uncollectible")
    paid = billing_staff_client.post(_paths(written_off.pk)["payments"], {"amount_krw": 1_100}, format="json")
    assert paid.json()["invoice"]["status"] == "paid"


def test_staff_actions_on_unknown_invoices_are_404(billing_staff_client):
    for path in _paths(987_654).values():
        assert billing_staff_client.post(path, {"amount_krw": 1}, format="json").status_code == 404


# --- who may act: Django permissions, not is_staff (issue 10, finding 4) ---------------------------------------


@pytest.fixture
def member(db):
    """A user in one of the staff groups; `is_staff` only lets them into the admin site, it grants nothing."""

    def make(group: str, *, is_staff: bool = True):
        username = f"{group.replace(' ', '-')}-{'staff' if is_staff else 'api'}"
        return StaffUserFactory(username=username, group=group, is_staff=is_staff)

    return make


@pytest.mark.parametrize("action", ["payments", "void", "uncollectible"])
def test_support_staff_get_403_and_nothing_changes(member, issue, action):
    invoice = issue(1_000)
    support = jwt_client(member("support"))
    response = support.post(_paths(invoice.pk)[action], {"amount_krw": invoice.total}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("open", 0)
    assert not Payment.objects.exists()


def test_support_staff_cannot_bill_another_customer_nor_invoice_their_order(member, customer):
    support = jwt_client(member("support"))
    order = order_create(customer=customer, items=[OrderItemInput("Pro 플랜", 99_000, 1)])
    for body in ({"amount_krw": 5_000, "customer_id": customer.pk}, {"order_id": order.pk}):
        response = support.post("/api/payment/invoice", body, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied"), body
    assert not Invoice.objects.exists()
    order.refresh_from_db()
    assert order.status == "pending"


def test_the_permission_decides_not_is_staff(member, issue):
    """A user holding the billing staff permissions acts through the API even without admin access."""
    api_only = jwt_client(member("billing staff", is_staff=False))
    voided = issue(1_000)
    assert api_only.post(_paths(voided.pk)["void"]).json()["status"] == "void"
    paid = issue(1_000)
    response = api_only.post(_paths(paid.pk)["payments"], {"amount_krw": paid.total}, format="json")
    assert (response.status_code, response.json()["invoice"]["status"]) == (201, "paid")


def test_staff_without_permissions_cannot_act(issue):
    bare_staff = jwt_client(StaffUserFactory(username="admin-login-only"))
    invoice = issue(1_000)
    for path in _paths(invoice.pk).values():
        response = bare_staff.post(path, {"amount_krw": invoice.total}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("open", 0)


def test_customers_cannot_probe_invoice_ids(customer_client):
    """Unknown or not: a customer gets the same 403, so staff endpoints do not reveal which invoices exist."""
    for path in _paths(987_654).values():
        response = customer_client.post(path, {"amount_krw": 1}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
