"""One row per side effect to carry out (a PDF to render, a call to the payment provider, an email to send)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class Job(models.Model):
    """A unit of background work. `key` names the effect itself (e.g. `invoice_pdf:42:3`), so asking twice for
    the same effect, in retries or concurrent requests, finds the same row: the unique constraint decides."""

    kind = models.CharField(max_length=100, verbose_name=_("kind"))
    key = models.CharField(max_length=255, unique=True, verbose_name=_("key"))
    payload = models.JSONField(default=dict, blank=True, verbose_name=_("payload"))
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, verbose_name=_("status")
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    max_attempts = models.PositiveIntegerField(default=8, verbose_name=_("max attempts"))
    # Not before: the first run, or the next attempt after a failure (backoff).
    run_after = models.DateTimeField(default=timezone.now, verbose_name=_("run after"))
    # While running: the time after which a run that has not finished counts as lost (its worker died).
    lease_until = models.DateTimeField(null=True, blank=True, verbose_name=_("lease until"))
    # Who runs it: on PostgreSQL the claiming connection's backend pid, so a run whose worker was killed (its
    # connection gone) is taken over at once by the redelivered message instead of waiting for the lease.
    claimed_by = models.CharField(max_length=100, blank=True, default="", verbose_name=_("claimed by"))
    # When a message for it was last handed to the broker (the sweeper re-sends what waits too long).
    enqueued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("enqueued at"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    result = models.CharField(max_length=500, blank=True, default="", verbose_name=_("result"))
    # The request (X-Request-ID) that asked for it, so the worker's log lines can be joined to the request's.
    request_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("request id"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["status", "run_after"], name="jobs_job_status_run_after"),
            models.Index(fields=["kind", "status"], name="jobs_job_kind_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="jobs_job_status_valid"),
        ]
        permissions = [("retry_job", _("Can retry a failed background job"))]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"
