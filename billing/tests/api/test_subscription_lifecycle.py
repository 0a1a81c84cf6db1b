"""The lifecycle endpoints: resume, pause, drop a pending change, seats (PATCH), the upcoming invoice, and subscribe's
`when` and `quantity` (trials, changes scheduled for the period end). Ownership and hostile input for each."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import Invoice
from billing.models.subscriptions import Subscription, SubscriptionPause
from billing.periods import billing_date
from billing.tests.factories import SubscriptionPlanFactory

pytestmark = pytest.mark.django_db


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


def today():
    return billing_date(timezone.now())


def subscribe(client, plan="pro", billing_period="monthly", **extra):
    return client.post(
        "/api/payment/subscribe", {"plan": plan, "billing_period": billing_period, **extra}, format="json"
    )


def url(subscription_id, tail=""):
    return f"/api/payment/subscriptions/{subscription_id}{tail}"


@pytest.fixture
def pro(customer_client, customer, plans):
    """The caller's active Pro subscription (monthly, ₩99,000), as the API answered it."""
    response = subscribe(customer_client)
    assert response.status_code == 201, response.content
    return response.json()["subscription"]


@pytest.fixture
def seats_plan(plans):
    """A per-seat plan without a trial: ₩10,000 a seat a month."""
    return SubscriptionPlanFactory(slug="seats", per_seat=True, monthly_price=10_000, annual_price=100_000)


def snapshot(subscription_id):
    subscription = Subscription.objects.get(pk=subscription_id)
    return (
        subscription.status,
        subscription.quantity,
        subscription.price_amount,
        subscription.cancel_at_period_end,
        subscription.pending_plan_id,
        subscription.pauses.count(),
        Invoice.objects.count(),
    )


# --- the subscription body ------------------------------------------------------------------------------


def test_a_subscription_shows_seats_trial_pending_change_and_pause(customer_client, pro):
    assert (pro["quantity"], pro["trial_start"], pro["trial_end"], pro["pending_change"], pro["pause"]) == (
        1,
        None,
        None,
        None,
        None,
    )
    listed = customer_client.get("/api/payment/subscriptions").json()["results"][0]
    assert listed == pro


@pytest.mark.parametrize("status", ["trialing", "paused"])
def test_the_list_filters_on_the_new_states(customer_client, pro, status):
    response = customer_client.get(f"/api/payment/subscriptions?status={status}")

    assert response.status_code == 200
    assert response.json()["total"] == 0


# --- subscribe: trials, scheduled changes, seats -----------------------------------------------------------


def test_subscribing_to_a_plan_with_a_trial_starts_it_without_an_invoice(customer_client, customer, plans):
    response = subscribe(customer_client, "team", quantity=3)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["invoice"], body["pdf_url"], body["pdf_url_expires_at"]) == (
        "trialing",
        None,
        None,
        None,
    )
    trial_end = (today() + timedelta(days=14)).isoformat()
    subscription = body["subscription"]
    assert (subscription["trial_start"], subscription["trial_end"]) == (today().isoformat(), trial_end)
    assert (subscription["quantity"], subscription["amount"], body["amount"]) == (3, 45_000, 45_000)
    assert body["next_billing_date"] == trial_end
    assert not Invoice.objects.filter(customer=customer).exists()


def test_a_downgrade_is_scheduled_for_the_period_end_and_answers_200(customer_client, customer, pro):
    response = subscribe(customer_client, "starter")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["subscription_id"], body["invoice"], body["pdf_url"], body["proration"]) == (
        pro["id"],
        None,
        None,
        None,
    )
    assert body["subscription"]["pending_change"] == {
        "plan": "starter",
        "billing_period": "monthly",
        "quantity": 1,
        "effective_date": pro["current_period_end"],
    }
    assert (body["subscription"]["plan"]["slug"], body["amount"]) == ("pro", 99_000)  # nothing changes until then
    assert Subscription.objects.filter(customer=customer).count() == 1
    assert Invoice.objects.filter(customer=customer).count() == 1  # Pro's first invoice only


def test_a_downgrade_when_now_replaces_the_subscription_at_once(customer_client, customer, pro):
    response = subscribe(customer_client, "starter", when="now")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["proration"]["replaced_subscription_id"] == pro["id"]
    assert body["invoice"]["status"] == "open" and body["subscription"]["pending_change"] is None


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"when": "later"}, 400, "validation_error"),
        ({"when": ""}, 400, "validation_error"),
        ({"quantity": "3"}, 400, "validation_error"),
        ({"quantity": 2.5}, 400, "validation_error"),
        ({"quantity": True}, 400, "validation_error"),
        ({"quantity": 0}, 400, "invalid_quantity"),
        ({"quantity": -4}, 400, "invalid_quantity"),
        ({"quantity": 10_001}, 400, "invalid_quantity"),
        ({"quantity": 10**30}, 400, "invalid_quantity"),
    ],
)
def test_subscribe_refuses_a_bad_when_or_quantity(customer_client, customer, plans, extra, status, code):
    error = error_of(subscribe(customer_client, "team", **extra), status, code)

    assert set(extra) <= set(error["fields"])
    assert not Subscription.objects.filter(customer=customer).exists()


def test_more_than_one_seat_of_a_plan_not_per_seat_is_400(customer_client, customer, plans):
    error_of(subscribe(customer_client, "pro", quantity=2), 400, "plan_not_per_seat")

    assert not Subscription.objects.filter(customer=customer).exists()


# --- resume -----------------------------------------------------------------------------------------------


def test_resume_undoes_a_cancel_at_period_end_then_has_nothing_to_resume(customer_client, pro):
    customer_client.delete(url(pro["id"]))

    response = customer_client.post(url(pro["id"], "/resume"), format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["cancel_at_period_end"], body["canceled_at"]) == ("active", False, None)
    assert body["next_billing_date"] == pro["current_period_end"]
    error_of(customer_client.post(url(pro["id"], "/resume/")), 409, "nothing_to_resume")


def test_resume_of_an_ended_subscription_is_409_subscription_ended(customer_client, pro):
    customer_client.delete(url(pro["id"]) + "?immediately=true")

    error_of(customer_client.post(url(pro["id"], "/resume")), 409, "subscription_ended")


def test_resume_replays_its_idempotency_key(customer_client, pro):
    customer_client.delete(url(pro["id"]))
    headers = {"Idempotency-Key": "resume-1"}

    first = customer_client.post(url(pro["id"], "/resume"), format="json", headers=headers)
    replay = customer_client.post(url(pro["id"], "/resume"), format="json", headers=headers)

    assert (first.status_code, replay.status_code) == (200, 200)  # not 409 nothing_to_resume: the first answer
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"


def test_resume_ends_a_pause(customer_client, pro):
    customer_client.post(url(pro["id"], "/pause"), {"resume_on": None}, format="json")

    response = customer_client.post(url(pro["id"], "/resume"))

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["pause"]) == ("active", None)
    assert SubscriptionPause.objects.get(subscription_id=pro["id"]).resumed_on == today()


# --- pause ------------------------------------------------------------------------------------------------


def test_pause_until_a_date(customer_client, pro):
    resume_on = today() + timedelta(days=30)

    response = customer_client.post(url(pro["id"], "/pause"), {"resume_on": resume_on.isoformat()}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["next_billing_date"]) == ("paused", None)
    assert body["pause"] == {"paused_on": today().isoformat(), "resume_on": resume_on.isoformat()}
    listed = customer_client.get("/api/payment/subscriptions?status=paused").json()
    assert listed["results"] == [body]
    error_of(customer_client.post(url(pro["id"], "/pause"), {}, format="json"), 409, "already_paused")


def test_pause_without_a_date_lasts_the_longest_pause_a_customer_may_take(customer_client, pro):
    response = customer_client.post(url(pro["id"], "/pause"), {}, format="json")

    assert response.status_code == 200, response.content
    limit = today() + timedelta(days=settings.BILLING_PAUSE_MAX_DAYS)
    assert response.json()["pause"]["resume_on"] == limit.isoformat()


def test_a_trial_cannot_be_paused(customer_client, customer, plans):
    trial = subscribe(customer_client, "team").json()["subscription"]

    error_of(customer_client.post(url(trial["id"], "/pause"), {}, format="json"), 409, "subscription_not_pausable")


@pytest.mark.parametrize(
    ("resume_on", "code"),
    [
        ("tomorrow", "validation_error"),
        ("2025-13-01", "validation_error"),
        (20250101, "validation_error"),
        ("", "validation_error"),
        (["2030-01-01"], "validation_error"),
        ("today", "validation_error"),
        (0, "validation_error"),
    ],
)
def test_pause_refuses_a_resume_on_that_is_no_date(customer_client, pro, resume_on, code):
    before = snapshot(pro["id"])

    error = error_of(customer_client.post(url(pro["id"], "/pause"), {"resume_on": resume_on}, format="json"), 400, code)

    assert "resume_on" in error["fields"]
    assert snapshot(pro["id"]) == before


@pytest.mark.parametrize("days", [0, -1, 91, 3650])
def test_pause_refuses_a_resume_on_out_of_range(customer_client, pro, days):
    resume_on = (today() + timedelta(days=days)).isoformat()

    error_of(
        customer_client.post(url(pro["id"], "/pause"), {"resume_on": resume_on}, format="json"),
        400,
        "invalid_resume_on",
    )

    assert Subscription.objects.get(pk=pro["id"]).status == "active"


# --- drop a pending change -----------------------------------------------------------------------------


def test_delete_pending_change_drops_it_and_is_idempotent(customer_client, pro):
    subscribe(customer_client, "starter", when="period_end")

    first = customer_client.delete(url(pro["id"], "/pending-change"))
    second = customer_client.delete(url(pro["id"], "/pending-change/"))

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["pending_change"] is None and first.json()["plan"]["slug"] == "pro"
    assert second.json() == first.json()
    assert Subscription.objects.get(pk=pro["id"]).pending_plan_id is None


# --- seats (PATCH) --------------------------------------------------------------------------------------


@pytest.fixture
def seated(customer_client, customer, seats_plan):
    """The caller's active per-seat subscription: 3 seats of ₩10,000, started today."""
    response = subscribe(customer_client, "seats", quantity=3)
    assert response.status_code == 201, response.content
    return response.json()["subscription"]


def test_more_seats_now_with_a_prorated_invoice(customer_client, seated):
    response = customer_client.patch(url(seated["id"]), {"quantity": 5}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"subscription", "invoice"}
    assert (body["subscription"]["quantity"], body["subscription"]["amount"]) == (5, 50_000)
    invoice = body["invoice"]
    # Started today: the 2 added seats pay the whole period, 2 x 10,000, plus VAT.
    assert (invoice["status"], invoice["subtotal"], invoice["total"]) == ("open", 20_000, 22_000)
    assert invoice["number"] and invoice["urls"]["pdf"].endswith(f"/api/invoices/{invoice['id']}/pdf")


def test_fewer_seats_at_the_period_end_and_the_same_number_changes_nothing(customer_client, seated):
    invoices = Invoice.objects.count()

    fewer = customer_client.patch(url(seated["id"]), {"quantity": 2}, format="json")
    same = customer_client.patch(url(seated["id"]), {"quantity": 3}, format="json")

    assert fewer.status_code == 200, fewer.content
    assert fewer.json()["invoice"] is None
    subscription = fewer.json()["subscription"]
    assert (subscription["quantity"], subscription["amount"]) == (3, 30_000)  # the seats paid for, until then
    assert subscription["pending_change"] == {
        "plan": "seats",
        "billing_period": "monthly",
        "quantity": 2,
        "effective_date": seated["current_period_end"],
    }
    # Back to the seats it has: the pending decrease is dropped.
    assert same.status_code == 200 and same.json()["invoice"] is None
    assert (same.json()["subscription"]["quantity"], same.json()["subscription"]["pending_change"]) == (3, None)
    assert Invoice.objects.count() == invoices


def test_seats_of_a_trial_change_at_once_and_bill_nothing(customer_client, customer, plans):
    trial = subscribe(customer_client, "team").json()["subscription"]

    response = customer_client.patch(url(trial["id"]), {"quantity": 4}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["subscription"]["quantity"], response.json()["invoice"]) == (4, None)
    assert response.json()["subscription"]["status"] == "trialing"
    assert not Invoice.objects.filter(customer=customer).exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"quantity": 0}, "invalid_quantity"),
        ({"quantity": -1}, "invalid_quantity"),
        ({"quantity": 10_001}, "invalid_quantity"),
        ({"quantity": 2**63}, "invalid_quantity"),
        ({"quantity": "4"}, "validation_error"),
        ({"quantity": 4.0}, "validation_error"),
        ({"quantity": True}, "validation_error"),
        ({"quantity": None}, "validation_error"),
        ({"quantity": [4]}, "validation_error"),
        ({}, "validation_error"),
        ({"quantity": 4, "plan": "pro"}, "unknown_field"),
        ({"status": "active"}, "unknown_field"),
        ([{"quantity": 4}], "validation_error"),
        ("4", "validation_error"),
    ],
)
def test_patch_refuses_hostile_bodies_and_changes_nothing(customer_client, seated, body, code):
    before = snapshot(seated["id"])

    error_of(customer_client.patch(url(seated["id"]), body, format="json"), 400, code)

    assert snapshot(seated["id"]) == before


def test_patch_of_a_plan_not_per_seat_and_of_an_ended_subscription(customer_client, pro):
    error_of(customer_client.patch(url(pro["id"]), {"quantity": 2}, format="json"), 400, "plan_not_per_seat")
    customer_client.delete(url(pro["id"]) + "?immediately=true")

    error_of(customer_client.patch(url(pro["id"]), {"quantity": 1}, format="json"), 409, "subscription_not_active")


# --- JSON only, ownership, unknown fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "tail", "body"),
    [
        ("post", "/resume", {"resume_on": "2030-01-01"}),
        ("post", "/pause", {"resume_on": None, "until": "forever"}),
        ("delete", "/pending-change", {"plan": "pro"}),
        ("patch", "", {"quantity": 2, "price": 0}),
    ],
)
def test_unknown_fields_are_400_unknown_field(customer_client, pro, method, tail, body):
    before = snapshot(pro["id"])

    error = error_of(getattr(customer_client, method)(url(pro["id"], tail), body, format="json"), 400, "unknown_field")

    assert all(message == ["Unknown field."] for message in error["fields"].values())
    assert snapshot(pro["id"]) == before


@pytest.mark.parametrize(
    ("method", "tail", "body"),
    [
        ("post", "/resume", {"x": "1"}),
        ("post", "/pause", {"resume_on": "2030-01-01"}),
        ("delete", "/pending-change", {"x": "1"}),
        ("patch", "", {"quantity": "2"}),
    ],
)
def test_form_bodies_are_415(customer_client, pro, method, tail, body):
    before = snapshot(pro["id"])

    response = getattr(customer_client, method)(url(pro["id"], tail), body, format="multipart")

    error_of(response, 415, "unsupported_media_type")
    assert snapshot(pro["id"]) == before


def test_a_body_that_is_no_json_object_is_400(customer_client, pro):
    response = customer_client.post(url(pro["id"], "/pause"), "[]", content_type="application/json")
    broken = customer_client.post(url(pro["id"], "/pause"), "{", content_type="application/json")

    error_of(response, 400, "validation_error")
    error_of(broken, 400, "parse_error")


@pytest.mark.parametrize(
    ("method", "tail", "body"),
    [
        ("post", "/resume", None),
        ("post", "/pause", {"resume_on": None}),
        ("delete", "/pending-change", None),
        ("patch", "", {"quantity": 1}),
        ("get", "/upcoming", None),
        ("get", "/upcoming?plan=enterprise", None),
    ],
)
def test_another_customers_subscription_is_404_and_untouched(
    customer_client, pro, other_customer_client, other_customer, method, tail, body
):
    subscribe(customer_client, "starter", when="period_end")  # something to drop
    before = snapshot(pro["id"])
    kwargs = {"format": "json"} if body is not None else {}

    error_of(getattr(other_customer_client, method)(url(pro["id"], tail), body, **kwargs), 404, "not_found")

    assert snapshot(pro["id"]) == before
    error_of(getattr(customer_client, method)(url(999_999_999, tail), body, **kwargs), 404, "not_found")


def test_an_id_of_more_than_18_digits_is_404(customer_client, pro):
    assert customer_client.post(url("1" * 19, "/resume")).status_code == 404


@pytest.mark.parametrize("tail", ["/resume", "/pause"])
def test_the_lifecycle_needs_a_login(api_client, pro, tail):
    error_of(api_client.post(url(pro["id"], tail), {}, format="json"), 401, "not_authenticated")


# --- the upcoming invoice ---------------------------------------------------------------------------------


def test_upcoming_is_the_renewal_invoice_and_writes_nothing(customer_client, pro):
    before = snapshot(pro["id"])

    response = customer_client.get(url(pro["id"], "/upcoming"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["date"], body["proration"], body["currency"]) == (pro["current_period_end"], False, "KRW")
    assert (body["subtotal"], body["tax"], body["total"], body["total_krw"]) == (99_000, 9_900, 108_900, 108_900)
    assert [line["amount"] for line in body["lines"]] == [99_000]
    assert snapshot(pro["id"]) == before


def test_upcoming_of_a_change_now_is_prorated_and_writes_nothing(customer_client, pro):
    before = snapshot(pro["id"])

    response = customer_client.get(url(pro["id"], "/upcoming?plan=enterprise&billing_period=monthly&when=now"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["date"], body["proration"]) == (today().isoformat(), True)
    assert body["total"] == sum(line["amount"] for line in body["lines"]) + body["tax"]
    assert snapshot(pro["id"]) == before
    assert Subscription.objects.get(pk=pro["id"]).plan.slug == "pro"


def test_upcoming_of_a_trial_is_its_first_invoice(customer_client, customer, plans):
    trial = subscribe(customer_client, "team", quantity=2).json()["subscription"]

    body = customer_client.get(url(trial["id"], "/upcoming")).json()

    assert (body["date"], body["subtotal"], body["total"]) == (trial["trial_end"], 30_000, 33_000)


def test_no_upcoming_invoice_when_the_subscription_ends_at_its_period_end(customer_client, pro):
    customer_client.delete(url(pro["id"]))

    error_of(customer_client.get(url(pro["id"], "/upcoming")), 409, "no_upcoming_invoice")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("plan=", "validation_error"),
        ("plan=../../etc", "validation_error"),
        ("plan=platinum", "plan_not_available"),
        ("billing_period=weekly", "validation_error"),
        ("quantity=abc", "validation_error"),
        ("quantity=", "validation_error"),
        ("quantity=1.5", "validation_error"),
        ("when=someday", "validation_error"),
    ],
)
def test_upcoming_refuses_a_bad_query(customer_client, pro, query, code):
    error_of(customer_client.get(url(pro["id"], f"/upcoming?{query}")), 400, code)


@pytest.mark.parametrize("quantity", ["0", "-3", "10001", "99999999999999999999999"])
def test_upcoming_refuses_a_quantity_out_of_range(customer_client, customer, seats_plan, quantity):
    seated = subscribe(customer_client, "seats").json()["subscription"]

    error_of(customer_client.get(url(seated["id"], f"/upcoming?quantity={quantity}")), 400, "invalid_quantity")


def test_the_schema_documents_the_lifecycle_endpoints(api_client):
    paths = api_client.get("/api/schema?format=json").json()["paths"]

    subscription = "/api/payment/subscriptions/{subscription_id}"
    assert "nothing_to_resume" in paths[f"{subscription}/resume"]["post"]["responses"]["409"]["description"]
    assert "invalid_resume_on" in paths[f"{subscription}/pause"]["post"]["responses"]["400"]["description"]
    assert "200" in paths[f"{subscription}/pending-change"]["delete"]["responses"]
    assert "invalid_quantity" in paths[subscription]["patch"]["responses"]["400"]["description"]
    patch_body = paths[subscription]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch_body["required"] == ["quantity"]
    assert "no_upcoming_invoice" in paths[f"{subscription}/upcoming"]["get"]["responses"]["409"]["description"]
    assert set(paths["/api/payment/subscribe"]["post"]["responses"]) >= {"200", "201"}
