"""Statuses of billing documents and the one table of which status may follow which."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    KOREAN = "ko", "한국어"
    ENGLISH = "en", _("English")


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
    PENDING = "pending", _("Pending")
    INVOICED = "invoiced", _("Invoiced")
    PAID = "paid", _("Paid")
    CANCELED = "canceled", _("Canceled")


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open")
    PAID = "paid", _("Paid")
    VOID = "void", _("Void")
    UNCOLLECTIBLE = "uncollectible", _("Uncollectible")


class InvoicePdfStatus(models.TextChoices):
    # A draft has no document; an issued invoice's PDF is pending until the current revision is stored.
    NONE = "none", _("No PDF (draft)")
    PENDING = "pending", _("Pending")
    READY = "ready", _("Ready")


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    OTHER = "other", _("Other")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    REFUNDED = "refunded", _("Refunded")


class InvoiceLineKind(models.TextChoices):
    """What an invoice line is: a charge (or a credit of a plan change), a coupon's discount or credit balance used."""

    ITEM = "item", _("Item")
    DISCOUNT = "discount", _("Discount")
    BALANCE = "balance", _("Credit balance")
    # A metered charge of a period that ended (billed in arrears): its breakdown is on InvoiceLine.usage.
    USAGE = "usage", _("Usage")


class MetricAggregation(models.TextChoices):
    """How a metric's events make one quantity for a period."""

    COUNT = "count", _("Count of events")
    SUM = "sum", _("Sum of values")
    MAX = "max", _("Largest value")
    UNIQUE_COUNT = "unique_count", _("Count of distinct values")
    LATEST = "latest", _("Latest value")


class ChargeModel(models.TextChoices):
    """How a plan prices the billable quantity of a metric (what is left after the included quantity)."""

    PER_UNIT = "per_unit", _("Per unit")
    PACKAGE = "package", _("Per package")
    GRADUATED = "graduated", _("Graduated tiers")
    VOLUME = "volume", _("Volume tiers")


class ApiKeyScope(models.TextChoices):
    """What a server-to-server API key may do."""

    USAGE_WRITE = "usage:write", _("Send usage events")
    ENTITLEMENTS_READ = "entitlements:read", _("Read entitlements and usage")


class CreditNoteReason(models.TextChoices):
    DUPLICATE = "duplicate", _("Duplicate")
    ORDER_CHANGE = "order_change", _("Order change")
    DISCOUNT = "discount", _("Discount")
    GOODWILL = "goodwill", _("Goodwill")
    OTHER = "other", _("Other")


class CreditSettlement(models.TextChoices):
    """Where the part of a credit note beyond what the invoice still asks goes (staff choose)."""

    REFUND = "refund", _("Refund")
    BALANCE = "balance", _("Credit balance")


class RefundMethod(models.TextChoices):
    # Back to the card through the payment provider; an outgoing bank transfer staff made; the credit balance.
    CARD = "card", _("Card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    BALANCE = "balance", _("Credit balance")


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class BalanceEntryKind(models.TextChoices):
    """Why a customer's credit balance changed (billing.models.CustomerBalanceEntry)."""

    OPENING = "opening", _("Opening balance")
    PRORATION_CREDIT = "proration_credit", _("Proration credit")
    CREDIT_NOTE = "credit_note", _("Credit note")
    ADJUSTMENT = "adjustment", _("Manual adjustment")
    APPLIED_TO_INVOICE = "applied_to_invoice", _("Applied to an invoice")
    REFUND_FAILED = "refund_failed", _("Refund failed, credited")
    REFUNDED = "refunded", _("Refunded")


class CouponDuration(models.TextChoices):
    ONCE = "once", _("Once")
    REPEATING = "repeating", _("Repeating")
    FOREVER = "forever", _("Forever")


class IdempotencyKeyState(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")


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


class JobKind:
    """Kinds of billing's background jobs (handlers in billing.jobs; services enqueue them by these names)."""

    INVOICE_PDF_RENDER = "billing.invoice_pdf_render"
    INVOICE_MIRROR = "billing.invoice_mirror"
    WEBHOOK_EVENT_PROCESS = "billing.webhook_event_process"
    SUBSCRIPTION_RENEW = "billing.subscription_renew"
    SUBSCRIPTION_PROVIDER_CANCEL = "billing.subscription_provider_cancel"
    SUBSCRIPTION_PROVIDER_LINK = "billing.subscription_provider_link"
    SUBSCRIBE_ATTEMPT_COMPENSATE = "billing.subscribe_attempt_compensate"
    INVOICE_MIRROR_VOID = "billing.invoice_mirror_void"
    # A dunning step asks the provider to charge the card on file again.
    DUNNING_PROVIDER_RETRY = "billing.dunning_provider_retry"
    CREDIT_NOTE_PDF_RENDER = "billing.credit_note_pdf_render"
    # A card refund asked of the payment provider (one job per Refund row, idempotent at the provider).
    REFUND_PROVIDER_CREATE = "billing.refund_provider_create"
    COUPON_MIRROR = "billing.coupon_mirror"


class EmailKind:
    """Kinds of billing's emails (renderers in billing.emails; services queue them by these names)."""

    INVOICE_ISSUED = "billing.invoice_issued"
    PAYMENT_RECEIVED = "billing.payment_received"
    PAYMENT_FAILED = "billing.payment_failed"
    INVOICE_OVERDUE = "billing.invoice_overdue"
    RENEWAL_UPCOMING = "billing.renewal_upcoming"
    SUBSCRIPTION_CANCELED = "billing.subscription_canceled"
    SUBSCRIPTION_ENDED = "billing.subscription_ended"
    TRIAL_ENDING = "billing.trial_ending"
    SUBSCRIPTION_PAUSED = "billing.subscription_paused"
    CREDIT_NOTE_ISSUED = "billing.credit_note_issued"
    # A metric's usage in the current period crossed 80 % or 100 % of the plan's included quantity.
    USAGE_ALERT = "billing.usage_alert"
