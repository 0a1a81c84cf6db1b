"""manage.py billing_purge_idempotency_keys removes only expired records."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import IdempotencyKey

pytestmark = pytest.mark.django_db


def test_purges_only_expired_keys(buyer):
    now = timezone.now()
    for key, expires in (("expired", now - timedelta(minutes=1)), ("live", now + timedelta(hours=23))):
        IdempotencyKey.objects.create(
            user=buyer.user,
            key=key,
            request_method="POST",
            request_path="/api/orders",
            request_fingerprint="0" * 64,
            expires_at=expires,
        )
    out = io.StringIO()
    call_command("billing_purge_idempotency_keys", stdout=out)
    assert "Purged 1 expired" in out.getvalue()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["live"]
