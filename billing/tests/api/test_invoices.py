"""POST /api/payment/invoice and GET /api/invoices[/{id}[/pdf]]: contract, money edge cases, ownership."""

import uuid

import pytest
from django.urls import get_resolver, reverse
from rest_framework.test import APIClient

from billing.enums import TaxTreatment
from billing.models import Invoice
from billing.services.customers import customer_tax_treatment_set
from billing.services.invoices import InvoiceLineInput, invoice_draft_create
from billing.services.numbering import billing_today
from billing.services.orders import OrderItemInput, order_create
from billing.tests.factories import StaffUserFactory, UserFactory
from billing_site.tests.helpers import jwt_client
from storage.tests.helpers import fetch

from ..helpers import pdf_text

pytestmark = pytest.mark.django_db
CREATE = "/api/payment/invoice"


def _today_number(sequence: int) -> str:
    return f"{billing_today():%Y%m%d}-{sequence:04d}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", [CREATE, CREATE + "/"])
def test_create_returns_the_seed_contract_with_a_downloadable_pdf(customer_client, path):
    response = customer_client.post(path, {"amount_krw": 99_000, "description": "Pro 플랜 3월"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"invoice_id", "invoice_number", "pdf_url", "stripe_url", "total_krw"}
    assert body["invoice_number"] == _today_number(1)
    assert (body["total_krw"], body["subtotal"], body["tax"], body["currency"]) == (108_900, 99_000, 9_900, "KRW")
    assert body["stripe_url"] is None  # Stripe is off
    assert (body["status"], body["pdf_status"]) == ("open", "ready")
    assert body["pdf_url_expires_at"]

    status, content, headers = fetch(body["pdf_url"])
    assert status == 200
    assert headers["content-type"].startswith("application/pdf")
    text = pdf_text(content)
    assert body["invoice_number"] in text and "₩108,900" in text and "Pro 플랜 3월" in text


@pytest.mark.parametrize(
    ("payload", "total_krw", "tax"),
    [
        ({"amount_krw": 1}, 1, 0),
        ({"amount_krw": 19}, 20, 1),
        ({"amount_krw": 99_999}, 109_998, 9_999),
        ({"amount_krw": 10**12}, 11 * 10**11, 10**11),
        ({"amount_krw": 50_000, "tax_krw": 5_000}, 55_000, 5_000),  # the right VAT sent along stays accepted
        ({"amount_krw": 1_000, "tax_krw": 100}, 1_100, 100),
        ({"amount": 70_000, "currency": "KRW"}, 77_000, 7_000),
        ({"amount": 70_000, "tax": 7_000, "currency": "KRW"}, 77_000, 7_000),
    ],
)
def test_amount_edge_cases_are_accepted(customer_client, payload, total_krw, tax):
    response = customer_client.post(CREATE, payload, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["total_krw"], response.json()["tax"]) == (total_krw, tax)


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"amount_krw": 0}, "invalid_amount", "amount"),
        ({"amount_krw": -100}, "invalid_amount", "amount"),
        ({"amount_krw": 10**15 + 1}, "invalid_amount", "amount"),
        ({"amount_krw": 1000.0}, "validation_error", "amount_krw"),
        ({"amount_krw": 99.5}, "validation_error", "amount_krw"),
        ({"amount_krw": "1000"}, "validation_error", "amount_krw"),
        ({"amount_krw": True}, "validation_error", "amount_krw"),
        ({}, "validation_error", "amount_krw"),
        ({"amount_krw": 1000, "tax_krw": -1}, "invalid_amount", "tax"),
        ({"amount_krw": 1000, "due_days": 0}, "validation_error", "due_days"),
        ({"amount_krw": 1000, "due_days": 366}, "validation_error", "due_days"),
        ({"amount_krw": 1000, "currency": "USD"}, "validation_error", "amount_krw"),
        ({"amount": 1000, "currency": "XYZ"}, "unsupported_currency", "currency"),
        ({"amount_krw": 1000, "amount": 2000}, "validation_error", "amount_krw"),
    ],
)
def test_invalid_requests_are_400_in_the_error_shape(customer_client, payload, code, field):
    response = customer_client.post(CREATE, payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"amount_krw": 1_000, "tax_krw": 0},
        {"amount_krw": 1_000, "tax_krw": 10**12},
        {"amount_krw": 1_000, "tax_krw": 99},
        {"amount": 1_000, "tax": 0},
        {"amount": 123_456, "tax": 0, "currency": "USD"},
    ],
)
def test_a_tax_the_server_did_not_compute_is_400_tax_mismatch(customer_client, payload):
    response = customer_client.post(CREATE, payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "tax_mismatch"
    assert "tax" in error["fields"]
    assert not Invoice.objects.exists()


def test_an_exempt_customers_invoice_has_no_vat_and_refuses_one(customer, customer_client):
    customer_tax_treatment_set(customer=customer, tax_treatment=TaxTreatment.EXEMPT, actor=None)
    taxed = customer_client.post(CREATE, {"amount_krw": 1_000, "tax_krw": 100}, format="json")
    assert (taxed.status_code, taxed.json()["error"]["code"]) == (400, "tax_mismatch")
    response = customer_client.post(CREATE, {"amount_krw": 1_000}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["tax"], response.json()["total_krw"]) == (0, 1_000)
    assert customer_client.post(CREATE, {"amount_krw": 1_000, "tax_krw": 0}, format="json").status_code == 201


def test_no_customer_api_sets_the_tax_treatment(customer, customer_client, issue):
    """Every API route of the live URL conf, written to by the customer with a tax treatment in the body."""
    invoice = issue(1_000)
    order = order_create(customer=customer, items=[OrderItemInput("x", 1_000)])
    ids = {
        "invoice_id": invoice.pk,
        "order_id": order.pk,
        "subscription_id": 1,
        "credit_note_id": 1,
        "file_id": uuid.uuid4(),
    }
    body = {
        "tax_treatment": "exempt",
        "customer": {"tax_treatment": "exempt"},
        "amount_krw": 1_000,
        "items": [{"description": "x", "unit_amount_krw": 1_000}],
        "plan": "pro",
        "billing_period": "monthly",
    }
    routes = [
        pattern
        for pattern in _url_patterns(get_resolver().url_patterns)
        if pattern.pattern.regex.pattern.startswith("^api/") and pattern.name
    ]
    assert len(routes) > 10
    created = []
    for route in routes:
        path = reverse(route.name, kwargs={name: ids[name] for name in route.pattern.regex.groupindex})
        for method in ("post", "put", "patch"):
            response = getattr(customer_client, method)(path, body, format="json")
            assert response.status_code < 500, (method, path, response.content)
            if response.status_code == 201:
                created.append(path)
            customer.refresh_from_db()
            assert customer.tax_treatment == TaxTreatment.TAXABLE, (method, path)
    assert {"/api/payment/invoice", "/api/orders"} <= set(created)  # the writes really ran
    assert all(invoice.tax == invoice.subtotal // 10 for invoice in Invoice.objects.filter(customer=customer))


def _url_patterns(patterns):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _url_patterns(pattern.url_patterns)
        else:
            yield pattern


# --- what customers may invoice themselves, and how often ---------------------------------------------------


def test_orders_only_refuses_free_amounts_but_invoices_own_orders(customer, customer_client, other_customer, settings):
    settings.BILLING_CUSTOMER_INVOICES = "orders_only"
    refused = customer_client.post(CREATE, {"amount_krw": 99_000}, format="json")
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "customer_invoices_orders_only"
    assert "order_id" in refused.json()["error"]["fields"]
    assert not Invoice.objects.exists()

    order = order_create(customer=customer, items=[OrderItemInput("Pro 플랜", 99_000)])
    response = customer_client.post(CREATE, {"order_id": order.pk}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["total_krw"], response.json()["invoice_number"]) == (108_900, _today_number(1))

    others = order_create(customer=other_customer, items=[OrderItemInput("x", 1_000)])
    assert customer_client.post(CREATE, {"order_id": others.pk}, format="json").status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/orders", {"items": [{"description": "=내 가격", "unit_amount_krw": 1}]}),
        ("/api/payment/checkout", {"items": [{"description": "내 가격", "unit_amount_krw": 777}]}),
    ],
)
def test_orders_only_refuses_orders_the_customer_prices_so_none_can_be_invoiced(customer_client, settings, path, body):
    """Otherwise a customer would place an order at any price and invoice it by its id (or check it out)."""
    from billing.models import Order

    settings.BILLING_CUSTOMER_INVOICES = "orders_only"
    refused = customer_client.post(path, body, format="json")

    assert refused.status_code == 403, refused.content
    assert (refused.json()["error"]["code"], list(refused.json()["error"]["fields"])) == (
        "customer_prices_not_accepted",
        ["items"],
    )
    assert not Order.objects.exists()
    assert not Invoice.objects.exists()  # no number taken
    settings.BILLING_CUSTOMER_INVOICES = "any"  # the seed's behaviour stays the default
    assert customer_client.post(path, body, format="json").status_code == 201


def test_orders_only_still_lets_staff_bill_a_customer(customer, settings):
    accountant = StaffUserFactory(username="accountant-3", group="billing staff")
    settings.BILLING_CUSTOMER_INVOICES = "orders_only"
    response = jwt_client(accountant).post(CREATE, {"amount_krw": 5_000, "customer_id": customer.pk}, format="json")
    assert response.status_code == 201, response.content


def test_invoice_creation_has_its_own_throttle_in_the_error_shape(customer_client, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates["invoices"] == "30/hour"
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "invoices": "2/hour"},
    }
    statuses = [customer_client.post(CREATE, {"amount_krw": 1_000}, format="json").status_code for _ in range(2)]
    throttled = customer_client.post(CREATE, {"amount_krw": 1_000}, format="json")

    assert statuses == [201, 201]
    assert throttled.status_code == 429
    error = throttled.json()["error"]
    assert (error["code"], set(error)) == ("throttled", {"code", "message", "fields"})
    assert int(throttled["Retry-After"]) > 0
    assert Invoice.objects.count() == 2  # no number was taken by the refused call


def test_two_digit_currency_invoice_has_no_krw_fields(customer_client):
    response = customer_client.post(CREATE, {"amount": 123_456, "currency": "usd"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["currency"], body["total"], body["total_krw"]) == ("USD", 135_801, None)


def test_due_days_set_the_due_date(customer_client):
    response = customer_client.post(CREATE, {"amount_krw": 1000, "due_days": 7}, format="json")
    invoice = Invoice.objects.get(pk=response.json()["invoice_id"])
    assert (invoice.due_date - invoice.issue_date).days == 7


def test_invoice_from_an_order_takes_the_orders_amounts(customer, customer_client):
    order = order_create(customer=customer, items=[OrderItemInput("Pro 플랜", 99_000, 2)])
    response = customer_client.post(CREATE, {"order_id": order.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["total_krw"] == 217_800
    order.refresh_from_db()
    assert order.status == "invoiced"

    again = customer_client.post(CREATE, {"order_id": order.pk}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "order_not_invoiceable")


def test_amounts_contradicting_the_order_are_400(customer, customer_client):
    order = order_create(customer=customer, items=[OrderItemInput("Pro 플랜", 99_000)])
    matching = {"order_id": order.pk, "amount_krw": 99_000, "tax_krw": 9_900}
    contradicting = {"order_id": order.pk, "amount_krw": 1_000}
    response = customer_client.post(CREATE, contradicting, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "amount_mismatch")
    assert "amount" in response.json()["error"]["fields"]
    assert customer_client.post(CREATE, matching, format="json").status_code == 201


def test_another_customers_order_is_404(customer, other_customer_client):
    order = order_create(customer=customer, items=[OrderItemInput("x", 1_000)])
    response = other_customer_client.post(CREATE, {"order_id": order.pk}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    order.refresh_from_db()
    assert order.status == "pending"


def test_staff_may_bill_another_customer_but_customers_may_not(
    customer, other_customer, other_customer_client, billing_staff_client
):
    by_staff = billing_staff_client.post(CREATE, {"amount_krw": 5_000, "customer_id": customer.pk}, format="json")
    assert by_staff.status_code == 201
    assert Invoice.objects.get(pk=by_staff.json()["invoice_id"]).customer == customer

    by_customer = other_customer_client.post(CREATE, {"amount_krw": 5_000, "customer_id": customer.pk}, format="json")
    assert by_customer.status_code == 404
    own = other_customer_client.post(CREATE, {"amount_krw": 5_000, "customer_id": other_customer.pk}, format="json")
    assert own.status_code == 201


def test_staff_may_invoice_any_customers_order(customer, billing_staff_client, billing_staff_user):
    from billing.models import Customer

    order = order_create(customer=customer, items=[OrderItemInput("Pro 플랜", 99_000)])
    response = billing_staff_client.post(CREATE, {"order_id": order.pk}, format="json")
    assert response.status_code == 201
    assert Invoice.objects.get(pk=response.json()["invoice_id"]).customer == customer
    assert not Customer.objects.filter(user=billing_staff_user).exists()  # no billing profile made for the accountant


def test_the_first_invoice_creates_the_billing_profile(db):
    user = UserFactory(username="newcomer")
    response = jwt_client(user).post(CREATE, {"amount_krw": 1_000}, format="json")
    assert response.status_code == 201
    assert Invoice.objects.get().customer.user == user


# --- reading -------------------------------------------------------------------------------------------


def test_list_shows_own_issued_invoices_newest_first(customer, other_customer, customer_client, issue):
    first, second = issue(1_000), issue(2_000)
    issue(3_000, customer=other_customer)
    invoice_draft_create(customer=customer, lines=[InvoiceLineInput("draft", 1)])

    for path in ("/api/invoices", "/api/invoices/"):
        body = customer_client.get(path).json()
        assert body["total"] == 2
        assert [row["id"] for row in body["results"]] == [second.pk, first.pk]
    row = body["results"][0]
    assert (row["number"], row["total_krw"], row["status"]) == (second.number, 2_200, "open")
    assert row["lines"] == [
        {
            "description": "Pro 플랜 (월간)",
            "quantity": 1,
            "unit_amount": 2_000,
            "amount": 2_000,
            "period_start": None,
            "period_end": None,
        }
    ]
    assert row["urls"] == {"pdf": f"http://testserver/api/invoices/{second.pk}/pdf", "stripe": None}


def test_list_filters_and_pages(customer_client, issue, billing_staff_user):
    from billing.services.invoices import invoice_void

    invoices = [issue(1_000 + index) for index in range(5)]
    invoice_void(invoice=invoices[0], actor=billing_staff_user)
    assert customer_client.get("/api/invoices?status=void").json()["total"] == 1
    page = customer_client.get("/api/invoices?limit=2&offset=2").json()
    assert (page["total"], page["limit"], page["offset"], len(page["results"])) == (5, 2, 2, 2)
    assert customer_client.get("/api/invoices?status=draft").status_code == 400
    assert customer_client.get("/api/invoices?status=").status_code == 400
    assert customer_client.get("/api/invoices?limit=abc").json()["error"]["code"] == "invalid_pagination"


def test_detail_is_404_for_others_drafts_and_unknown_ids(customer, customer_client, other_customer_client, issue):
    invoice = issue(1_000)
    draft = invoice_draft_create(customer=customer, lines=[InvoiceLineInput("draft", 1)])
    assert customer_client.get(f"/api/invoices/{invoice.pk}").json()["number"] == invoice.number
    assert customer_client.get(f"/api/invoices/{invoice.pk}/").status_code == 200
    for client, invoice_id in (
        (other_customer_client, invoice.pk),
        (customer_client, draft.pk),
        (customer_client, 999_999),
    ):
        response = client.get(f"/api/invoices/{invoice_id}")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_pdf_redirects_to_a_fresh_signed_url(
    customer_client, other_customer_client, issue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(10_000)
    response = customer_client.get(f"/api/invoices/{invoice.pk}/pdf")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    status, content, _ = fetch(response["Location"])
    assert status == 200 and invoice.number in pdf_text(content)

    assert other_customer_client.get(f"/api/invoices/{invoice.pk}/pdf").status_code == 404


def test_pdf_of_a_pending_invoice_is_rendered_on_demand(customer_client, issue, without_pdf_rendering):
    invoice = issue(10_000)
    invoice.refresh_from_db()
    assert invoice.pdf_status == "pending"
    response = customer_client.get(f"/api/invoices/{invoice.pk}/pdf/")
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.pdf_status == "ready"


def test_pdf_while_storage_is_down_is_503(customer_client, issue, without_pdf_rendering, unreachable_s3):
    invoice = issue(10_000)
    response = customer_client.get(f"/api/invoices/{invoice.pk}/pdf")
    assert (response.status_code, response.json()["error"]["code"]) == (503, "storage_unavailable")
    invoice.refresh_from_db()
    assert invoice.pdf_status == "pending" and invoice.pdf_error


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", CREATE), ("get", "/api/invoices"), ("get", "/api/invoices/1"), ("get", "/api/invoices/1/pdf")],
)
def test_anonymous_requests_are_401(method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
