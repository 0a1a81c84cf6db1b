"""Reads of credit notes: a customer's own (listed, one by id), and any one by id for staff."""

from django.db.models import Prefetch, QuerySet

from billing.models import CreditNote, CreditNoteLine, Customer, Refund

from .common import not_found


def _with_details(credit_notes: QuerySet[CreditNote]) -> QuerySet[CreditNote]:
    """What a response shows of each note, fetched for a whole page at once: the invoice's number, the lines in
    order and the refunds oldest first (a failed one before the balance refund that replaced it)."""
    return credit_notes.select_related("invoice").prefetch_related(
        Prefetch("lines", queryset=CreditNoteLine.objects.order_by("position", "id")),
        Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "id")),
    )


def credit_note_list(*, customer: Customer | None, invoice_id: int | None = None) -> QuerySet[CreditNote]:
    """The customer's credit notes, newest first; `invoice_id` keeps those of one invoice."""
    if customer is None:
        return CreditNote.objects.none()
    credit_notes = CreditNote.objects.filter(customer=customer)
    if invoice_id is not None:
        credit_notes = credit_notes.filter(invoice_id=invoice_id)
    return _with_details(credit_notes.order_by("-issued_at", "-id"))


def credit_note_get(*, customer: Customer | None, credit_note_id: int) -> CreditNote:
    """One credit note of the customer; another customer's is 404, never 403."""
    credit_note = credit_note_list(customer=customer).filter(pk=credit_note_id).first()
    if credit_note is None:
        raise not_found()
    return credit_note


def credit_note_get_for_staff(*, credit_note_id: int) -> CreditNote:
    """Any credit note by id (the caller has checked billing.view_creditnote or issued it)."""
    credit_note = _with_details(CreditNote.objects.filter(pk=credit_note_id)).first()
    if credit_note is None:
        raise not_found()
    return credit_note
