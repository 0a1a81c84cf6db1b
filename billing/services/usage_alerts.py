"""Usage alerts: the email a customer gets when their usage of a metric reaches 80 % and then 100 % of what their plan
includes, once per period and threshold (UsageAlert's unique constraint)."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.enums import EmailKind
from billing.models import Customer, UsageAlert
from billing.models.usage import USAGE_ALERT_THRESHOLDS
from billing.selectors.usage import usage_changed_customer_ids
from billing_site.mail.services import email_queue

from .usage_reads import UsageSummary, usage_report

logger = logging.getLogger(__name__)

USAGE_ALERT_OBJECT = "billing.usage_alert"


def thresholds_reached(*, quantity: int, included: int) -> list[int]:
    """The alert thresholds (percent of `included`) that `quantity` has reached; none when nothing is included."""
    if included <= 0:
        return []
    # In integers: 80 % of 7 included is reached at 5.6, so at 6.
    return [threshold for threshold in USAGE_ALERT_THRESHOLDS if quantity * 100 >= threshold * included]


def usage_alerts_check(*, since: datetime, now: datetime | None = None) -> int:
    """Alert the customers whose rollups changed at or after `since`: for each metric their live subscription's
    plan charges with an included quantity, the thresholds (80 %, 100 %) the current period's quantity has reached
    get a UsageAlert row and an email (EmailKind.USAGE_ALERT), both in one transaction per customer. Returns how
    many alert rows were written.

    Each threshold is alerted once per customer, metric and period (the row's unique constraint, also between two
    concurrent runs); the next period alerts again. A check that finds several thresholds newly reached at once
    (usage went from under 80 % to over 100 % between two checks) records them all but emails only the highest:
    one email saying "100 % reached" and no stale "80 %" one. The 80 % row is still written, so that a metric whose
    quantity can fall again (max, latest) never sends an 80 % email after the 100 % one.

    `since` overlaps the previous run (the periodic task looks back twice its interval), so a late or missed run
    loses nothing and a repeated look sends nothing twice. One customer's failure is logged and skips only them.
    """
    now = now or timezone.now()
    written = 0
    for customer_id in usage_changed_customer_ids(since=since):
        try:
            written += _customer_alerts_check(customer_id=customer_id, now=now)
        except Exception:  # one customer's broken data must not stop everyone else's alerts
            logger.exception("usage alerts of customer %s failed", customer_id)
    return written


@transaction.atomic
def _customer_alerts_check(*, customer_id: int, now: datetime) -> int:
    customer = Customer.objects.select_related("user").get(pk=customer_id)
    report = usage_report(customer=customer, language=customer.preferred_language, now=now)
    if report.period_start is None or report.period_end is None:
        return 0
    already = set(
        UsageAlert.objects.filter(customer=customer, period_start=report.period_start).values_list(
            "metric_id", "threshold"
        )
    )
    written = 0
    for summary in report.metrics:
        reached = thresholds_reached(quantity=summary.quantity, included=summary.included)
        for threshold in reached:
            if (summary.metric.pk, threshold) in already:
                continue
            alert = _alert_insert(customer=customer, summary=summary, threshold=threshold)
            if alert is None:
                continue
            written += 1
            # Only the highest threshold reached is announced, and only by the run that wrote its row.
            if threshold == reached[-1]:
                _alert_email_queue(customer=customer, alert=alert, period_end=report.period_end.isoformat())
    return written


def _alert_insert(*, customer: Customer, summary: UsageSummary, threshold: int) -> UsageAlert | None:
    """The new alert row, or None when another run wrote it first (it waited for that run to commit)."""
    try:
        with transaction.atomic():
            return UsageAlert.objects.create(
                customer=customer,
                metric=summary.metric,
                period_start=summary.period_start,
                threshold=threshold,
                quantity=summary.quantity,
                included_quantity=summary.included,
            )
    except IntegrityError:
        return None


def _alert_email_queue(*, customer: Customer, alert: UsageAlert, period_end: str) -> None:
    email_queue(
        kind=EmailKind.USAGE_ALERT,
        object_type=USAGE_ALERT_OBJECT,
        object_id=alert.pk,
        to=customer.email,
        cc=customer.cc_emails or [],
        user=customer.user,
        language=customer.preferred_language,
        # The alert row keeps the period's first day; its end may move (a plan change) before the email is sent.
        context={"period_end": period_end},
    )
