"""POST /api/payment/subscribe with `currency` (issue 17): hostile values, a currency fixed by the first
subscription, a race of two first subscribes in different currencies, and nobody choosing another's currency."""

from typing import Any

import pytest

from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing.tests.factories import CustomerFactory, SubscriptionPlanFactory
from billing.tests.helpers import run_concurrently
from billing_site.tests.helpers import jwt_client

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/api/payment/subscribe"
PROFILE = "/api/payment/customer"


@pytest.fixture
def priced() -> dict[str, SubscriptionPlan]:
    return {
        "basic": SubscriptionPlanFactory.create(
            slug="basic", monthly_price=29_000, prices={"USD": (2_900, 29_000), "EUR": (2_700, 27_000)}
        ),
        "pro": SubscriptionPlanFactory.create(
            slug="pro",
            monthly_price=99_000,
            prices={"USD": (7_900, 79_000), "EUR": (7_200, 72_000), "JPY": (8_900, 89_000)},
        ),
    }


@pytest.fixture
def buyer() -> Customer:
    return CustomerFactory.create(user__username="buyer")


def subscribe(client: Any, plan: str = "pro", **extra: Any) -> Any:
    return client.post(SUBSCRIBE, {"plan": plan, "billing_period": "monthly", **extra}, format="json")


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize(
    "currency",
    [
        pytest.param("usd", id="lower-case"),
        pytest.param("Usd", id="mixed-case"),
        pytest.param("", id="empty"),
        pytest.param(" USD", id="padded"),
        pytest.param("USD\n", id="newline"),
        pytest.param("US", id="short"),
        pytest.param("XXX", id="unknown"),
        pytest.param("KRW" * 10_000, id="huge"),
        pytest.param("\u0000SD", id="nul"),
        pytest.param("ＵＳＤ", id="full-width"),
        pytest.param(840, id="numeric-code"),
        pytest.param(None, id="null"),
        pytest.param(True, id="boolean"),
        pytest.param(["USD"], id="list"),
        pytest.param({"code": "USD"}, id="object"),
    ],
)
def test_a_malformed_currency_is_400_and_changes_nothing(buyer, priced, currency):
    error = error_of(subscribe(jwt_client(buyer.user), currency=currency), 400)

    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["currency"]
    assert not Subscription.objects.filter(customer=buyer).exists()
    buyer.refresh_from_db()
    assert buyer.currency == "KRW"


def test_the_first_subscribe_chooses_the_currency(buyer, priced):
    response = subscribe(jwt_client(buyer.user), currency="USD")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["currency"], body["amount"], body["amount_krw"]) == ("USD", 7_900, None)
    assert (body["subscription"]["currency"], body["invoice"]["currency"]) == ("USD", "USD")
    buyer.refresh_from_db()
    assert buyer.currency == "USD"


def test_a_currency_the_plan_is_not_sold_in_is_409(buyer, priced):
    client = jwt_client(buyer.user)

    error = error_of(subscribe(client, "basic", currency="JPY"), 409)

    assert error["code"] == "currency_mismatch"
    assert "JPY" in error["message"]
    assert not Subscription.objects.filter(customer=buyer).exists()
    assert subscribe(client, "pro", currency="JPY").status_code == 201


def test_switching_currency_after_the_first_subscription_is_409(buyer, priced):
    client = jwt_client(buyer.user)
    first = subscribe(client, "basic", currency="EUR").json()

    for body in ({"currency": "USD"}, {"currency": "KRW", "when": "now"}):
        error = error_of(subscribe(client, "pro", **body), 409)
        assert (error["code"], error["fields"]) == ("currency_mismatch", {"currency": ["Must be EUR."]})

    cancel = client.delete(f"/api/payment/subscriptions/{first['subscription_id']}?immediately=true")
    assert cancel.status_code == 200, cancel.content
    assert error_of(subscribe(client, "pro", currency="USD"), 409)["code"] == "currency_mismatch"  # still fixed
    again = subscribe(client, "pro")
    assert again.status_code == 201, again.content
    assert (again.json()["currency"], again.json()["amount"]) == ("EUR", 7_200)
    assert set(Subscription.objects.filter(customer=buyer).values_list("currency", flat=True)) == {"EUR"}


def test_nobody_chooses_another_customer_currency(buyer, priced):
    other = CustomerFactory.create(user__username="bystander")

    # Fields naming another customer are not part of the request: the caller's own profile is the one billed.
    response = subscribe(jwt_client(buyer.user), currency="USD", customer_id=other.pk, customer=other.pk)
    assert response.status_code == 201, response.content
    # The profile endpoint never takes a currency, the caller's or anyone's.
    refused = jwt_client(other.user).patch(PROFILE, {"currency": "JPY"}, format="json")
    assert error_of(refused, 400)["code"] == "unknown_field"

    other.refresh_from_db()
    buyer.refresh_from_db()
    assert (buyer.currency, other.currency) == ("USD", "KRW")
    assert not Subscription.objects.filter(customer=other).exists()
    # The bystander still chooses their own, later and independently.
    assert subscribe(jwt_client(other.user), "basic", currency="EUR").json()["currency"] == "EUR"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_first_subscribes_in_different_currencies_race_and_one_wins(postgresql, priced):
    customer = CustomerFactory.create(user__username="two-tabs")
    clients = [jwt_client(customer.user), jwt_client(customer.user)]
    currencies = ["USD", "EUR"]

    def click(index: int) -> tuple[int, dict[str, Any]]:
        response = subscribe(clients[index], "pro", currency=currencies[index])
        return response.status_code, response.json()

    results = run_concurrently(click, 2)

    assert sorted(status for status, _ in results) == [201, 409], results
    (winner,) = [currencies[index] for index, (status, _) in enumerate(results) if status == 201]
    (loser,) = [body["error"]["code"] for status, body in results if status == 409]
    assert loser == "currency_mismatch"
    customer.refresh_from_db()
    assert customer.currency == winner
    subscription = Subscription.objects.get(customer=customer)
    assert (subscription.currency, subscription.status) == (winner, "active")
    assert list(customer.invoices.values_list("currency", flat=True)) == [winner]


def test_won_amounts_for_an_account_billed_in_dollars_are_409_not_dollars(buyer, priced, settings):
    settings.BILLING_CUSTOMER_INVOICES = "any"
    client = jwt_client(buyer.user)
    assert subscribe(client, "basic", currency="USD").status_code == 201

    error = error_of(client.post("/api/payment/invoice", {"amount_krw": 50_000}, format="json"), 409)

    assert error["code"] == "currency_mismatch"
    assert set(Invoice.objects.filter(customer=buyer).values_list("currency", flat=True)) == {"USD"}
