"""manage.py billing_purge_idempotency_keys removes only expired records."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import IdempotencyKey
from billing.tests.factories import IdempotencyKeyFactory

pytestmark = pytest.mark.django_db


def test_purges_only_expired_keys(customer):
    now = timezone.now()
    for key, expires in (("expired", now - timedelta(minutes=1)), ("live", now + timedelta(hours=23))):
        IdempotencyKeyFactory(user=customer.user, key=key, request_path="/api/orders", expires_at=expires)
    out = io.StringIO()
    call_command("billing_purge_idempotency_keys", stdout=out)
    assert "Purged 1 expired" in out.getvalue()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["live"]
