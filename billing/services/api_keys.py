"""Server-to-server API keys: staff create and revoke them, and each API request's key is checked here."""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing.enums import ApiKeyScope
from billing.models import ApiKey
from billing.models.api_keys import API_KEY_PREFIX_LENGTH
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

KEY_PATTERN = re.compile(r"^(bsk_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
# The whole key is 4 + 8 + 1 + 43 characters; anything longer is refused before any pattern or database work.
KEY_LENGTH = API_KEY_PREFIX_LENGTH + 1 + 43
# last_used_at is a hint for staff, not an audit log: one write a minute per key keeps busy keys off the row.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_NAME_LENGTH = 100
# A new prefix colliding with a stored one is a 1 in 4 billion event per key; a few tries make a failure
# practically impossible without looping forever on a broken database.
CREATE_ATTEMPTS = 5


def _secret_hash(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def _key_generate() -> tuple[str, str]:
    """(prefix, whole key): 32 random bits of visible prefix and 256 random bits of secret (43 urlsafe chars)."""
    prefix = f"bsk_{secrets.token_hex(4)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def _validation(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


def api_key_scopes_validate(scopes: object) -> list[str]:
    """The scopes as a sorted list without repeats: only ApiKeyScope values, at least one."""
    if not isinstance(scopes, list | tuple | set | frozenset):
        raise _validation("scopes", "Scopes must be a list.")
    chosen: set[str] = set()
    allowed = set(ApiKeyScope.values)
    for scope in scopes:
        if not isinstance(scope, str) or scope not in allowed:
            raise _validation("scopes", f"Unknown scope: {str(scope)[:50]!r}.")
        chosen.add(scope)
    if not chosen:
        raise _validation("scopes", "Choose at least one scope.")
    return sorted(chosen)


def _invalid_key() -> ApplicationError:
    # One message for every refusal: a caller learns nothing about which keys exist, were revoked or expired.
    return ApplicationError("invalid_api_key", "The API key is not valid.", status_code=401)


@transaction.atomic
def api_key_create(*, name: str, scopes: Iterable[str], expires_at: datetime | None, actor: Any) -> tuple[ApiKey, str]:
    """A new key for `scopes`; returns it with the whole key, which is never stored and cannot be shown again."""
    permission_require(actor=actor, permission="billing.add_apikey")
    clean_name = (name or "").strip()
    if not clean_name:
        raise _validation("name", "A name is required.")
    if len(clean_name) > MAX_NAME_LENGTH:
        raise _validation("name", f"A name has at most {MAX_NAME_LENGTH} characters.")
    clean_scopes = api_key_scopes_validate(scopes)
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise _validation("expires_at", "The expiry needs a time zone.")
        if expires_at <= timezone.now():
            raise _validation("expires_at", "The expiry must be in the future.")
    created_by = actor if getattr(actor, "pk", None) is not None else None
    for attempt in range(CREATE_ATTEMPTS):
        prefix, key = _key_generate()
        try:
            # A savepoint, so a prefix collision leaves the outer transaction usable for the next try.
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    name=clean_name,
                    prefix=prefix,
                    secret_hash=_secret_hash(key),
                    scopes=clean_scopes,
                    created_by=created_by,
                    expires_at=expires_at,
                )
        except IntegrityError:
            if attempt + 1 == CREATE_ATTEMPTS:
                raise
            continue
        return api_key, key
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


@transaction.atomic
def api_key_revoke(*, api_key_id: int, actor: Any) -> ApiKey:
    """Revoke a key at once; revoking a revoked key changes nothing (when and by whom stay the first revocation)."""
    permission_require(actor=actor, permission="billing.change_apikey")
    api_key = ApiKey.objects.select_for_update().filter(pk=api_key_id).first()
    if api_key is None:
        raise ApplicationError("not_found", "Not found.", status_code=404)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.revoked_by = actor if getattr(actor, "pk", None) is not None else None
        api_key.save(update_fields=["revoked_at", "revoked_by"])
    return api_key


def api_key_authenticate(*, key: str, now: datetime | None = None) -> ApiKey:
    """The usable key `key` is, or 401 `invalid_api_key` (malformed, unknown, revoked or expired).

    The key is found by its prefix and its hash compared in constant time, so response times do not tell an
    attacker how much of a guessed secret matched. No lock is taken: a key revoked while this request runs is
    refused from the next request on.
    """
    moment = now or timezone.now()
    if not isinstance(key, str) or len(key) != KEY_LENGTH:
        raise _invalid_key()
    match = KEY_PATTERN.match(key)
    if match is None:
        raise _invalid_key()
    api_key = ApiKey.objects.filter(prefix=match.group(1)).first()
    presented_hash = _secret_hash(key)
    # Compared even when no key has this prefix, so an unknown prefix takes as long as a wrong secret.
    stored_hash = api_key.secret_hash if api_key is not None else "0" * 64
    if not hmac.compare_digest(presented_hash, stored_hash) or api_key is None:
        raise _invalid_key()
    if not api_key.is_usable(now=moment):
        raise _invalid_key()
    if api_key.last_used_at is None or api_key.last_used_at <= moment - LAST_USED_RESOLUTION:
        # One conditional UPDATE, no lock: concurrent requests of the same key may both write, harmlessly.
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=moment - LAST_USED_RESOLUTION)
        ).update(last_used_at=moment)
        api_key.last_used_at = moment
    return api_key
