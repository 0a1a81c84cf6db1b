"""API conventions: trailing slashes, the one error shape for every status, paging and throttling."""

import re

import pytest
from django.test import Client

from storage.tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("billing_site.tests.urls")]


def assert_error_shape(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/register/"])
def test_post_answers_with_and_without_trailing_slash_without_redirect(api_client, path):
    response = api_client.post(
        path, {"username": "slashy", "email": "s@example.com", "password": "Seoul-Tiger-2026!"}, format="json"
    )

    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/api/test/users", "/api/test/users/", "/healthz", "/healthz/"])
def test_get_answers_with_and_without_trailing_slash(customer_client, path):
    assert customer_client.get(path).status_code == 200


def test_400_validation_error_lists_fields(api_client):
    error = assert_error_shape(api_client.post("/api/auth/token", {}, format="json"), 400, "validation_error")

    assert set(error["fields"]) == {"username", "password"}


def test_400_on_malformed_json(api_client):
    response = api_client.generic("POST", "/api/auth/token", "{not json", content_type="application/json")

    assert_error_shape(response, 400, "parse_error")


def test_400_on_json_nested_too_deeply_to_parse(api_client):
    """100,000 nested arrays (200 KB) would raise RecursionError inside json.load: a 400, never a 500."""
    body = "[" * 100_000 + "]" * 100_000
    response = api_client.generic("POST", "/api/auth/token", body, content_type="application/json")

    assert_error_shape(response, 400, "parse_error")


def test_401_without_credentials(api_client):
    assert_error_shape(api_client.get("/api/test/users"), 401, "not_authenticated")


def test_401_with_garbage_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    assert_error_shape(api_client.get("/api/test/users"), 401, "token_not_valid")


def test_403_for_a_customer_on_a_staff_endpoint(customer_client, superuser_client):
    assert_error_shape(customer_client.get("/api/test/staff-only"), 403, "permission_denied")
    assert superuser_client.get("/api/test/staff-only").status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/nothing-here", "/api/auth/nope/", "/api/test/users/extra", "/healthz/nothing-here"]
)
def test_404_for_unknown_api_paths(customer_client, path):
    assert_error_shape(customer_client.get(path), 404, "not_found")


def test_405_for_a_wrong_method(api_client):
    assert_error_shape(api_client.get("/api/auth/token"), 405, "method_not_allowed")


def test_429_after_the_auth_rate_with_retry_after(api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "3/min"}}
    statuses = [
        api_client.post("/api/auth/token", {"username": "x", "password": "y"}, format="json").status_code
        for _ in range(3)
    ]
    throttled = api_client.post("/api/auth/token", {"username": "x", "password": "y"}, format="json")

    assert statuses == [401, 401, 401]
    error = assert_error_shape(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0
    assert error["fields"]["retry_after_seconds"] > 0


def test_500_is_json_without_traceback_or_paths(customer_user):
    client = Client(raise_request_exception=False)
    client.force_login(customer_user)

    response = client.get("/api/test/boom")

    error = assert_error_shape(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert "/" not in error["message"]


def test_pagination_defaults_caps_and_total(customer_client):
    UserFactory.create_batch(129)  # 130 users with the customer

    first = customer_client.get("/api/test/users").json()
    capped = customer_client.get("/api/test/users?limit=500&offset=100").json()

    assert (first["total"], first["limit"], first["offset"], len(first["results"])) == (130, 20, 0, 20)
    assert (capped["limit"], capped["offset"], len(capped["results"])) == (100, 100, 30)
    assert customer_client.get("/api/test/users?offset=1000").json()["results"] == []


@pytest.mark.parametrize("query", ["limit=abc", "limit=-1", "limit=0", "limit=", "offset=-5", "offset=1.5"])
def test_pagination_refuses_garbage(customer_client, query):
    error = assert_error_shape(customer_client.get(f"/api/test/users?{query}"), 400, "invalid_pagination")

    assert error["fields"]


def test_schema_documents_paths_without_trailing_slash_and_errors(api_client):
    response = api_client.get("/api/schema?format=json")

    schema = response.json()
    assert response.status_code == 200
    assert schema["openapi"].startswith("3.")
    assert "/api/auth/register" in schema["paths"]
    assert not [path for path in schema["paths"] if path.endswith("/")]
    register = schema["paths"]["/api/auth/register"]["post"]["responses"]
    assert {"201", "400", "409", "429"} <= set(register)
    assert "weak_password" in register["400"]["description"]
    assert "Error" in schema["components"]["schemas"]


def test_swagger_ui_is_served_from_local_assets(api_client):
    html = api_client.get("/api/docs").content.decode()

    assert "swagger-ui" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    # No asset from another host. (A bare "cdn" substring test was flaky: the page embeds a random CSRF token.)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"cdn[\w-]*\.|jsdelivr|unpkg|cdnjs", html, re.IGNORECASE)
