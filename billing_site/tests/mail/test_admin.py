"""The emails page of the admin (billing_site.mail.admin): who sees it, the chart, the preview, "send again", and
the table of a user's emails that the customer's page shows."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone, translation

from billing.tests.factories import StaffUserFactory, UserFactory
from billing_site.jobs.models import Job
from billing_site.mail.admin import emails_per_day, emails_table_html
from billing_site.mail.models import Email, EmailStatus
from billing_site.tests.helpers import admin_session

from .conftest import NOTICE, notice_queue

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/mail/email/"


def failed_email(object_id: int = 1, **options: Any) -> Email:
    email = notice_queue(object_id, **options)
    assert email is not None
    Email.objects.filter(pk=email.pk).update(status=EmailStatus.FAILED, attempts=8, last_error="451 try later")
    email.refresh_from_db()
    return email


def test_billing_staff_see_the_list_and_the_chart_and_can_resend(billing_staff_admin_client):
    email = failed_email(1)
    sent = notice_queue(2, to="other@example.com")
    assert sent is not None
    Email.objects.filter(pk=sent.pk).update(status=EmailStatus.SENT, sent_at=timezone.now())

    page = billing_staff_admin_client.get(CHANGELIST)

    assert page.status_code == 200
    content = page.content.decode()
    assert "emails-chart" in content and "<script" not in content.split("emails-chart")[1].split("</svg>")[0]
    assert "buyer@example.com" in content and "other@example.com" in content
    assert 'value="resend_selected"' in content

    response = billing_staff_admin_client.post(
        CHANGELIST, {"action": "resend_selected", "_selected_action": [email.pk, sent.pk]}, follow=True
    )

    assert response.status_code == 200
    email.refresh_from_db()
    sent.refresh_from_db()
    assert (email.status, email.sends_requested, email.attempts) == (EmailStatus.PENDING, 2, 0)
    assert sent.sends_requested == 2  # a sent one the customer says they lost: sent again too
    assert Job.objects.filter(key=f"mail.send:{email.pk}:2").exists()


def test_resend_of_an_email_still_pending_is_refused_with_a_message(billing_staff_admin_client):
    email = notice_queue(3)
    assert email is not None

    response = billing_staff_admin_client.post(
        CHANGELIST, {"action": "resend_selected", "_selected_action": [email.pk]}, follow=True
    )

    assert "This email is being sent; wait for it." in response.content.decode()
    email.refresh_from_db()
    assert (email.status, email.sends_requested) == (EmailStatus.PENDING, 1)


def test_support_see_the_emails_but_cannot_resend(support_admin_client):
    email = failed_email(4)

    page = support_admin_client.get(CHANGELIST)
    response = support_admin_client.post(CHANGELIST, {"action": "resend_selected", "_selected_action": [email.pk]})

    assert page.status_code == 200 and "buyer@example.com" in page.content.decode()
    assert 'value="resend_selected"' not in page.content.decode()
    assert response.status_code in (200, 302)
    email.refresh_from_db()
    assert (email.status, email.sends_requested) == (EmailStatus.FAILED, 1)


def test_staff_without_permissions_get_403():
    email = failed_email(5)
    client = admin_session(StaffUserFactory.create(username="bare-staff"))

    assert client.get(CHANGELIST).status_code == 403
    assert client.get(f"{CHANGELIST}{email.pk}/change/").status_code == 403


def test_nothing_is_added_changed_or_deleted_through_the_admin(superuser):
    email = failed_email(6)
    client = admin_session(superuser)

    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.get(f"{CHANGELIST}{email.pk}/delete/").status_code == 403
    change = client.get(f"{CHANGELIST}{email.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    client.post(f"{CHANGELIST}{email.pk}/change/", {"to_address": "attacker@example.com", "status": "sent"})
    email.refresh_from_db()
    assert (email.to_address, email.status) == ("buyer@example.com", EmailStatus.FAILED)


def test_a_superuser_sees_the_rendered_message_escaped(superuser):
    email = failed_email(7, context={"subject": "<b>Invoice</b> & you"})

    page = admin_session(superuser).get(f"{CHANGELIST}{email.pk}/change/")

    content = page.content.decode()
    assert page.status_code == 200
    assert "&lt;b&gt;Invoice&lt;/b&gt; &amp; you" in content and "<b>Invoice</b>" not in content
    assert "Body of notice 7." in content


def test_the_preview_of_an_email_whose_renderer_skips_says_so(superuser):
    email = failed_email(8, context={"skip": True})

    page = admin_session(superuser).get(f"{CHANGELIST}{email.pk}/change/")

    assert page.status_code == 200 and "the object moved on" in page.content.decode()


def test_search_and_filters(billing_staff_admin_client):
    failed_email(9, to="findme@example.com")
    failed_email(10, to="other@example.com")

    by_address = billing_staff_admin_client.get(CHANGELIST, {"q": "findme"}).content.decode()
    by_object = billing_staff_admin_client.get(CHANGELIST, {"q": "10"}).content.decode()
    by_status = billing_staff_admin_client.get(CHANGELIST, {"status__exact": "sent"}).content.decode()

    assert "findme@example.com" in by_address and "other@example.com" not in by_address
    assert "other@example.com" in by_object and "findme@example.com" not in by_object
    assert "findme@example.com" not in by_status and "other@example.com" not in by_status


def test_the_chart_counts_emails_per_day_and_status():
    today = timezone.localdate()
    for index in range(3):
        notice_queue(100 + index)
    old = failed_email(200)
    Email.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    failed_email(201)
    ancient = failed_email(202)
    Email.objects.filter(pk=ancient.pk).update(created_at=timezone.now() - timedelta(days=30))

    days, series = emails_per_day(today=today)

    assert len(days) == 14 and days[-1] == today
    assert series[EmailStatus.PENDING][-1] == 3 and series[EmailStatus.FAILED][-1] == 1
    assert series[EmailStatus.FAILED][-3] == 1 and sum(series[EmailStatus.FAILED]) == 2


def test_emails_table_lists_a_users_emails_escaped_with_links():
    user = UserFactory.create(username="table-owner")
    mine = notice_queue(300, to="o'brien@example.com", user=user)
    notice_queue(301, to="someone.else@example.com")
    assert mine is not None

    html = emails_table_html(user_id=user.pk)

    assert f'href="/admin/mail/email/{mine.pk}/change/"' in html
    assert "o&#x27;brien@example.com" in html and "someone.else" not in html
    assert NOTICE in html
    with translation.override("en"):
        assert emails_table_html(user_id=UserFactory.create(username="nobody").pk) == "<p>No emails yet.</p>"
