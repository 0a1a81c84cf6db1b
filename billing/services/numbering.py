"""Document numbers: invoices YYYYMMDD-NNNN and credit notes YYYYMMDD-CNNNN, the Asia/Seoul day plus a gapless
per-day sequence of each kind."""

from datetime import date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import CreditNoteNumberSequence, InvoiceNumberSequence

# Invoices are dated in Korea whatever the server's clock zone.
BILLING_TIME_ZONE = ZoneInfo("Asia/Seoul")

# The per-day counter tables, one per document series.
Counter = TypeVar("Counter", InvoiceNumberSequence, CreditNoteNumberSequence)


def billing_today(*, now: datetime | None = None) -> date:
    """Today's date in Asia/Seoul."""
    return timezone.localtime(now or timezone.now(), BILLING_TIME_ZONE).date()


def invoice_number_format(*, day: date, sequence: int) -> str:
    """20250131-0007; a day past 9999 invoices simply gets wider numbers (20250131-10000)."""
    return f"{day:%Y%m%d}-{sequence:04d}"


def credit_note_number_format(*, day: date, sequence: int) -> str:
    """20250131-C0007: the invoice format with a C, so the two series can never be mistaken for each other."""
    return f"{day:%Y%m%d}-C{sequence:04d}"


def _sequence_next(model: type[Counter], *, day: date) -> int:
    """The next number of `day` in `model`'s series, its counter row locked until the transaction ends.

    The day's counter row is locked (SELECT ... FOR UPDATE) until that transaction ends, so concurrent
    documents take numbers one after another, and a rollback returns the number: no gaps, no duplicates.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{model.__name__} numbers are taken inside the transaction that issues the document.")
    # The first document of a day creates the row; ON CONFLICT DO NOTHING makes a concurrent first one
    # wait for it instead of failing.
    model.objects.bulk_create([model(day=day, last_number=0)], ignore_conflicts=True)
    counter = model.objects.select_for_update().get(day=day)
    model.objects.filter(day=day).update(last_number=F("last_number") + 1)
    return counter.last_number + 1


def invoice_number_allocate(*, day: date) -> str:
    """The next invoice number of `day`; call it inside the transaction that finalizes the invoice."""
    return invoice_number_format(day=day, sequence=_sequence_next(InvoiceNumberSequence, day=day))


def credit_note_number_allocate(*, day: date) -> str:
    """The next credit note number of `day` (its own series); call it last in the transaction that issues it."""
    return credit_note_number_format(day=day, sequence=_sequence_next(CreditNoteNumberSequence, day=day))
