"""manage.py billing_renewal_notices queues the renewal notices of a day, once, like the daily task."""

import io
from datetime import date

import pytest
from django.core.management import call_command

from billing.enums import EmailKind
from billing_site.mail.models import Email

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("billing_renewal_notices", *args, stdout=out)
    return out.getvalue()


def test_queues_the_notices_of_the_day_once(pro_from_jan_31):
    assert "2025-02-21 (renewals within 7 day(s)): 1 queued" in run("--as-of", "2025-02-21")
    assert "0 queued" in run("--as-of", "2025-02-22")

    (email,) = Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING)
    assert (email.object_id, email.occurrence) == (str(pro_from_jan_31.pk), date(2025, 2, 28).isoformat())


def test_says_when_notices_are_off(pro_from_jan_31, settings):
    settings.BILLING_RENEWAL_NOTICE_DAYS = 0

    assert "off" in run("--as-of", "2025-02-21")
    assert not Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING).exists()
