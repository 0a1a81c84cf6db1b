"""GET /api/payment/balance: the caller's credit balance per currency and its ledger, newest entry first."""

import pytest

from billing.models import CustomerBalanceEntry
from billing.services.balance import balance_adjust

from ..factories import CustomerFactory

pytestmark = pytest.mark.django_db

PATH = "/api/payment/balance"


def _adjust(customer, amounts, actor):
    for amount in amounts:
        balance_adjust(customer=customer, amount=amount, reason=f"보정 {amount}", actor=actor)


def test_without_a_billing_profile_there_is_nothing(customer_user, customer_client):
    response = customer_client.get(PATH)
    assert response.status_code == 200, response.content
    assert response.json() == {"balances": [], "total": 0, "limit": 20, "offset": 0, "entries": []}


def test_a_new_customer_has_a_zero_balance_in_their_currency(customer, customer_client):
    body = customer_client.get(PATH).json()
    assert body["balances"] == [{"currency": "KRW", "balance": 0}]
    assert (body["total"], body["entries"]) == (0, [])


def test_the_balance_and_its_entries_newest_first(customer, customer_client, billing_staff_user):
    _adjust(customer, [10_000, -3_000, 500], billing_staff_user)
    response = customer_client.get(PATH + "/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["balances"] == [{"currency": "KRW", "balance": 7_500}]
    assert body["total"] == 3
    assert [(e["kind"], e["amount"], e["balance_after"], e["reason"]) for e in body["entries"]] == [
        ("adjustment", 500, 7_500, "보정 500"),
        ("adjustment", -3_000, 7_000, "보정 -3000"),
        ("adjustment", 10_000, 10_000, "보정 10000"),
    ]
    newest = body["entries"][0]
    assert set(newest) == {
        "id",
        "date",
        "kind",
        "amount",
        "currency",
        "balance_after",
        "reason",
        "invoice_id",
        "credit_note_id",
    }
    assert (newest["currency"], newest["invoice_id"], newest["credit_note_id"]) == ("KRW", None, None)
    assert newest["id"] == CustomerBalanceEntry.objects.filter(customer=customer).order_by("-id").first().pk


def test_an_opening_balance_is_its_first_entry(customer_user, customer_client):
    CustomerFactory.create(user=customer_user, credit_balance=12_000)
    body = customer_client.get(PATH).json()
    assert body["balances"] == [{"currency": "KRW", "balance": 12_000}]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in body["entries"]] == [("opening", 12_000, 12_000)]


def test_paged_like_the_payment_history(customer, customer_client, billing_staff_user):
    _adjust(customer, [1, 2, 3, 4, 5], billing_staff_user)
    body = customer_client.get(PATH, {"limit": 2, "offset": 1}).json()
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 1)
    assert [e["amount"] for e in body["entries"]] == [4, 3]
    # Past the end: an empty page that still counts everything; the balances do not depend on the page.
    beyond = customer_client.get(PATH, {"offset": 50}).json()
    assert (beyond["total"], beyond["entries"], beyond["balances"]) == (5, [], [{"currency": "KRW", "balance": 15}])
    capped = customer_client.get(PATH, {"limit": 1000}).json()
    assert (capped["limit"], len(capped["entries"])) == (100, 5)


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": -1}, {"limit": "ten"}, {"offset": -5}, {"offset": "1.5"}, {"limit": ""}]
)
def test_bad_paging_is_refused(customer, customer_client, query):
    response = customer_client.get(PATH, query)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_pagination")


def test_another_customers_ledger_is_never_shown(customer, other_customer, other_customer_client, billing_staff_user):
    _adjust(customer, [50_000], billing_staff_user)
    body = other_customer_client.get(PATH).json()
    assert body["balances"] == [{"currency": "KRW", "balance": 0}]
    assert (body["total"], body["entries"]) == (0, [])


def test_anonymous_is_401(api_client):
    response = api_client.get(PATH)
    assert response.status_code == 401


def test_staff_see_their_own_balance_only(customer, support_client, billing_staff_user):
    _adjust(customer, [50_000], billing_staff_user)
    body = support_client.get(PATH).json()
    assert (body["balances"], body["total"]) == ([], 0)


def test_entries_in_another_currency_have_their_own_balance(customer, customer_client, billing_staff_user):
    # The customer was billed in USD once, then moved to KRW: each currency keeps its own sum.
    customer.currency = "USD"
    customer.save(update_fields=["currency"])
    _adjust(customer, [2_500], billing_staff_user)
    _adjust(customer, [-2_500], billing_staff_user)
    customer.currency = "KRW"
    customer.save(update_fields=["currency"])
    _adjust(customer, [9_000], billing_staff_user)
    body = customer_client.get(PATH).json()
    assert body["balances"] == [{"currency": "KRW", "balance": 9_000}, {"currency": "USD", "balance": 0}]
    assert [(e["currency"], e["amount"]) for e in body["entries"]] == [("KRW", 9_000), ("USD", -2_500), ("USD", 2_500)]


@pytest.mark.parametrize("entries", [1, 30])
def test_queries_do_not_grow_with_the_page(
    customer, customer_client, billing_staff_user, django_assert_max_num_queries, entries
):
    _adjust(customer, [100] * entries, billing_staff_user)
    # user (JWT), customer, one page of entries, their count, the sums per currency
    with django_assert_max_num_queries(5):
        response = customer_client.get(PATH, {"limit": 20})
    assert len(response.json()["entries"]) == min(entries, 20)
