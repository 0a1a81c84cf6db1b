"""The background jobs page (billing_site.jobs): what workers did, what waits, what failed and why; a chart of the
last day's jobs per kind and status above the list, and "run again" for failed jobs (permission jobs.retry_job)."""

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing_site.admin_bases import SystemRecordAdmin
from billing_site.jobs.models import Job, JobStatus
from billing_site.jobs.services import job_retry

from .common import DateRangeFilter, report_each, seoul
from .dashboard import Series, bar_chart

STATUS_COLORS = {
    JobStatus.DONE: "#417690",
    JobStatus.PENDING: "#e6a23c",
    JobStatus.RUNNING: "#79aec8",
    JobStatus.FAILED: "#ba2121",
}


def jobs_chart(*, since_hours: int = 24) -> Any:
    """Jobs created in the last `since_hours`, per kind, one bar per status."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        Job.objects.filter(created_at__gte=timezone.now() - timedelta(hours=since_hours))
        .values("kind", "status")
        .annotate(total=Count("id"))
    )
    for row in rows:
        counts[row["kind"]][row["status"]] = row["total"]
    kinds = sorted(counts)
    return bar_chart(
        title=gettext("Background jobs of the last %(hours)s hours") % {"hours": since_hours},
        labels=[kind.split(".", 1)[-1] for kind in kinds],
        series=[
            Series(str(JobStatus(status).label), [counts[kind].get(status, 0) for kind in kinds], color)
            for status, color in STATUS_COLORS.items()
        ],
    )


@admin.register(Job)
class JobAdmin(SystemRecordAdmin):
    list_display = ["id", "kind", "key", "status", "attempts", "created", "run_after_seoul", "result"]
    list_filter = ["status", "kind", ("created_at", DateRangeFilter)]
    search_fields = ["=key", "kind", "result"]
    ordering = ["-id"]
    actions = ["retry_selected"]
    change_list_template = "admin/jobs/job/change_list.html"

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("jobs.retry_job"))

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, job: Job) -> str:
        return seoul(job.created_at)

    @admin.display(description=_("run after"), ordering="run_after")
    def run_after_seoul(self, job: Job) -> str:
        return seoul(job.run_after)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        waiting = Job.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).count()
        failed = Job.objects.filter(status=JobStatus.FAILED).count()
        context = {"jobs_chart": jobs_chart(), "jobs_waiting": waiting, "jobs_failed": failed}
        return super().changelist_view(request, extra_context={**(extra_context or {}), **context})

    @admin.action(description=_("Run the selected jobs again"), permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        report_each(
            request,
            self,
            queryset.order_by("id"),
            operation=lambda job: job_retry(job=job, actor=request.user),
            success=gettext("{object}: queued again"),
        )
