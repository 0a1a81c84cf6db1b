"""Password reset: one answer for every address, one email per window, a link that works once and ends sessions."""

import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from billing_site.auth import services
from billing_site.mail.models import Email, EmailStatus
from storage.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Jeju-Tangerine-2027!"
LINK = re.compile(r"https?://[^\s\"'<>]+reset-password\?[^\s\"'<>]+")


def reset_request(client, email, **extra):
    return client.post("/api/auth/password/reset", {"email": email}, format="json", **extra)


def reset_confirm(client, uid, token, new_password=NEW_PASSWORD):
    body = {"uid": uid, "token": token, "new_password": new_password}
    return client.post("/api/auth/password/reset/confirm", body, format="json")


def link_parts(text):
    """uid and token of the reset link in a message body (the HTML escapes & as &amp;)."""
    url = LINK.search(text.replace("&amp;", "&")).group(0)
    query = parse_qs(urlsplit(url).query)
    return query["uid"][0], query["token"][0]


def uid_of(user):
    return urlsafe_base64_encode(force_bytes(user.pk))


def obtain_pair(user, password=DEFAULT_PASSWORD):
    response = APIClient().post("/api/auth/token", {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def reset_emails():
    return Email.objects.filter(kind=services.PASSWORD_RESET_EMAIL)


# --- asking for a link ----------------------------------------------------------------------------------------------


def test_known_and_unknown_addresses_get_the_same_answer(
    api_client, customer_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = reset_request(api_client, customer_user.email.upper())
    with django_capture_on_commit_callbacks(execute=True):
        unknown = reset_request(api_client, "nobody-here@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert known["Content-Type"] == unknown["Content-Type"]
    assert set(known.headers) == set(unknown.headers)
    # The email goes to the account's stored address, never to the request's spelling of it.
    assert list(reset_emails().values_list("to_address", "object_id")) == [(customer_user.email, str(customer_user.pk))]
    assert not Email.objects.filter(to_address__iexact="nobody-here@example.com").exists()
    assert [message.to for message in mailoutbox] == [[customer_user.email]]


def test_one_email_per_account_and_fifteen_minutes(customer_user, mailoutbox, django_capture_on_commit_callbacks):
    window_start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a multiple of 15 minutes since the epoch
    with django_capture_on_commit_callbacks(execute=True):
        for offset in (timedelta(0), timedelta(minutes=7), timedelta(minutes=14, seconds=59)):
            services.password_reset_request(email=customer_user.email, now=window_start + offset)

    assert reset_emails().count() == 1
    assert len(mailoutbox) == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.password_reset_request(email=customer_user.email, now=window_start + timedelta(minutes=15))

    assert reset_emails().count() == 2
    assert len(mailoutbox) == 2


def test_repeated_requests_through_the_api_add_no_email(api_client, customer_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answers = [reset_request(api_client, customer_user.email).status_code for _ in range(3)]

    assert answers == [202, 202, 202]
    assert reset_emails().count() in (1, 2)  # 2 only when the three requests straddle a window boundary


def test_inactive_accounts_and_accounts_without_a_usable_password_get_nothing(
    api_client, mailoutbox, django_capture_on_commit_callbacks
):
    inactive = UserFactory.create(is_active=False)
    unusable = UserFactory.create()
    unusable.set_unusable_password()
    unusable.save()

    with django_capture_on_commit_callbacks(execute=True):
        answers = {reset_request(api_client, user.email).status_code for user in (inactive, unusable)}

    assert answers == {202}
    assert not reset_emails().exists()
    assert mailoutbox == []


def test_every_active_account_with_the_address_gets_its_own_link(
    api_client, mailoutbox, django_capture_on_commit_callbacks
):
    # Registration never attaches a taken address, but staff can give two accounts the same one.
    first = UserFactory.create(email="shared@example.com")
    second = UserFactory.create(email="Shared@Example.com")

    with django_capture_on_commit_callbacks(execute=True):
        assert reset_request(api_client, "SHARED@example.com").status_code == 202

    assert sorted(message.to[0] for message in mailoutbox) == sorted([first.email, second.email])
    uids = {link_parts(message.body)[0] for message in mailoutbox}
    assert uids == {uid_of(first), uid_of(second)}


@pytest.mark.parametrize(
    "email",
    [
        "buyer@example.com\r\nBcc: victim@example.com",
        "buyer@example.com\nSubject: free money",
        "buyer@example.com\r\n",
        "\r\nbuyer@example.com",
        "buyer@example.com%0d%0aBcc:victim@example.com",
        "not-an-email",
        "",
    ],
)
def test_a_malformed_address_is_refused_and_no_header_is_injected(
    api_client, customer_user, mailoutbox, django_capture_on_commit_callbacks, email
):
    with django_capture_on_commit_callbacks(execute=True):
        response = reset_request(api_client, email)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert set(response.json()["error"]["fields"]) == {"email"}
    assert not Email.objects.exists()
    assert mailoutbox == []


# --- the email ------------------------------------------------------------------------------------------------------


def test_the_email_is_korean_and_its_link_resets_the_password(
    api_client, customer_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reset_request(api_client, customer_user.email)

    (message,) = mailoutbox
    assert "비밀번호 재설정" in message.subject
    assert "\n" not in message.subject and "\r" not in message.subject
    html = message.alternatives[0].content
    assert "비밀번호 재설정" in html
    assert link_parts(message.body) == link_parts(html)
    assert reset_emails().get().status == EmailStatus.SENT

    response = reset_confirm(api_client, *link_parts(message.body))

    assert response.status_code == 204
    customer_user.refresh_from_db()
    assert customer_user.check_password(NEW_PASSWORD)
    assert obtain_pair(customer_user, NEW_PASSWORD)["access"]


def test_an_english_request_gets_the_email_in_english(
    api_client, customer_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reset_request(api_client, customer_user.email, HTTP_ACCEPT_LANGUAGE="en")

    (message,) = mailoutbox
    assert "Reset your password" in message.subject
    assert reset_emails().get().language == "en"


def test_an_account_deactivated_before_the_send_gets_no_link(
    api_client, customer_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        reset_request(api_client, customer_user.email)
    customer_user.is_active = False
    customer_user.save(update_fields=["is_active"])
    for callback in callbacks:
        callback()

    assert reset_emails().get().status == EmailStatus.SKIPPED
    assert mailoutbox == []


def test_neither_the_address_nor_the_token_is_logged(
    api_client, customer_user, mailoutbox, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        reset_request(api_client, customer_user.email)
        reset_request(api_client, "nobody-here@example.com")
    uid, token = link_parts(mailoutbox[0].body)
    reset_confirm(api_client, uid, token)

    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert caplog.records
    for secret in (customer_user.email, "nobody-here@example.com", token):
        assert secret not in logged


def test_the_email_reaches_a_real_smtp_server(api_client, customer_user, smtp_mail, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert reset_request(api_client, customer_user.email).status_code == 202

    (received,) = smtp_mail.messages()
    assert "비밀번호 재설정" in received.subject
    assert received.recipients == (customer_user.email,)
    assert reset_confirm(api_client, *link_parts(received.body("plain"))).status_code == 204


# --- confirming -----------------------------------------------------------------------------------------------------


def test_a_reset_revokes_every_refresh_and_access_token(api_client, customer_user):
    laptop = obtain_pair(customer_user)
    phone = obtain_pair(customer_user)
    customer_user.refresh_from_db()  # the logins set last_login, which the token signs
    token = default_token_generator.make_token(customer_user)

    assert reset_confirm(api_client, uid_of(customer_user), token).status_code == 204

    for pair in (laptop, phone):
        refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
        assert refreshed.status_code == 401
        stale = APIClient()
        stale.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
        response = stale.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (401, "password_changed")


def test_a_link_works_once(api_client, customer_user):
    token = default_token_generator.make_token(customer_user)

    first = reset_confirm(api_client, uid_of(customer_user), token)
    again = reset_confirm(api_client, uid_of(customer_user), token, new_password="Another-Seoul-Tiger-2028!")

    assert first.status_code == 204
    assert (again.status_code, again.json()["error"]["code"]) == (400, "invalid_token")
    customer_user.refresh_from_db()
    assert customer_user.check_password(NEW_PASSWORD)


def test_every_earlier_link_dies_with_the_reset(
    api_client, customer_user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.password_reset_request(email=customer_user.email, now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
        services.password_reset_request(email=customer_user.email, now=datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    older, newer = (link_parts(message.body) for message in mailoutbox)

    assert reset_confirm(api_client, *newer).status_code == 204
    response = reset_confirm(api_client, *older, new_password="Another-Seoul-Tiger-2028!")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_token")


def _bad_link(case, user, other):
    token = default_token_generator.make_token(user)
    return {
        "token of another account": (uid_of(user), default_token_generator.make_token(other)),
        "uid of another account": (uid_of(other), token),
        "uid of no account": (urlsafe_base64_encode(b"987654321"), token),
        "uid beyond any key": (urlsafe_base64_encode(b"9" * 40), token),
        "uid not a number": (urlsafe_base64_encode(b"1 OR 1=1"), token),
        "uid not utf-8": (urlsafe_base64_encode(b"\xff\xfe\xfd"), token),
        "uid not base64": ("!!not*base64!!", token),
        "huge uid": ("A" * 100_000, token),
        "garbage token": (uid_of(user), "garbage"),
        "huge token": (uid_of(user), "1-" + "a" * 100_000),
        "token with a changed signature": (uid_of(user), token[:-1] + ("0" if token[-1] != "0" else "1")),
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "token of another account",
        "uid of another account",
        "uid of no account",
        "uid beyond any key",
        "uid not a number",
        "uid not utf-8",
        "uid not base64",
        "huge uid",
        "garbage token",
        "huge token",
        "token with a changed signature",
    ],
)
def test_a_bad_uid_or_token_is_invalid_token_and_changes_nothing(api_client, customer_user, other_customer_user, case):
    uid, token = _bad_link(case, customer_user, other_customer_user)

    response = reset_confirm(api_client, uid, token)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.json()["error"]["fields"] == {}
    for user in (customer_user, other_customer_user):
        user.refresh_from_db()
        assert user.check_password(DEFAULT_PASSWORD)


def test_an_inactive_account_cannot_use_a_link_it_was_sent(api_client, customer_user):
    token = default_token_generator.make_token(customer_user)
    customer_user.is_active = False
    customer_user.save(update_fields=["is_active"])

    response = reset_confirm(api_client, uid_of(customer_user), token)

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_token")


@pytest.mark.parametrize("new_password", ["short", "12345678901", "password123"])
def test_a_weak_password_is_refused_and_the_link_keeps_working(api_client, customer_user, new_password):
    token = default_token_generator.make_token(customer_user)

    weak = reset_confirm(api_client, uid_of(customer_user), token, new_password=new_password)

    assert (weak.status_code, weak.json()["error"]["code"]) == (400, "weak_password")
    assert weak.json()["error"]["fields"]["new_password"]
    customer_user.refresh_from_db()
    assert customer_user.check_password(DEFAULT_PASSWORD)
    assert reset_confirm(api_client, uid_of(customer_user), token).status_code == 204


# --- what staff who read emails see ---------------------------------------------------------------------------------


def test_the_admin_preview_of_a_reset_email_holds_no_working_link(api_client, customer_user, support_user):
    from billing_site.tests.helpers import admin_session

    assert reset_request(api_client, customer_user.email).status_code == 202
    email = reset_emails().get()

    page = admin_session(support_user).get(f"/admin/mail/email/{email.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode().replace("&amp;", "&")
    assert "reset-password?uid=…&token=…" in text
    assert uid_of(customer_user) not in text
    for candidate in re.findall(r"token=([0-9A-Za-z-]+)", text):
        assert not default_token_generator.check_token(customer_user, candidate)
