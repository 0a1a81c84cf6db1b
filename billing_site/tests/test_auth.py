"""Registration, token pair, refresh rotation, logout blacklisting and expired tokens."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from conftest import DEFAULT_PASSWORD

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


def test_register_refuses_taken_username_and_email(api_client, customer):
    same_name = register(api_client, username=customer.username.upper())
    same_email = register(api_client, email=customer.email)

    assert (same_name.status_code, same_name.json()["error"]["code"]) == (409, "username_taken")
    assert (same_email.status_code, same_email.json()["error"]["code"]) == (409, "email_taken")


def test_register_validates_fields(api_client):
    response = api_client.post("/api/auth/register", {"username": "a b", "email": "nope"}, format="json")

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"username", "email", "password"}


def test_token_pair_for_good_credentials_and_401_for_bad(api_client, customer):
    good = api_client.post(
        "/api/auth/token", {"username": customer.username, "password": DEFAULT_PASSWORD}, format="json"
    )
    bad = api_client.post("/api/auth/token", {"username": customer.username, "password": "wrong"}, format="json")

    assert good.status_code == 200
    assert set(good.json()) == {"access", "refresh"}
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "no_active_account"


def test_refresh_rotates_and_the_old_refresh_token_is_dead(api_client, customer):
    pair = api_client.post(
        "/api/auth/token", {"username": customer.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()

    rotated = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    replay = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")

    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != pair["refresh"]
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_not_valid"


def test_logout_blacklists_the_refresh_token(api_client, customer):
    pair = api_client.post(
        "/api/auth/token", {"username": customer.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")

    logout = api_client.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")
    refresh = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")

    assert logout.status_code == 204
    assert refresh.status_code == 401
    assert refresh.json()["error"]["code"] == "token_not_valid"


def test_logout_refuses_another_users_refresh_token(customer_client, other_client, other_customer, api_client):
    pair = api_client.post(
        "/api/auth/token", {"username": other_customer.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()

    response = customer_client.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "token_not_valid"
    still_valid = api_client.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert still_valid.status_code == 200


def test_expired_access_token_is_401_in_the_error_shape(api_client, customer):
    token = AccessToken.for_user(customer)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=15))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api_client.post("/api/auth/logout", {"refresh": "x"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_access_token_lifetime_defaults_to_fifteen_minutes(customer):
    token = AccessToken.for_user(customer)

    assert token["exp"] - token["iat"] == 15 * 60
