"""manage.py billing_renewal_notices queues the renewal notices of a day, once, like the daily task."""

import io
from datetime import date

import pytest
from django.core.management import call_command

from billing.enums import EmailKind
from billing.services.subscriptions import subscription_create
from billing.tests.helpers import seoul
from billing_site.mail.models import Email

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("billing_renewal_notices", *args, stdout=out)
    return out.getvalue()


def test_queues_the_notices_of_the_day_once(pro_from_jan_31):
    assert "2025-02-21 (renewals within 7 day(s), trials ending within 3 day(s)): 1 queued" in run(
        "--as-of", "2025-02-21"
    )
    assert "0 queued" in run("--as-of", "2025-02-22")

    (email,) = Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING)
    assert (email.object_id, email.occurrence) == (str(pro_from_jan_31.pk), date(2025, 2, 28).isoformat())


def test_says_when_notices_are_off(pro_from_jan_31, settings):
    settings.BILLING_RENEWAL_NOTICE_DAYS = 0
    settings.BILLING_TRIAL_ENDING_NOTICE_DAYS = 0

    assert "off" in run("--as-of", "2025-02-21")
    assert not Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING).exists()


def test_trial_notices_go_out_when_renewal_notices_are_off(customer, plans, settings):
    settings.BILLING_RENEWAL_NOTICE_DAYS = 0
    plans["pro"].trial_days = 14
    plans["pro"].save()
    trial = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    ).subscription
    assert (trial.status, trial.trial_end) == ("trialing", date(2025, 2, 14))

    assert "(renewal notices off, trials ending within 3 day(s)): 1 queued" in run("--as-of", "2025-02-11")
    assert Email.objects.filter(kind=EmailKind.TRIAL_ENDING, object_id=str(trial.pk)).count() == 1
