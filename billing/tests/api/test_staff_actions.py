"""Staff-only invoice actions: record a bank transfer, void, mark uncollectible."""

import pytest

from billing.models import Payment

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
