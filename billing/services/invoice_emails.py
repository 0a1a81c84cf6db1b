"""Queue the customer's emails about invoices and payments (issued, receipt, payment failed, overdue reminder,
credit note issued).

Each call runs in the transaction of its event and only writes the `Email` row and its job (billing_site.mail):
the message is rendered and sent by a worker after commit (renderers in billing.emails.invoices). Asking twice
for the same event finds the same row, so a retried or redelivered event mails once.
"""

import hashlib
from typing import Any

from billing.enums import INVOICE_PAYABLE_STATUSES, EmailKind, InvoiceStatus, PaymentStatus
from billing.models import CreditNote, Customer, Invoice, Payment
from billing_site.mail.models import Email
from billing_site.mail.services import email_queue

INVOICE_OBJECT = "billing.invoice"
PAYMENT_OBJECT = "billing.payment"
CREDIT_NOTE_OBJECT = "billing.creditnote"
OCCURRENCE_MAX_LENGTH = 50


def _customer_email_queue(
    *,
    customer_id: int,
    kind: str,
    object_type: str,
    object_id: int,
    occurrence: str = "",
    context: dict[str, Any] | None = None,
    customer: Customer | None = None,
) -> Email | None:
    """The email to the customer's stored billing contacts (never anyone named by a request); `customer` when the
    caller has the row already, as it is in this transaction."""
    if customer is None or customer.pk != customer_id:
        customer = Customer.objects.get(pk=customer_id)
    return email_queue(
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        to=customer.email,
        cc=customer.cc_emails or [],
        user=customer.user_id,
        language=customer.preferred_language,
        occurrence=occurrence,
        context=context,
    )


def _occurrence(value: str) -> str:
    """An occurrence key that fits its column: a longer provider reference becomes its (stable) digest."""
    if len(value) <= OCCURRENCE_MAX_LENGTH:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[: OCCURRENCE_MAX_LENGTH - 7]


def invoice_issued_email_queue(*, invoice: Invoice, customer: Customer | None = None) -> Email | None:
    """The "invoice issued" email with its PDF, once per invoice and recipient (zero total: nothing is due)."""
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValueError(f"Invoice {invoice.pk} is a draft: only an issued invoice is mailed.")
    return _customer_email_queue(
        customer_id=invoice.customer_id,
        kind=EmailKind.INVOICE_ISSUED,
        object_type=INVOICE_OBJECT,
        object_id=invoice.pk,
        customer=customer,
    )


def payment_received_email_queue(*, payment: Payment) -> Email | None:
    """The receipt (영수증) of one succeeded payment."""
    if payment.status != PaymentStatus.SUCCEEDED:
        raise ValueError(f"Payment {payment.pk} is {payment.status}: only money received gets a receipt.")
    return _customer_email_queue(
        customer_id=payment.customer_id,
        kind=EmailKind.PAYMENT_RECEIVED,
        object_type=PAYMENT_OBJECT,
        object_id=payment.pk,
    )


def payment_failed_email_queue(
    *, invoice: Invoice, attempt_reference: str, amount: int, reason: str = ""
) -> Email | None:
    """The "payment failed" email of one failed attempt to pay the invoice, with the amount tried and the reason.

    `attempt_reference` is the provider's charge: each attempt mails once however often its events arrive.
    """
    if not attempt_reference:
        raise ValueError("A failed payment needs the reference of its attempt.")
    return _customer_email_queue(
        customer_id=invoice.customer_id,
        kind=EmailKind.PAYMENT_FAILED,
        object_type=INVOICE_OBJECT,
        object_id=invoice.pk,
        occurrence=_occurrence(attempt_reference),
        context={"amount": amount, "currency": invoice.currency, "reason": reason[:500]},
    )


def invoice_overdue_reminder_queue(*, invoice: Invoice, step: int) -> Email | None:
    """The overdue reminder of dunning step `step` (days past the due date): once per invoice, step and recipient.

    None when the invoice no longer asks for money (paid, voided) or has no due date.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"A dunning step is a number of days past due, not {step!r}.")
    if invoice.status not in INVOICE_PAYABLE_STATUSES or invoice.amount_remaining <= 0 or invoice.due_date is None:
        return None
    return _customer_email_queue(
        customer_id=invoice.customer_id,
        kind=EmailKind.INVOICE_OVERDUE,
        object_type=INVOICE_OBJECT,
        object_id=invoice.pk,
        occurrence=str(step),
        context={"step": step},
    )


def credit_note_issued_email_queue(*, credit_note: CreditNote) -> Email | None:
    """The "credit note issued" email with its PDF, once per credit note and recipient (renderer in
    billing.emails.credit_notes); call it in the transaction that issued the note."""
    return _customer_email_queue(
        customer_id=credit_note.customer_id,
        kind=EmailKind.CREDIT_NOTE_ISSUED,
        object_type=CREDIT_NOTE_OBJECT,
        object_id=credit_note.pk,
    )
