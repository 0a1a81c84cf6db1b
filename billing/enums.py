"""Statuses of billing documents and the one table of which status may follow which."""

from django.db import models


class Language(models.TextChoices):
    KOREAN = "ko", "한국어"
    ENGLISH = "en", "English"


class TaxTreatment(models.TextChoices):
    """How VAT (부가가치세) applies to a customer's supplies; set by staff, never by the customer."""

    TAXABLE = "taxable", "Taxable (과세)"
    ZERO_RATED = "zero_rated", "Zero-rated (영세율)"
    EXEMPT = "exempt", "Exempt (면세)"


class CustomerInvoicePolicy(models.TextChoices):
    """settings.BILLING_CUSTOMER_INVOICES: what customers may invoice themselves (POST /api/payment/invoice)."""

    ANY = "any", "Any amount they choose (the seed's behaviour)"
    ORDERS_ONLY = "orders_only", "Only their own orders"


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    INVOICED = "invoiced", "Invoiced"
    PAID = "paid", "Paid"
    CANCELED = "canceled", "Canceled"


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


class InvoicePdfStatus(models.TextChoices):
    # A draft has no document; an issued invoice's PDF is pending until the current revision is stored.
    NONE = "none", "No PDF (draft)"
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    OTHER = "other", "Other"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REFUNDED = "refunded", "Refunded"


class IdempotencyKeyState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


# The invoice state machine, in one place. Services consult it after locking the row; nothing else
# changes an invoice's status. Corrections to an issued invoice are a void plus a new invoice.
INVOICE_TRANSITIONS: dict[str, frozenset[str]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.OPEN}),
    InvoiceStatus.OPEN: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}),
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}

# Statuses in which an invoice can still receive money.
INVOICE_PAYABLE_STATUSES: frozenset[str] = frozenset({InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE})

# The order follows its invoice: invoiced when one is issued, paid with it, pending again when it is voided
# (so it can be invoiced anew); a pending order can be canceled.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.INVOICED, OrderStatus.CANCELED}),
    OrderStatus.INVOICED: frozenset({OrderStatus.PAID, OrderStatus.PENDING}),
    OrderStatus.PAID: frozenset(),
    OrderStatus.CANCELED: frozenset(),
}


def invoice_transition_allowed(current: str, target: str) -> bool:
    return target in INVOICE_TRANSITIONS.get(current, frozenset())


def order_transition_allowed(current: str, target: str) -> bool:
    return target in ORDER_TRANSITIONS.get(current, frozenset())
