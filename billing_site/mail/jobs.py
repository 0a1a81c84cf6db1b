"""The email job: `mail.send` hands one Email to the mail server (billing_site.mail.services.email_send)."""

from billing_site.jobs.registry import job_handler

from .services import SEND_JOB, email_send


# The email counts its own attempts (MAIL_MAX_ATTEMPTS) and ends the job when it gives up; this cap only stops a
# misconfiguration from retrying for ever. A send takes seconds (EMAIL_TIMEOUT bounds each SMTP wait).
@job_handler(SEND_JOB, max_attempts=100, lease_seconds=300)
def email_send_job(*, email_id: int, send: int = 1) -> str:
    return email_send(email_id=email_id, send=send)
