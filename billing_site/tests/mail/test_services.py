"""Emails (billing_site.mail.services): one row per object, kind and recipient, sent after commit by a job, over
Django's locmem backend and a real SMTP server; retried, given up, resent, and never doubled or lost."""

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from billing.tests.factories import StaffUserFactory
from billing.tests.helpers import run_concurrently
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import job_run
from billing_site.mail import services
from billing_site.mail.models import Email, EmailStatus
from billing_site.mail.services import EmailBusy, email_resend, email_send

from .conftest import NOTICE, notice_queue

pytestmark = pytest.mark.django_db


def send_job(email: Email, send: int = 1) -> Job:
    return Job.objects.get(key=f"mail.send:{email.pk}:{send}")


def queued(capture: Any, *args: Any, **options: Any) -> Email:
    """A notice queued in a committed transaction: its job has run (eagerly, in this process)."""
    with capture(execute=True):
        email = notice_queue(*args, **options)
    assert email is not None
    email.refresh_from_db()
    return email


# --- queueing -------------------------------------------------------------------------------------------------


def test_queueing_writes_one_row_and_one_job_and_asking_again_finds_them():
    first = notice_queue(7, cc=["Ops@Example.com"], language="en", context={"n": 1})
    again = notice_queue(7, cc=["other@example.com"], context={"n": 2})

    assert first is not None and again is not None and again.pk == first.pk
    assert Email.objects.count() == 1 and Job.objects.filter(kind="mail.send").count() == 1
    email = Email.objects.get()
    assert (email.kind, email.object_type, email.object_id, email.to_address) == (
        NOTICE,
        "tests.thing",
        "7",
        "buyer@example.com",
    )
    assert (email.status, email.attempts, email.language, email.context) == (EmailStatus.PENDING, 0, "en", {"n": 1})
    assert email.cc_addresses == ["Ops@Example.com"]
    assert send_job(email).payload == {"email_id": email.pk, "send": 1}


def test_another_occurrence_or_recipient_is_another_email():
    first = notice_queue(7)
    reminder = notice_queue(7, occurrence="step-1")
    other_recipient = notice_queue(7, to="finance@example.com")

    assert first is not None and reminder is not None and other_recipient is not None
    assert len({first.pk, reminder.pk, other_recipient.pk}) == 3
    assert Job.objects.filter(kind="mail.send").count() == 3


@pytest.mark.parametrize("to", ["", None, "   ", "a@b\r\nBcc: x@y", "Name <a@b.com>", "not an address"])
def test_an_unusable_recipient_gives_no_email(to):
    assert notice_queue(to=to) is None
    assert not Email.objects.exists() and not Job.objects.exists()


def test_cc_are_cleaned_deduplicated_and_at_most_three():
    email = notice_queue(
        to="Buyer@Example.com",
        cc=[
            "buyer@example.com",  # the recipient again, in other letters
            "one@example.com",
            "ONE@example.com",
            "evil@example.com\r\nBcc: x@y",
            "Name <two@example.com>",
            "two@example.com",
            "three@example.com",
            "four@example.com",
        ],
    )

    assert email is not None
    assert email.cc_addresses == ["one@example.com", "two@example.com", "three@example.com"]


def test_a_kind_without_a_renderer_is_refused():
    with pytest.raises(ValueError, match="No renderer"):
        services.email_queue(kind="tests.nobody", object_type="tests.thing", object_id=1, to="buyer@example.com")
    assert not Email.objects.exists()


def test_a_rolled_back_event_leaves_no_email_and_sends_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        notice_queue(3)
        raise RuntimeError("the invoice could not be issued")

    assert not Email.objects.exists() and mail.outbox == []


# --- sending --------------------------------------------------------------------------------------------------


def test_the_job_sends_after_commit_through_django_with_a_one_line_subject(django_capture_on_commit_callbacks):
    email = queued(
        django_capture_on_commit_callbacks, 5, cc=["cc@example.com"], context={"subject": "Hi\r\nBcc: evil@x.com"}
    )

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Hi Bcc: evil@x.com"
    assert (message.to, message.cc, message.bcc) == (["buyer@example.com"], ["cc@example.com"], [])
    assert message.extra_headers["Message-ID"] == f"<email-{email.pk}.1@example.com>"
    assert message.alternatives[0][1] == "text/html"
    assert (email.status, email.attempts, email.last_error) == (EmailStatus.SENT, 1, "")
    assert email.sent_at is not None and email.provider_message_id == f"<email-{email.pk}.1@example.com>"
    assert email.subject == "Hi Bcc: evil@x.com"  # as sent
    job = send_job(email)
    assert (job.status, job.result) == (JobStatus.DONE, "sent")


def test_over_smtp_one_message_with_no_injected_header(smtp_mail, django_capture_on_commit_callbacks):
    email = queued(
        django_capture_on_commit_callbacks,
        6,
        cc=["cc@example.com"],
        context={"subject": "결제 안내\r\nBcc: evil@x.com"},
    )

    received = smtp_mail.messages()
    assert len(received) == 1
    message = received[0].message
    assert set(received[0].recipients) == {"buyer@example.com", "cc@example.com"}
    assert message["Bcc"] is None and "evil@x.com" not in received[0].recipients
    assert received[0].subject == "결제 안내 Bcc: evil@x.com"
    assert message["Message-ID"] == f"<email-{email.pk}.1@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["To"] == "buyer@example.com" and message["Cc"] == "cc@example.com"
    assert received[0].body("plain").replace("\r\n", "\n") == "Body of notice 6.\n" and "<p>Notice</p>" in received[
        0
    ].body("html")
    assert (email.status, email.attempts, email.provider_message_id) == (
        EmailStatus.SENT,
        1,
        f"<email-{email.pk}.1@example.com>",
    )
    assert email.sent_at is not None


def test_a_refusing_server_leaves_the_email_pending_and_its_job_retried_later(
    smtp_mail, django_capture_on_commit_callbacks
):
    smtp_mail.refuse_with = "451 4.3.0 try later"
    before = timezone.now()
    email = queued(django_capture_on_commit_callbacks, 8)

    assert smtp_mail.messages() == []
    assert (email.status, email.attempts) == (EmailStatus.PENDING, 1)
    assert "451" in email.last_error and "try later" in email.last_error
    job = send_job(email)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 1)
    assert job.run_after > before + timedelta(seconds=29)

    smtp_mail.refuse_with = ""
    assert job_run(job_id=job.pk, now=job.run_after) is not None
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (EmailStatus.SENT, 2, "")
    assert len(smtp_mail.messages()) == 1


def test_after_mail_max_attempts_the_email_fails_and_its_job_ends(
    smtp_mail, settings, django_capture_on_commit_callbacks
):
    settings.MAIL_MAX_ATTEMPTS = 2
    smtp_mail.refuse_with = "451 4.3.0 try later"
    email = queued(django_capture_on_commit_callbacks, 9)
    job = send_job(email)
    job.refresh_from_db()

    job_run(job_id=job.pk, now=job.run_after)

    email.refresh_from_db()
    job.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.FAILED, 2) and "451" in email.last_error
    assert (job.status, job.result) == (JobStatus.DONE, "failed")
    assert smtp_mail.messages() == []


def test_an_smtp_outage_loses_nothing_and_doubles_nothing(smtp_mail, django_capture_on_commit_callbacks):
    smtp_mail.stop()
    email = queued(django_capture_on_commit_callbacks, 10)
    assert (email.status, email.attempts) == (EmailStatus.PENDING, 1) and email.last_error
    job = send_job(email)

    smtp_mail.start()
    job.refresh_from_db()
    job_run(job_id=job.pk, now=job.run_after + timedelta(seconds=1))
    job_run(job_id=job.pk, now=job.run_after + timedelta(hours=1))  # a redelivered message

    email.refresh_from_db()
    assert [m.message["Message-ID"] for m in smtp_mail.messages()] == [f"<email-{email.pk}.1@example.com>"]
    assert (email.status, email.attempts) == (EmailStatus.SENT, 2)


def test_redelivery_and_repeated_sends_send_once(smtp_mail, django_capture_on_commit_callbacks):
    email = queued(django_capture_on_commit_callbacks, 11)
    job = send_job(email)

    assert job_run(job_id=job.pk) is None  # done: the redelivered message finds nothing to do
    assert email_send(email_id=email.pk) == "nothing to send"
    assert email_send(email_id=email.pk, send=1) == "nothing to send"

    assert len(smtp_mail.messages()) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENT, 1)


class WorkerKilled(BaseException):
    """The worker process dying: nothing after it runs, not even `except Exception`."""


def test_a_worker_killed_mid_send_is_followed_by_one_more_send_with_the_same_message_id(smtp_mail, monkeypatch):
    email = notice_queue(12)  # not committed: the job waits for us to run it
    assert email is not None
    job = send_job(email)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise WorkerKilled

    monkeypatch.setattr(services, "_finish", killed)
    with pytest.raises(WorkerKilled):
        job_run(job_id=job.pk)
    monkeypatch.undo()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENDING, 1)  # the server has it; we never said so

    # The worker died minutes ago: its job's lease ran out, and so did its claim on the email.
    Email.objects.filter(pk=email.pk).update(updated_at=timezone.now() - services.SEND_LEASE)
    job.refresh_from_db()
    job_run(job_id=job.pk, now=job.lease_until + timedelta(seconds=1))

    email.refresh_from_db()
    message_ids = [m.message["Message-ID"] for m in smtp_mail.messages()]
    assert message_ids == [f"<email-{email.pk}.1@example.com>"] * 2  # at least once; receivers drop the duplicate
    assert (email.status, email.attempts) == (EmailStatus.SENT, 2)


def test_an_email_another_worker_is_sending_now_is_retried_later_not_sent_twice(smtp_mail):
    email = notice_queue(13)
    assert email is not None
    Email.objects.filter(pk=email.pk).update(status=EmailStatus.SENDING, attempts=1)

    with pytest.raises(EmailBusy):
        email_send(email_id=email.pk)

    assert smtp_mail.messages() == []
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENDING, 1)


def test_a_renderer_skipping_marks_the_email_skipped_and_sends_nothing(django_capture_on_commit_callbacks):
    email = queued(django_capture_on_commit_callbacks, 14, context={"skip": True})

    assert mail.outbox == []
    assert (email.status, email.last_error, email.sent_at) == (EmailStatus.SKIPPED, "the object moved on", None)
    assert send_job(email).result == "skipped"


def test_logs_of_a_send_name_no_address_and_no_subject(smtp_mail, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    subject = "Secret subject 4417"
    queued(django_capture_on_commit_callbacks, 15, to="private.person@example.com", context={"subject": subject})
    smtp_mail.refuse_with = "451 4.3.0 try later"
    queued(django_capture_on_commit_callbacks, 16, to="private.person@example.com", context={"subject": subject})
    notice_queue(17, to="Private <private.person@example.com>")

    assert len(smtp_mail.messages()) == 1
    # The harness's own SMTP server ("mail.log") is not the application.
    records = [record for record in caplog.records if not record.name.startswith("mail.log")]
    assert any(record.name == "billing_site.mail.services" for record in records)
    formatter = logging.Formatter()
    for record in records:
        text = formatter.format(record)  # the message with its traceback, as a log handler writes it
        assert "private.person" not in text and "Secret subject" not in text, (record.name, text)


def test_a_refused_recipient_is_named_neither_in_the_email_row_nor_in_any_log(
    smtp_mail, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    smtp_mail.refuse_recipients = {"gone.person@example.com"}
    email = queued(django_capture_on_commit_callbacks, 18, to="Gone.Person@example.com")

    email.refresh_from_db()
    assert email.status == EmailStatus.PENDING
    assert "550" in email.last_error and "<recipient>" in email.last_error
    assert "gone.person" not in email.last_error.lower()
    job = Job.objects.get(key=f"mail.send:{email.pk}:1")
    assert job.status == "pending"
    assert "gone.person" not in (job.result + job.last_error).lower()
    formatter = logging.Formatter()
    for record in caplog.records:
        if not record.name.startswith("mail.log"):
            assert "gone.person" not in formatter.format(record).lower(), record.name
    assert smtp_mail.messages() == []


# --- staff resend ---------------------------------------------------------------------------------------------


def test_resend_needs_the_permission_and_is_staff_alone_grants_nothing(support_user):
    email = notice_queue(20)
    assert email is not None
    Email.objects.filter(pk=email.pk).update(status=EmailStatus.FAILED)

    for actor in (StaffUserFactory.create(username="bare-staff"), support_user):
        with pytest.raises(ApplicationError) as denied:
            email_resend(email=email, actor=actor)
        assert (denied.value.code, denied.value.status_code) == ("permission_denied", 403)
    email.refresh_from_db()
    assert (email.status, email.sends_requested) == (EmailStatus.FAILED, 1)


def test_resend_refuses_an_email_still_being_sent(billing_staff_user):
    email = notice_queue(21)
    assert email is not None

    with pytest.raises(ApplicationError) as refused:
        email_resend(email=email, actor=billing_staff_user)

    assert (refused.value.code, refused.value.status_code) == ("email_in_progress", 409)
    assert Job.objects.filter(kind="mail.send").count() == 1


def test_a_failed_email_resent_by_staff_is_sent_with_a_new_job_and_message_id(
    smtp_mail, settings, billing_staff_user, django_capture_on_commit_callbacks
):
    settings.MAIL_MAX_ATTEMPTS = 1
    smtp_mail.refuse_with = "451 4.3.0 try later"
    email = queued(django_capture_on_commit_callbacks, 22)
    assert email.status == EmailStatus.FAILED

    smtp_mail.refuse_with = ""
    with django_capture_on_commit_callbacks(execute=True):
        email_resend(email=email, actor=billing_staff_user)

    email.refresh_from_db()
    assert (email.status, email.sends_requested, email.attempts) == (EmailStatus.SENT, 2, 1)
    assert send_job(email, 2).status == JobStatus.DONE and send_job(email, 1).result == "failed"
    assert [m.message["Message-ID"] for m in smtp_mail.messages()] == [f"<email-{email.pk}.2@example.com>"]
    assert job_run(job_id=send_job(email, 1).pk) is None and email_send(email_id=email.pk, send=1) == "nothing to send"
    assert len(smtp_mail.messages()) == 1


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_events_queue_one_email_and_send_one_message(postgresql, smtp_mail):
    def event(index: int) -> int | None:
        with transaction.atomic():
            email = notice_queue(30)
            return None if email is None else email.pk

    results = run_concurrently(event, 4)

    assert all(isinstance(result, int) for result in results), results
    assert len(set(results)) == 1 and Email.objects.count() == 1
    assert Job.objects.filter(kind="mail.send").count() == 1
    assert len(smtp_mail.messages()) == 1
    assert Email.objects.get().status == EmailStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_of_one_email_send_one_message(postgresql, smtp_mail):
    email = notice_queue(31)  # autocommit: its job ran at once; put it back to pending for the race
    assert email is not None
    smtp_mail.reset()
    Email.objects.filter(pk=email.pk).update(status=EmailStatus.PENDING, attempts=0, sent_at=None)

    def send(index: int) -> str:
        try:
            return email_send(email_id=email.pk)
        except EmailBusy:
            return "busy"

    results = run_concurrently(send, 2)

    assert sorted(results) == ["busy", "sent"] or sorted(results) == ["nothing to send", "sent"], results
    assert len(smtp_mail.messages()) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.SENT, 1)
