"""API keys in the admin (Korean): created through the service with the whole key shown once and stored nowhere
else (the add form sent again makes no second key), listed with prefix, scopes, status and last use, revoked by the
action; read-only staff can do neither."""

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.enums import ApiKeyScope
from billing.models import ApiKey
from billing.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from billing.tests.factories import StaffUserFactory
from billing_site.tests.helpers import admin_session

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:billing_apikey_add")
LIST_URL = reverse("admin:billing_apikey_changelist")
KEY = re.compile(r"bsk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")
ADD = {"name": "Acme 백엔드", "scopes": ["usage:write"], "expires_at_0": "", "expires_at_1": ""}


@pytest.fixture
def read_only_staff(db: None) -> Any:
    """Staff who may look at API keys and nothing more."""
    user = StaffUserFactory.create(username="viewer")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="billing", codename="view_apikey"))
    return admin_session(user)


def _key(name: str = "SaaS backend", **changes: Any) -> tuple[ApiKey, str]:
    return api_key_create(
        name=name, scopes=changes.pop("scopes", [ApiKeyScope.USAGE_WRITE]), expires_at=None, actor=None
    )


def test_creating_a_key_shows_it_whole_once_and_keeps_only_its_hash(
    billing_staff_admin_client: Client, billing_staff_user: Any
) -> None:
    response = billing_staff_admin_client.post(ADD_URL, {**ADD, "scopes": ["usage:write", "entitlements:read"]})

    assert response.status_code == 200, response.content.decode()[:3000]
    page = response.content.decode()
    shown = KEY.findall(page)
    assert len(set(shown)) == 1
    key = shown[0]
    assert "API 키 Acme 백엔드을(를) 만들었습니다. 지금 복사하세요. 다시 보여 드리지 않습니다." in page
    assert "no-store" in response["Cache-Control"]
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.prefix, api_key.scopes, api_key.created_by) == (
        "Acme 백엔드",
        key[:12],
        ["entitlements:read", "usage:write"],
        billing_staff_user,
    )
    assert api_key.secret_hash == hashlib.sha256(key.encode()).hexdigest()
    assert api_key_authenticate(key=key).pk == api_key.pk

    # Never again: not carried to the next page in a message cookie or the session, nor on the key's own pages.
    secret = key[13:]
    for url in (LIST_URL, reverse("admin:billing_apikey_change", args=[api_key.pk]), LIST_URL):
        later = billing_staff_admin_client.get(url)
        assert later.status_code == 200
        assert secret not in later.content.decode()
        assert api_key.prefix in later.content.decode()
    assert all(secret not in morsel.value for morsel in billing_staff_admin_client.cookies.values())
    assert secret not in str(dict(billing_staff_admin_client.session.items()))


def _add_page_token(client: Client) -> str:
    """The one-time token of a freshly opened add page."""
    page = client.get(ADD_URL).content.decode()
    found = re.search(r'<input type="hidden" name="submission" value="([^"]+)"', page)
    assert found is not None, page[:3000]
    return found.group(1)


def test_the_add_form_sent_again_makes_no_second_key_and_leads_to_the_first(
    billing_staff_admin_client: Client,
) -> None:
    form = {**ADD, "submission": _add_page_token(billing_staff_admin_client)}
    created = billing_staff_admin_client.post(ADD_URL, form)
    key = KEY.findall(created.content.decode())[0]
    api_key = ApiKey.objects.get()

    # Refreshing the "API key created" page posts the same form again.
    again = billing_staff_admin_client.post(ADD_URL, form)

    assert again.status_code == 302
    assert again["Location"] == reverse("admin:billing_apikey_change", args=[api_key.pk])
    assert ApiKey.objects.get().pk == api_key.pk
    page = billing_staff_admin_client.get(again["Location"]).content.decode()
    assert (
        f"이 양식은 이미 제출되었습니다. 그때 API 키 Acme 백엔드({api_key.prefix})을(를) 만들었고, "
        "전체 키는 한 번만 보여 드렸습니다. 다른 키는 만들지 않았습니다."
    ) in page
    assert key[13:] not in page
    assert key[13:] not in str(dict(billing_staff_admin_client.session.items()))
    assert api_key_authenticate(key=key).pk == api_key.pk


def test_each_add_page_makes_its_own_key(billing_staff_admin_client: Client) -> None:
    first, second = _add_page_token(billing_staff_admin_client), _add_page_token(billing_staff_admin_client)

    responses = [
        billing_staff_admin_client.post(ADD_URL, {**ADD, "name": name, "submission": token})
        for name, token in (("first", first), ("second", second))
    ]

    assert first != second
    assert [response.status_code for response in responses] == [200, 200]
    assert sorted(ApiKey.objects.values_list("name", flat=True)) == ["first", "second"]


def test_an_add_form_refused_then_corrected_still_makes_its_key_once(billing_staff_admin_client: Client) -> None:
    token = _add_page_token(billing_staff_admin_client)

    refused = billing_staff_admin_client.post(ADD_URL, {**ADD, "scopes": [], "submission": token})
    corrected = billing_staff_admin_client.post(ADD_URL, {**ADD, "submission": token})
    again = billing_staff_admin_client.post(ADD_URL, {**ADD, "submission": token})

    assert refused.status_code == 200
    assert f'name="submission" value="{token}"' in refused.content.decode()  # the same page keeps its token
    assert corrected.status_code == 200
    assert KEY.search(corrected.content.decode())
    assert again.status_code == 302
    assert ApiKey.objects.count() == 1


def test_the_add_page_is_korean(billing_staff_admin_client: Client) -> None:
    page = billing_staff_admin_client.get(ADD_URL).content.decode()

    assert "권한 범위" in page
    assert "키로 할 수 있는 일입니다. 하나 이상 고르세요." in page
    assert "사용량 이벤트 전송" in page
    assert "이용 권한 및 사용량 조회" in page
    assert "선택 사항입니다. 비워 두면 만료되지 않는 키가 됩니다." in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"scopes": []}, "scopes", "이 필드는 필수 항목입니다."),
        ({"scopes": ["admin"]}, "scopes", None),
        ({"expires_at_0": "2020-01-01", "expires_at_1": "00:00:00"}, "expires_at", "The expiry must be in the future."),
    ],
)
def test_a_refused_key_shows_why_on_its_field_and_makes_nothing(
    billing_staff_admin_client: Client, changes: dict[str, Any], field: str, message: str | None
) -> None:
    response = billing_staff_admin_client.post(ADD_URL, {**ADD, **changes})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    if message is not None:
        assert message in errors[field]
    assert not KEY.search(response.content.decode())
    assert not ApiKey.objects.exists()


def test_the_list_shows_prefix_scopes_status_and_last_use(billing_staff_admin_client: Client) -> None:
    active, active_key = _key("active one", scopes=[ApiKeyScope.USAGE_WRITE, ApiKeyScope.ENTITLEMENTS_READ])
    revoked, _revoked_key = _key("revoked one")
    expired, _expired_key = _key("expired one")
    api_key_revoke(api_key_id=revoked.pk, actor=None)
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    api_key_authenticate(key=active_key, now=timezone.now().replace(year=2030, month=1, day=2, hour=3, minute=4))

    page = billing_staff_admin_client.get(LIST_URL).content.decode()

    for api_key in (active, revoked, expired):
        assert api_key.prefix in page
    assert "entitlements:read (이용 권한 및 사용량 조회), usage:write (사용량 이벤트 전송)" in page
    assert page.count("사용 중") == 1
    assert page.count("폐기됨") == 1
    assert page.count("만료됨") == 1
    assert "KST" in page  # last used, shown in Seoul time
    assert "선택한 API 키 폐기" in page
    assert "delete_selected" not in page


def test_the_revoke_action_revokes_through_the_service(
    billing_staff_admin_client: Client, billing_staff_user: Any
) -> None:
    api_key, _key_text = _key()

    response = billing_staff_admin_client.post(
        LIST_URL, {"action": "revoke_selected", "_selected_action": [api_key.pk]}, follow=True
    )

    assert response.status_code == 200
    assert f"{api_key}: 폐기했습니다." in response.content.decode()
    revoked = ApiKey.objects.get(pk=api_key.pk)
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == billing_staff_user


def test_a_key_is_never_edited_or_deleted_in_the_admin(billing_staff_admin_client: Client) -> None:
    api_key, _key_text = _key()
    change_url = reverse("admin:billing_apikey_change", args=[api_key.pk])

    page = billing_staff_admin_client.get(change_url).content.decode()
    refused_edit = billing_staff_admin_client.post(change_url, {"name": "renamed", "scopes": ["entitlements:read"]})
    refused_delete = billing_staff_admin_client.post(
        reverse("admin:billing_apikey_delete", args=[api_key.pk]), {"post": "yes"}
    )

    assert 'name="_save"' not in page
    assert api_key.secret_hash not in page
    assert refused_edit.status_code == 403
    assert refused_delete.status_code == 403
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert (stored.name, stored.scopes) == ("SaaS backend", ["usage:write"])


def test_read_only_staff_see_keys_but_cannot_create_or_revoke(read_only_staff: Client) -> None:
    api_key, _key_text = _key()

    listing = read_only_staff.get(LIST_URL)
    add_page = read_only_staff.get(ADD_URL)
    add_post = read_only_staff.post(ADD_URL, ADD)
    revoke = read_only_staff.post(LIST_URL, {"action": "revoke_selected", "_selected_action": [api_key.pk]})

    assert listing.status_code == 200
    assert api_key.prefix in listing.content.decode()
    assert "revoke_selected" not in listing.content.decode()
    assert (add_page.status_code, add_post.status_code) == (403, 403)
    assert revoke.status_code in (200, 302)
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None


def test_support_cannot_see_api_keys(support_admin_client: Client) -> None:
    _key()

    assert support_admin_client.get(LIST_URL).status_code == 403
    assert support_admin_client.post(ADD_URL, ADD).status_code == 403
    assert ApiKey.objects.count() == 1
