"""GET /api/payment/history: invoices and payments together, newest first, filtered, paged, in at most 4 queries."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Payment
from billing.services.invoices import InvoiceLineInput, invoice_draft_create, invoice_finalize, invoice_void
from billing.services.payments import payment_record, payment_record_bank_transfer
from billing.tests.factories import UserFactory
from billing_site.tests.helpers import jwt_client

pytestmark = pytest.mark.django_db
HISTORY = "/api/payment/history"


@pytest.fixture
def timeline(customer, other_customer, billing_staff_user):
    """Oldest first: invoice A, payment of A, invoice B (void), invoice C (open), and the intruder's own."""
    start = timezone.now() - timedelta(days=10)

    def issued(amount, day, owner=customer):
        draft = invoice_draft_create(customer=owner, lines=[InvoiceLineInput("Pro 플랜", amount)])
        return invoice_finalize(invoice=draft, now=start + timedelta(days=day))

    a = issued(10_000, 0)
    paid = payment_record_bank_transfer(invoice=a, amount=a.total, actor=billing_staff_user, reference="KB-A")
    Payment.objects.filter(pk=paid.pk).update(created_at=start + timedelta(days=1))
    b = invoice_void(invoice=issued(20_000, 2), actor=billing_staff_user)
    c = issued(30_000, 3)
    issued(40_000, 4, owner=other_customer)
    invoice_draft_create(customer=customer, lines=[InvoiceLineInput("draft", 1)])
    return {"a": a, "paid": paid, "b": b, "c": c}


def _kinds(body):
    return [(row["type"], row["id"]) for row in body["history"]]


def test_history_is_both_kinds_newest_first(customer_client, timeline):
    body = customer_client.get(HISTORY).json()
    t = timeline
    assert body["total"] == 4
    assert _kinds(body) == [
        ("invoice", t["c"].pk),
        ("invoice", t["b"].pk),
        ("payment", t["paid"].pk),
        ("invoice", t["a"].pk),
    ]
    latest = body["history"][0]
    assert (latest["amount_krw"], latest["amount"], latest["currency"], latest["status"]) == (
        33_000,
        33_000,
        "KRW",
        "open",
    )
    assert latest["urls"] == {"pdf": f"http://testserver/api/invoices/{t['c'].pk}/pdf", "stripe": None}
    payment = body["history"][2]
    assert (payment["amount_krw"], payment["status"], payment["invoice_id"]) == (11_000, "succeeded", t["a"].pk)
    assert payment["urls"] == {"pdf": None, "stripe": None}
    assert set(latest) == {"id", "type", "date", "amount_krw", "amount", "currency", "status", "invoice_id", "urls"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=payment", [("payment", "paid")]),
        ("type=invoice", [("invoice", "c"), ("invoice", "b"), ("invoice", "a")]),
        ("status=void", [("invoice", "b")]),
        ("status=succeeded", [("payment", "paid")]),
        ("status=paid&type=invoice", [("invoice", "a")]),
        ("status=refunded", []),
    ],
)
def test_history_filters(customer_client, timeline, query, expected):
    body = customer_client.get(f"{HISTORY}?{query}").json()
    assert _kinds(body) == [(kind, timeline[name].pk) for kind, name in expected]
    assert body["total"] == len(expected)


def test_history_pages(customer_client, timeline):
    page = customer_client.get(f"{HISTORY}/?limit=2&offset=1").json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert _kinds(page) == [("invoice", timeline["b"].pk), ("payment", timeline["paid"].pk)]
    beyond = customer_client.get(f"{HISTORY}?limit=2&offset=10").json()
    assert (beyond["total"], beyond["history"]) == (4, [])


@pytest.mark.parametrize(
    "query", ["status=draft", "status=bogus", "type=credit", "type=refunds", "type=", "status=", "limit=0", "offset=-1"]
)
def test_bad_filters_are_400(customer_client, query):
    assert customer_client.get(f"{HISTORY}?{query}").status_code == 400


def test_another_customers_history_is_invisible(other_customer_client, timeline):
    body = other_customer_client.get(HISTORY).json()
    assert body["total"] == 1
    assert body["history"][0]["amount_krw"] == 44_000


def test_a_user_without_billing_profile_has_empty_history(db):
    body = jwt_client(UserFactory(username="fresh")).get(HISTORY).json()
    assert (body["total"], body["history"]) == (0, [])


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_history_takes_at_most_four_queries_whatever_the_page_size(
    customer, customer_client, issue, django_assert_max_num_queries, limit
):
    for index in range(60):
        invoice = issue(1_000 + index)
        payment_record(invoice=invoice, amount=500, method="bank_transfer")
        payment_record(invoice=invoice, amount=500, method="other")
    with django_assert_max_num_queries(4):  # user (JWT) + customer + page + count
        body = customer_client.get(f"{HISTORY}?limit={limit}&offset=3").json()
    assert body["total"] == 180
    assert len(body["history"]) == limit
    dates = [row["date"] for row in body["history"]]
    assert dates == sorted(dates, reverse=True)


def test_anonymous_is_401():
    assert APIClient().get(HISTORY).status_code == 401
