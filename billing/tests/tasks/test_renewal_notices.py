"""billing.renewal_notices: the day's renewal notices, once, also when beat runs it twice or two runs overlap."""

from datetime import date, timedelta

import pytest
from django.core import mail

from billing.enums import EmailKind
from billing.services.subscriptions import subscription_create
from billing.tasks import renewal_notices_task
from billing.tests.factories import CustomerFactory
from billing.tests.helpers import run_concurrently, seoul
from billing.tests.subscription_support import pay
from billing_site.mail.models import Email, EmailStatus

pytestmark = pytest.mark.django_db


def renewal_messages() -> list[mail.EmailMessage]:
    return [message for message in mail.outbox if "구독 갱신 안내" in message.subject]


def test_the_task_queues_and_sends_the_notice_once_when_run_twice(
    pro_from_jan_31, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = renewal_notices_task(as_of="2025-02-21")
    with django_capture_on_commit_callbacks(execute=True):
        again = renewal_notices_task(as_of="2025-02-21")

    assert (first, again) == ({"as_of": "2025-02-21", "queued": 1}, {"as_of": "2025-02-21", "queued": 0})
    (email,) = Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING)
    assert (email.status, email.occurrence) == (EmailStatus.SENT, "2025-02-28")
    assert len(renewal_messages()) == 1


def test_the_day_defaults_to_today_in_seoul(pro_from_jan_31, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: seoul(date(2025, 2, 21)) - timedelta(hours=9, minutes=30))

    assert renewal_notices_task() == {"as_of": "2025-02-21", "queued": 1}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_runs_send_one_notice(postgresql, plans, mailoutbox):
    customer = CustomerFactory.create(user__username="renewing")
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )
    pay(started.invoice, now=seoul(date(2025, 1, 31)))
    mail.outbox.clear()

    results = run_concurrently(lambda index: renewal_notices_task(as_of="2025-02-21"), 2)

    assert not [result for result in results if isinstance(result, Exception)], results
    queued = [result.get("queued", 0) for result in results]
    assert sorted(queued) == [0, 1], results
    assert Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING).count() == 1
    assert len(renewal_messages()) == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_services_past_the_task_lock_queue_one_notice(postgresql, plans, mailoutbox):
    from billing.services.subscription_emails import renewal_notices_queue

    customer = CustomerFactory.create(user__username="renewing-twice")
    started = subscription_create(
        customer=customer, plan=plans["pro"], billing_period="monthly", now=seoul(date(2025, 1, 31))
    )
    pay(started.invoice, now=seoul(date(2025, 1, 31)))
    mail.outbox.clear()

    results = run_concurrently(lambda index: renewal_notices_queue(as_of=date(2025, 2, 21)), 2)

    assert sorted(results) == [0, 1], results
    assert Email.objects.filter(kind=EmailKind.RENEWAL_UPCOMING).count() == 1
    assert len(renewal_messages()) == 1
