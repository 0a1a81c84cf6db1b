"""Registration, token pair, refresh rotation, password change, logout blacklisting and expired tokens."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from storage.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"username": "newbie", "email": "newbie@example.com", "password": "Seoul-Tiger-2026!"} | overrides
    return client.post("/api/auth/register", body, format="json")


def test_register_creates_user_and_returns_working_tokens(api_client):
    response = register(api_client)

    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "newbie"
    assert body["user"]["email"] == "newbie@example.com"
    user = get_user_model().objects.get(username="newbie")
    assert user.check_password("Seoul-Tiger-2026!")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['tokens']['access']}")
    logout = api_client.post("/api/auth/logout", {"refresh": body["tokens"]["refresh"]}, format="json")
    assert logout.status_code == 204


@pytest.mark.parametrize(
    ("password", "code"),
    [("short", "weak_password"), ("12345678901", "weak_password"), ("password123", "weak_password")],
)
def test_register_applies_django_password_validators(api_client, password, code):
    response = register(api_client, password=password)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["fields"]["password"]
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_register_refuses_a_taken_username(api_client, customer_user):
    same_name = register(api_client, username=customer_user.username.upper())

    assert (same_name.status_code, same_name.json()["error"]["code"]) == (409, "username_taken")


def test_register_does_not_reveal_whether_an_email_is_registered(api_client, customer_user):
    """Issue 10 finding 12: a taken address answers exactly like a new one, and is not attached a second time."""
    taken = register(api_client, username="newbie", email=customer_user.email.upper())
    fresh = register(api_client, username="freshie", email="freshie@example.com")

    assert (taken.status_code, fresh.status_code) == (201, 201)
    assert taken.json()["user"]["email"] == customer_user.email.upper()
    assert set(taken.json()) == set(fresh.json()) == {"user", "tokens"}
    assert set(taken.json()["user"]) == set(fresh.json()["user"])
    assert set(taken.json()["tokens"]) == set(fresh.json()["tokens"])
    users = get_user_model().objects
    assert users.filter(email__iexact=customer_user.email).count() == 1
    assert users.get(username="newbie").email == ""
    assert users.get(username="freshie").email == "freshie@example.com"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {taken.json()['tokens']['access']}")
    assert (
        api_client.post("/api/auth/logout", {"refresh": taken.json()["tokens"]["refresh"]}, format="json").status_code
        == 204
    )


def test_register_validates_fields(api_client):
    response = api_client.post("/api/auth/register", {"username": "a b", "email": "nope"}, format="json")

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"username", "email", "password"}


def test_token_pair_for_good_credentials_and_401_for_bad(api_client, customer_user):
    good = api_client.post(
        "/api/auth/token", {"username": customer_user.username, "password": DEFAULT_PASSWORD}, format="json"
    )
    bad = api_client.post("/api/auth/token", {"username": customer_user.username, "password": "wrong"}, format="json")

    assert good.status_code == 200
    assert set(good.json()) == {"access", "refresh"}
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "no_active_account"


def test_refresh_rotates_and_the_old_refresh_token_is_dead(api_client, customer_user):
    pair = api_client.post(
        "/api/auth/token", {"username": customer_user.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()

    rotated = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    replay = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")

    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != pair["refresh"]
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_not_valid"


def test_logout_blacklists_the_refresh_token(api_client, customer_user):
    pair = api_client.post(
        "/api/auth/token", {"username": customer_user.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")

    logout = api_client.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")
    refresh = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")

    assert logout.status_code == 204
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "token_not_valid"


def test_logout_refuses_another_users_refresh_token(
    customer_client, other_customer_client, other_customer_user, api_client
):
    pair = api_client.post(
        "/api/auth/token", {"username": other_customer_user.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()

    response = customer_client.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_not_valid"
    still_valid = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert still_valid.status_code == 200


def test_expired_access_token_is_401_in_the_error_shape(api_client, customer_user):
    token = AccessToken.for_user(customer_user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=15))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api_client.post("/api/auth/logout", {"refresh": "x"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_access_token_lifetime_defaults_to_fifteen_minutes(customer_user):
    token = AccessToken.for_user(customer_user)

    assert token["exp"] - token["iat"] == 15 * 60


# --- Issue 10 finding 12: password change revokes every token; refresh of a gone user is 401 -------------------


def obtain_pair(client, user, password=DEFAULT_PASSWORD):
    response = client.post("/api/auth/token", {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def change_password(client, access, old, new):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.post("/api/auth/password", {"old_password": old, "new_password": new}, format="json")


def test_password_change_revokes_every_refresh_and_access_token(api_client, customer_user):
    laptop = obtain_pair(APIClient(), customer_user)
    phone = obtain_pair(APIClient(), customer_user)
    rotated_on_phone = APIClient().post("/api/auth/token/refresh", {"refresh": phone["refresh"]}, format="json")

    changed = change_password(api_client, laptop["access"], DEFAULT_PASSWORD, "Busan-Harbour-2027!")

    assert changed.status_code == 200
    assert set(changed.json()) == {"access", "refresh"}
    customer_user.refresh_from_db()
    assert customer_user.check_password("Busan-Harbour-2027!")
    for refresh in (laptop["refresh"], rotated_on_phone.json()["refresh"]):
        response = APIClient().post("/api/auth/token/refresh", {"refresh": refresh}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (401, "token_not_valid")
    assert (
        OutstandingToken.objects.filter(user=customer_user, blacklistedtoken__isnull=True).count() == 1
    )  # the new one
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {laptop['access']}")
    stale_response = stale.post("/api/auth/logout", {"refresh": "x"}, format="json")
    assert (stale_response.status_code, stale_response.json()["error"]["code"]) == (401, "password_changed")
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {changed.json()['access']}")
    assert fresh.post("/api/auth/logout", {"refresh": changed.json()["refresh"]}, format="json").status_code == 204
    assert obtain_pair(APIClient(), customer_user, "Busan-Harbour-2027!")["access"]


def test_a_refresh_token_not_in_the_outstanding_list_dies_with_the_password_too(api_client, customer_user):
    """A rotation racing the change stores its new token after the blacklisting; the password hash claim ends it."""
    pair = obtain_pair(APIClient(), customer_user)
    late = RefreshToken.for_user(customer_user)
    OutstandingToken.objects.filter(jti=late["jti"]).delete()

    change_password(api_client, pair["access"], DEFAULT_PASSWORD, "Busan-Harbour-2027!")
    response = APIClient().post("/api/auth/token/refresh", {"refresh": str(late)}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "password_changed")


def test_password_change_refuses_a_wrong_old_password_and_counts_it_as_a_failed_login(
    api_client, customer_user, settings
):
    settings.AXES_FAILURE_LIMIT = 2
    pair = obtain_pair(APIClient(), customer_user)

    wrong = change_password(api_client, pair["access"], "not-my-password", "Busan-Harbour-2027!")
    locked = change_password(api_client, pair["access"], "still-not-it", "Busan-Harbour-2027!")
    right_but_locked = change_password(api_client, pair["access"], DEFAULT_PASSWORD, "Busan-Harbour-2027!")

    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "wrong_password")
    assert wrong.json()["error"]["fields"]["old_password"]
    assert (locked.status_code, locked.json()["error"]["code"]) == (429, "account_locked")
    assert (right_but_locked.status_code, right_but_locked.json()["error"]["code"]) == (429, "account_locked")
    customer_user.refresh_from_db()
    assert customer_user.check_password(DEFAULT_PASSWORD)
    assert APIClient().post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize("new_password", ["short", "12345678901", "password123"])
def test_password_change_applies_the_validators(api_client, customer_user, new_password):
    pair = obtain_pair(APIClient(), customer_user)

    response = change_password(api_client, pair["access"], DEFAULT_PASSWORD, new_password)

    assert (response.status_code, response.json()["error"]["code"]) == (400, "weak_password")
    assert response.json()["error"]["fields"]["new_password"]
    customer_user.refresh_from_db()
    assert customer_user.check_password(DEFAULT_PASSWORD)


def test_password_change_needs_authentication(api_client):
    response = api_client.post("/api/auth/password", {"old_password": "a", "new_password": "b"}, format="json")

    assert response.status_code == 401


def test_refresh_for_a_deleted_user_is_401(api_client, customer_user):
    pair = obtain_pair(api_client, customer_user)
    customer_user.delete()

    response = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "no_active_account")


def test_refresh_for_an_inactive_user_is_401(api_client, customer_user):
    pair = obtain_pair(api_client, customer_user)
    customer_user.is_active = False
    customer_user.save(update_fields=["is_active"])

    response = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (401, "no_active_account")


def test_password_change_keeps_this_browser_session_and_ends_the_others(customer_user):
    this_browser, other_browser = APIClient(), APIClient()
    this_browser.force_login(customer_user)
    other_browser.force_login(customer_user)

    response = this_browser.post(
        "/api/auth/password",
        {"old_password": DEFAULT_PASSWORD, "new_password": "Busan-Harbour-2027!"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert this_browser.get("/api/files").status_code == 200
    assert other_browser.get("/api/files").status_code in (401, 403)
