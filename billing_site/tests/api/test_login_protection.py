"""Issue 10 finding 7: throttles key on the real client address, and failed logins lock the username (django-axes).

The address is the socket's unless NUM_PROXIES proxies of ours append to X-Forwarded-For; a client-chosen
header never gives a fresh throttle bucket. After AXES_FAILURE_LIMIT failures the username (and the address)
is locked on the API token endpoint and the admin login alike, until AXES_COOLOFF_TIME has passed.
"""

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.test.client import RequestFactory

from storage.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

FAILURE_LIMIT = 3


@pytest.fixture
def lockout(settings):
    settings.AXES_FAILURE_LIMIT = FAILURE_LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return settings


def token(client, username, password, address="203.0.113.10", **headers):
    return client.post(
        "/api/auth/token", {"username": username, "password": password}, format="json", REMOTE_ADDR=address, **headers
    )


def access_attempts():
    from axes.models import AccessAttempt  # imported here so that the other tests run without django-axes

    return AccessAttempt.objects


def backdate_attempts(delta):
    access_attempts().update(attempt_time=F("attempt_time") - delta)


def admin_login(username, password, address="203.0.113.10"):
    client = Client(REMOTE_ADDR=address)
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return client, response


# --- Client address and throttles ---------------------------------------------------------------------------


def test_rotating_x_forwarded_for_does_not_escape_the_auth_throttle(api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "3/min"}}

    statuses = [
        token(api_client, "x", "y", HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}").status_code for attempt in range(4)
    ]

    assert statuses == [401, 401, 401, 429]
    another_client = token(api_client, "x", "y", address="203.0.113.99")
    assert another_client.status_code == 401


def test_behind_one_proxy_the_client_is_what_our_proxy_appended(api_client, settings):
    settings.NUM_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "2/min"}}
    proxy = "10.0.0.5"

    def through_proxy(claimed, real):
        return token(api_client, "x", "y", address=proxy, HTTP_X_FORWARDED_FOR=f"{claimed}, {real}").status_code

    same_client = [through_proxy(f"198.51.100.{attempt}", "192.0.2.7") for attempt in range(3)]
    other_customer_client = through_proxy("198.51.100.1", "192.0.2.8")

    assert same_client == [401, 401, 429]
    assert other_customer_client == 401


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        (0, "198.51.100.1", "203.0.113.10"),  # no proxy: the header is the client's own claim
        (1, "198.51.100.1, 192.0.2.7", "192.0.2.7"),
        (2, "198.51.100.1, 192.0.2.7, 10.0.0.9", "192.0.2.7"),
        (2, "192.0.2.7", "192.0.2.7"),  # fewer hops than proxies: the leftmost, as DRF does
        (1, "198.51.100.1, not-an-address", "203.0.113.10"),  # our proxy wrote garbage: the socket address
        (1, None, "203.0.113.10"),
    ],
)
def test_client_address_counts_trusted_proxies_from_the_right(settings, num_proxies, forwarded_for, expected):
    settings.NUM_PROXIES = num_proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.10", **headers)
    from billing_site.api.throttling import client_address

    assert client_address(request) == expected


def test_drf_throttles_never_trust_the_whole_header(settings):
    """DRF's NUM_PROXIES None would key every DRF throttle on the client-chosen X-Forwarded-For."""
    from rest_framework.settings import api_settings

    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == settings.NUM_PROXIES == 0
    assert api_settings.NUM_PROXIES == 0


# --- Lockout on the API ----------------------------------------------------------------------------------------


def test_failed_logins_lock_the_username_on_the_api_from_any_address(api_client, customer_user, lockout):
    failures = [
        token(api_client, customer_user.username, "wrong", address=f"198.51.100.{attempt}").status_code
        for attempt in range(FAILURE_LIMIT - 1)
    ]
    locking = token(api_client, customer_user.username, "wrong", address="198.51.100.200")
    right_password = token(api_client, customer_user.username, DEFAULT_PASSWORD, address="192.0.2.50")

    assert failures == [401] * (FAILURE_LIMIT - 1)
    for response in (locking, right_password):
        assert response.status_code == 429
        error = response.json()["error"]
        assert error["code"] == "account_locked"
        assert error["fields"]["retry_after_seconds"] == 15 * 60
    assert "access" not in right_password.json()


def test_failed_logins_from_one_address_lock_that_address(api_client, customer_user, other_customer_user, lockout):
    """Password spraying: one address, a different username each time."""
    for attempt in range(FAILURE_LIMIT):
        token(api_client, f"someone{attempt}", "guess")

    same_address = token(api_client, other_customer_user.username, DEFAULT_PASSWORD)
    elsewhere = token(api_client, other_customer_user.username, DEFAULT_PASSWORD, address="192.0.2.50")

    assert same_address.status_code == 429
    assert same_address.json()["error"]["code"] == "account_locked"
    assert elsewhere.status_code == 200


def test_the_lock_ends_after_the_cool_off(api_client, customer_user, lockout):
    for attempt in range(FAILURE_LIMIT):
        token(api_client, customer_user.username, "wrong", address=f"198.51.100.{attempt}")
    assert token(api_client, customer_user.username, DEFAULT_PASSWORD).status_code == 429

    backdate_attempts(timedelta(minutes=15, seconds=1))
    after = token(api_client, customer_user.username, DEFAULT_PASSWORD)

    assert after.status_code == 200
    assert set(after.json()) == {"access", "refresh"}


def test_attempts_while_locked_do_not_extend_the_lock(api_client, customer_user, lockout):
    for attempt in range(FAILURE_LIMIT):
        token(api_client, customer_user.username, "wrong", address=f"198.51.100.{attempt}")
    backdate_attempts(timedelta(minutes=10))

    for _ in range(3):
        assert token(api_client, customer_user.username, "wrong", address="198.51.100.77").status_code == 429
    backdate_attempts(timedelta(minutes=5, seconds=1))

    assert token(api_client, customer_user.username, DEFAULT_PASSWORD).status_code == 200


def test_staff_unlock_a_username_with_the_axes_command(api_client, customer_user, lockout):
    from django.core.management import call_command

    for attempt in range(FAILURE_LIMIT):
        token(api_client, customer_user.username, "wrong", address=f"198.51.100.{attempt}")

    call_command("axes_reset_username", customer_user.username)

    assert token(api_client, customer_user.username, DEFAULT_PASSWORD, address="192.0.2.50").status_code == 200


def test_a_long_username_is_a_validation_error_not_a_stored_attempt(api_client):
    response = token(api_client, "u" * 300, "wrong")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["username"]
    assert not access_attempts().exists()


# --- Lockout on the admin login -----------------------------------------------------------------------------


def test_failed_logins_lock_the_username_on_the_admin(superuser, lockout):
    statuses = [
        admin_login(superuser.username, "wrong", address=f"198.51.100.{attempt}")[1].status_code
        for attempt in range(FAILURE_LIMIT)
    ]
    client, right_password = admin_login(superuser.username, DEFAULT_PASSWORD, address="192.0.2.50")

    assert statuses[: FAILURE_LIMIT - 1] == [200] * (FAILURE_LIMIT - 1)  # the form again, with its error
    assert statuses[-1] == 429
    assert right_password.status_code == 429
    assert int(right_password["Retry-After"]) == 15 * 60
    assert client.get("/admin/").status_code == 302  # not logged in: back to the login page


def test_admin_and_api_failures_count_together(api_client, superuser, lockout):
    for attempt in range(FAILURE_LIMIT - 1):
        admin_login(superuser.username, "wrong", address=f"198.51.100.{attempt}")

    through_api = token(api_client, superuser.username, "wrong", address="198.51.100.100")

    assert through_api.status_code == 429
    assert admin_login(superuser.username, DEFAULT_PASSWORD, address="192.0.2.50")[1].status_code == 429


def test_admin_login_works_again_after_the_cool_off(superuser, lockout):
    for attempt in range(FAILURE_LIMIT):
        admin_login(superuser.username, "wrong", address=f"198.51.100.{attempt}")

    backdate_attempts(timedelta(minutes=15, seconds=1))
    client, response = admin_login(superuser.username, DEFAULT_PASSWORD, address="192.0.2.50")

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_shared_cache_that_does_not_answer_lets_requests_through_unthrottled(api_client, settings, caplog):
    """Redis down (the throttle counters' cache) must not turn a login into a 500; the lockout still counts."""
    from billing_site.tests.helpers import dead_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{dead_port()}/1",
        }
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "1/min"}}

    statuses = [token(api_client, "x", "y").status_code for _ in range(2)]

    assert statuses == [401, 401]  # neither 500 nor 429: the counter could not be read
    assert "throttle auth not applied" in caplog.text
    assert access_attempts().get().failures_since_start == 2
