"""Invoice numbers YYYYMMDD-NNNN: the Asia/Seoul day plus a gapless per-day sequence."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import InvoiceNumberSequence

# Invoices are dated in Korea whatever the server's clock zone.
BILLING_TIME_ZONE = ZoneInfo("Asia/Seoul")


def billing_today(*, now: datetime | None = None) -> date:
    """Today's date in Asia/Seoul."""
    return timezone.localtime(now or timezone.now(), BILLING_TIME_ZONE).date()


def invoice_number_format(*, day: date, sequence: int) -> str:
    """20250131-0007; a day past 9999 invoices simply gets wider numbers (20250131-10000)."""
    return f"{day:%Y%m%d}-{sequence:04d}"


def invoice_number_allocate(*, day: date) -> str:
    """The next number of `day`; call it inside the transaction that finalizes the invoice.

    The day's counter row is locked (SELECT ... FOR UPDATE) until that transaction ends, so concurrent
    finalizations take numbers one after another, and a rollback returns the number: no gaps, no duplicates.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_number_allocate must run inside the finalizing transaction.")
    # The first finalization of a day creates the row; ON CONFLICT DO NOTHING makes a concurrent first one
    # wait for it instead of failing.
    InvoiceNumberSequence.objects.bulk_create([InvoiceNumberSequence(day=day, last_number=0)], ignore_conflicts=True)
    counter = InvoiceNumberSequence.objects.select_for_update().get(day=day)
    InvoiceNumberSequence.objects.filter(day=day).update(last_number=F("last_number") + 1)
    return invoice_number_format(day=day, sequence=counter.last_number + 1)
