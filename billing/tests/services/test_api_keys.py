"""API keys: created with the permission, shown once and stored as a hash, validated scopes, revoked once, and every
key that is malformed, unknown, revoked or expired refused alike; last use written at most once a minute."""

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.api.authentication import ApiKeyPrincipal
from billing.enums import ApiKeyScope
from billing.models import ApiKey
from billing.services import api_keys as api_keys_service
from billing.services.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from billing.tests.factories import StaffUserFactory
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db

KEY_FORMAT = re.compile(r"^bsk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


def _create(**changes: Any) -> tuple[ApiKey, str]:
    arguments: dict[str, Any] = {
        "name": "SaaS backend",
        "scopes": [ApiKeyScope.USAGE_WRITE],
        "expires_at": None,
        "actor": None,
    }
    return api_key_create(**{**arguments, **changes})


# --- create ------------------------------------------------------------------------------------------------------


def test_a_new_key_is_returned_whole_once_and_stored_only_as_its_hash(billing_staff_user: Any) -> None:
    api_key, key = _create(
        name="  Acme backend ", scopes=["usage:write", "entitlements:read", "usage:write"], actor=billing_staff_user
    )

    assert KEY_FORMAT.match(key), key
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.prefix == key[:12]
    assert stored.secret_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key[13:] not in str(ApiKey.objects.filter(pk=api_key.pk).values().get())
    assert stored.name == "Acme backend"
    assert stored.scopes == ["entitlements:read", "usage:write"]
    assert stored.created_by == billing_staff_user
    assert (stored.revoked_at, stored.last_used_at, stored.expires_at) == (None, None, None)


def test_every_key_is_different() -> None:
    keys = {_create()[1] for _ in range(20)}

    assert len(keys) == 20
    assert len({key[:12] for key in keys}) == 20


def test_a_prefix_that_is_taken_already_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    taken, _key = _create()
    drawn = iter([taken.prefix[4:], "0badc0de"])
    monkeypatch.setattr(api_keys_service.secrets, "token_hex", lambda size: next(drawn))

    api_key, key = _create(name="second")

    assert api_key.prefix == "bsk_0badc0de"
    assert key.startswith("bsk_0badc0de_")
    assert ApiKey.objects.count() == 2


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ([], "Choose at least one scope."),
        (["admin"], "Unknown scope: 'admin'."),
        (["usage:write", "usage:*"], "Unknown scope: 'usage:*'."),
        (["USAGE:WRITE"], "Unknown scope: 'USAGE:WRITE'."),
        ([1], "Unknown scope: '1'."),
        ([None], "Unknown scope: 'None'."),
        ("usage:write", "Scopes must be a list."),
        (None, "Scopes must be a list."),
        ({"usage:write": True}, "Scopes must be a list."),
    ],
)
def test_scopes_are_only_known_ones_and_at_least_one(scopes: Any, message: str) -> None:
    with pytest.raises(ApplicationError) as refused:
        _create(scopes=scopes)

    assert (refused.value.code, refused.value.status_code) == ("validation_error", 400)
    assert refused.value.fields == {"scopes": [message]}
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expires_at"),
        ({"expires_at": datetime(2099, 1, 1)}, "expires_at"),  # naive on purpose
    ],
)
def test_a_nameless_or_already_expired_key_is_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ApplicationError) as refused:
        _create(**changes)

    assert refused.value.code == "validation_error"
    assert list(refused.value.fields) == [field]
    assert not ApiKey.objects.exists()


def test_creating_a_key_needs_the_add_permission(support_user: Any, customer_user: Any) -> None:
    view_only = StaffUserFactory.create(username="viewer")
    view_only.user_permissions.add(_permission("view_apikey"))
    principal = ApiKeyPrincipal(_create()[0])

    for actor in (support_user, customer_user, view_only, principal):
        with pytest.raises(ApplicationError) as refused:
            _create(actor=actor)
        assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403), actor

    assert ApiKey.objects.count() == 1


# --- revoke ------------------------------------------------------------------------------------------------------


def test_revoking_is_immediate_and_idempotent(billing_staff_user: Any, superuser: Any) -> None:
    api_key, key = _create()

    first = api_key_revoke(api_key_id=api_key.pk, actor=billing_staff_user)
    again = api_key_revoke(api_key_id=api_key.pk, actor=superuser)

    assert first.revoked_at is not None
    assert (again.revoked_at, again.revoked_by) == (first.revoked_at, billing_staff_user)
    with pytest.raises(ApplicationError) as refused:
        api_key_authenticate(key=key)
    assert refused.value.code == "invalid_api_key"


def test_revoking_needs_the_change_permission(support_user: Any) -> None:
    api_key, _key = _create()
    view_only = StaffUserFactory.create(username="viewer")
    view_only.user_permissions.add(_permission("view_apikey"))

    for actor in (support_user, view_only, ApiKeyPrincipal(api_key)):
        with pytest.raises(ApplicationError) as refused:
            api_key_revoke(api_key_id=api_key.pk, actor=actor)
        assert refused.value.code == "permission_denied"

    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None


def test_revoking_an_unknown_key_is_404() -> None:
    with pytest.raises(ApplicationError) as refused:
        api_key_revoke(api_key_id=987654, actor=None)

    assert (refused.value.code, refused.value.status_code) == ("not_found", 404)


# --- authenticate ------------------------------------------------------------------------------------------------


def test_a_valid_key_authenticates_and_records_its_use() -> None:
    api_key, key = _create()
    now = timezone.now()

    found = api_key_authenticate(key=key, now=now)

    assert found.pk == api_key.pk
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == now


def test_last_use_is_written_at_most_once_a_minute_with_one_update_and_no_lock() -> None:
    api_key, key = _create()
    start = timezone.now()
    api_key_authenticate(key=key, now=start)

    with CaptureQueriesContext(connection) as within_the_minute:
        api_key_authenticate(key=key, now=start + timedelta(seconds=59))
    with CaptureQueriesContext(connection) as a_minute_later:
        api_key_authenticate(key=key, now=start + timedelta(seconds=60))

    assert [query["sql"].split()[0] for query in within_the_minute.captured_queries] == ["SELECT"]
    statements = [query["sql"] for query in a_minute_later.captured_queries]
    assert [sql.split()[0] for sql in statements] == ["SELECT", "UPDATE"]
    assert not any("FOR UPDATE" in sql or "FOR SHARE" in sql for sql in statements)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == start + timedelta(seconds=60)


def test_an_older_moment_never_moves_last_use_back() -> None:
    api_key, key = _create()
    now = timezone.now()
    api_key_authenticate(key=key, now=now)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now + timedelta(minutes=5))  # another request's write

    api_key_authenticate(key=key, now=now + timedelta(minutes=2))

    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == now + timedelta(minutes=5)


def _refused(key: Any, *, now: datetime | None = None) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        api_key_authenticate(key=key, now=now)
    return refused.value


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: "",
        lambda key: key[:-1],
        lambda key: key + "A",
        lambda key: key.upper(),
        lambda key: key.replace("bsk_", "bsx_"),
        lambda key: key[:12] + "-" + key[13:],
        lambda key: key[:-1] + ("B" if key[-1] != "B" else "C"),  # right prefix, wrong secret
        lambda key: "bsk_00000000" + key[12:],  # unknown prefix
        lambda key: key[:-1] + "=",
        lambda key: key[:-1] + "é",
        lambda key: key[:-1] + "\x00",
        lambda key: " " + key[:-1],
        lambda key: key * 1000,
    ],
)
def test_a_malformed_unknown_or_wrong_key_is_refused_alike(mangle: Any) -> None:
    _api_key, key = _create()

    error = _refused(mangle(key))

    assert (error.code, error.status_code, error.message) == ("invalid_api_key", 401, "The API key is not valid.")


@pytest.mark.parametrize("key", [None, 12, b"bsk_", ["bsk_"]])
def test_a_key_that_is_not_text_is_refused(key: Any) -> None:
    assert _refused(key).code == "invalid_api_key"


def test_revoked_and_expired_keys_are_refused_and_not_marked_used(billing_staff_user: Any) -> None:
    expires_at = timezone.now() + timedelta(days=1)
    expiring, expiring_key = _create(expires_at=expires_at)
    revoked, revoked_key = _create(name="old")
    api_key_revoke(api_key_id=revoked.pk, actor=billing_staff_user)

    assert api_key_authenticate(key=expiring_key, now=expires_at - timedelta(seconds=1)).pk == expiring.pk
    assert _refused(expiring_key, now=expires_at).code == "invalid_api_key"
    assert _refused(revoked_key).code == "invalid_api_key"
    assert ApiKey.objects.get(pk=revoked.pk).last_used_at is None


def test_the_secret_is_compared_in_constant_time_even_for_an_unknown_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    _api_key, key = _create()
    compared: list[tuple[str, str]] = []
    real = api_keys_service.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_keys_service.hmac, "compare_digest", spy)

    api_key_authenticate(key=key)
    _refused(key[:-1] + ("B" if key[-1] != "B" else "C"))
    _refused("bsk_00000000" + key[12:])

    assert len(compared) == 3
    assert compared[0] == (hashlib.sha256(key.encode()).hexdigest(),) * 2


def _permission(codename: str) -> Any:
    from django.contrib.auth.models import Permission

    return Permission.objects.get(content_type__app_label="billing", codename=codename)
