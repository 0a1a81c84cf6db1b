"""Staff-only invoice actions: record a bank transfer, void, mark uncollectible."""

import pytest

from billing.models import Invoice, Payment
from billing.services.orders import OrderItemInput, order_create

from ..conftest import jwt_client
from ..helpers import staff_group

pytestmark = pytest.mark.django_db


def _paths(invoice_id):
    return {
        "payments": f"/api/invoices/{invoice_id}/payments",
        "void": f"/api/invoices/{invoice_id}/void",
        "uncollectible": f"/api/invoices/{invoice_id}/mark-uncollectible",
    }


@pytest.mark.parametrize("action", ["payments", "void", "uncollectible"])
def test_customers_get_403_even_on_their_own_invoice(buyer_client, intruder_client, issue, action):
    invoice = issue(1_000)
    for client in (buyer_client, intruder_client):
        response = client.post(_paths(invoice.pk)[action], {"amount_krw": invoice.total}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("open", 0)


def test_staff_records_a_bank_transfer(staff_api, issue, staff):
    invoice = issue(99_000)
    response = staff_api.post(
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
    assert Payment.objects.get().recorded_by == staff


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"amount_krw": 0}, 400, "invalid_amount"),
        ({"amount_krw": 2_000_000}, 409, "amount_exceeds_remaining"),
        ({}, 400, "validation_error"),
        ({"amount": 100, "amount_krw": 200}, 400, "validation_error"),
    ],
)
def test_bad_payments_are_refused(staff_api, issue, payload, status, code):
    invoice = issue(1_000)
    response = staff_api.post(_paths(invoice.pk)["payments"], payload, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_staff_void_and_uncollectible(staff_api, issue):
    void = issue(1_000)
    response = staff_api.post(_paths(void.pk)["void"])
    assert (response.status_code, response.json()["status"]) == (200, "void")
    again = staff_api.post(_paths(void.pk)["void"])
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_invoice_transition")

    written_off = issue(1_000)
    response = staff_api.post(_paths(written_off.pk)["uncollectible"])
    assert (response.status_code, response.json()["status"]) == (200, "uncollectible")
    paid = staff_api.post(_paths(written_off.pk)["payments"], {"amount_krw": 1_100}, format="json")
    assert paid.json()["invoice"]["status"] == "paid"


def test_staff_actions_on_unknown_invoices_are_404(staff_api):
    for path in _paths(987_654).values():
        assert staff_api.post(path, {"amount_krw": 1}, format="json").status_code == 404


# --- who may act: Django permissions, not is_staff (issue 10, finding 4) ---------------------------------------


@pytest.fixture
def member(make_billing_user):
    """A user in one of the staff groups; `is_staff` only lets them into the admin site, it grants nothing."""

    def make(group: str, *, is_staff: bool = True):
        user = make_billing_user(f"{group.replace(' ', '-')}-{'staff' if is_staff else 'api'}", is_staff=is_staff)
        user.groups.add(staff_group(group))
        return user

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


def test_support_staff_cannot_bill_another_customer_nor_invoice_their_order(member, buyer):
    support = jwt_client(member("support"))
    order = order_create(customer=buyer, items=[OrderItemInput("Pro 플랜", 99_000, 1)])
    for body in ({"amount_krw": 5_000, "customer_id": buyer.pk}, {"order_id": order.pk}):
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


def test_staff_without_permissions_cannot_act(make_billing_user, issue):
    bare_staff = jwt_client(make_billing_user("admin-login-only", is_staff=True))
    invoice = issue(1_000)
    for path in _paths(invoice.pk).values():
        response = bare_staff.post(path, {"amount_krw": invoice.total}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == ("open", 0)


def test_customers_cannot_probe_invoice_ids(buyer_client):
    """Unknown or not: a customer gets the same 403, so staff endpoints do not reveal which invoices exist."""
    for path in _paths(987_654).values():
        response = buyer_client.post(path, {"amount_krw": 1}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")
