"""Invoices, their lines and the per-day counters that number them (YYYYMMDD-NNNN, Asia/Seoul)."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import InvoiceLineKind, InvoicePdfStatus, InvoiceStatus, Language, TaxTreatment

from .customers import Customer
from .orders import Order


class Invoice(models.Model):
    """An invoice in minor units of `currency`. Draft until finalized; once issued its money never changes.

    Status changes only through billing.services.invoices (lock, re-check, change); the allowed moves are
    billing.enums.INVOICE_TRANSITIONS. The database refuses edits of IMMUTABLE_AFTER_ISSUE on an issued
    invoice and any change of its lines (migration 0002, columns extended by 0011).
    """

    # Fields frozen once the invoice leaves draft. Migration 0002's trigger (its column list extended by 0011)
    # refuses any change of them on an issued invoice (it keeps its own copy of this list); no service writes them
    # after finalizing, the admin shows an issued invoice read-only and the API has no route that edits an invoice.
    IMMUTABLE_AFTER_ISSUE = (
        "customer",
        "order",
        "number",
        "currency",
        "description",
        "subtotal",
        "tax",
        "total",
        "days_until_due",
        "issue_date",
        "due_date",
        "finalized_at",
        "language",
        "buyer_name",
        "buyer_email",
        "buyer_business_number",
        "buyer_address",
        "buyer_representative",
        "buyer_business_type",
        "buyer_business_item",
        "tax_treatment",
        "vat_rate_basis_points",
        "tax_basis",
    )

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("customer")
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("order")
    )
    # An invoice that bills a subscription period is linked by SubscriptionInvoice (`invoice.subscription_link`).
    number = models.CharField(
        max_length=20,
        unique=True,
        null=True,
        blank=True,
        help_text="YYYYMMDD-NNNN; set at finalization.",
        verbose_name=_("number"),
    )
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT, verbose_name=_("status")
    )
    currency = models.CharField(max_length=3, default="KRW", verbose_name=_("currency"))
    description = models.CharField(max_length=500, blank=True, default="", verbose_name=_("description"))
    subtotal = models.BigIntegerField(
        default=0, help_text="Supply amount (공급가액), minor units.", verbose_name=_("subtotal")
    )
    tax = models.BigIntegerField(default=0, help_text="VAT (부가세), minor units.", verbose_name=_("tax"))
    total = models.BigIntegerField(default=0, help_text="subtotal + tax (합계), minor units.", verbose_name=_("total"))
    # The VAT the invoice was computed with, fixed when it is issued (issue 17): the customer's treatment then, the
    # rate in effect on its issue date (0 unless taxable) and, for zero-rated or exempt supplies, the legal basis
    # printed on it. A later change of the customer's treatment or of the rate never changes an issued invoice;
    # its credit notes follow it.
    tax_treatment = models.CharField(
        max_length=16, choices=TaxTreatment.choices, default=TaxTreatment.TAXABLE, verbose_name=_("tax treatment")
    )
    vat_rate_basis_points = models.PositiveIntegerField(
        default=0, help_text="VAT rate in basis points (1000 = 10%).", verbose_name=_("VAT rate")
    )
    tax_basis = models.CharField(
        max_length=200, blank=True, default="", help_text="Legal basis of a 0% VAT.", verbose_name=_("tax basis")
    )
    amount_paid = models.BigIntegerField(default=0, verbose_name=_("amount paid"))
    amount_remaining = models.BigIntegerField(
        default=0,
        help_text="What it still asks: total - amount_paid - the credit notes' pre-payment amounts.",
        verbose_name=_("amount remaining"),
    )
    # Credit notes issued against it (their totals), and the money they gave back (refunds to the card, by bank
    # transfer or to the credit balance; a failed card refund is replaced by a balance one).
    amount_credited = models.BigIntegerField(default=0, db_default=0, verbose_name=_("amount credited"))
    amount_refunded = models.BigIntegerField(default=0, db_default=0, verbose_name=_("amount refunded"))
    days_until_due = models.PositiveSmallIntegerField(default=30, verbose_name=_("days until due"))
    issue_date = models.DateField(
        null=True, blank=True, help_text="Asia/Seoul date of finalization.", verbose_name=_("issue date")
    )
    due_date = models.DateField(null=True, blank=True, verbose_name=_("due date"))
    finalized_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finalized at"))
    paid_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paid at"))
    voided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("voided at"))
    marked_uncollectible_at = models.DateTimeField(null=True, blank=True, verbose_name=_("marked uncollectible at"))

    # The buyer as it was when the invoice was issued: later profile edits do not rewrite issued documents.
    language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.KOREAN, verbose_name=_("language")
    )
    buyer_name = models.CharField(max_length=200, blank=True, default="", verbose_name=_("buyer name"))
    buyer_email = models.EmailField(max_length=254, blank=True, default="", verbose_name=_("buyer email"))
    buyer_business_number = models.CharField(
        max_length=10, blank=True, default="", verbose_name=_("buyer business number")
    )
    buyer_address = models.CharField(max_length=500, blank=True, default="", verbose_name=_("buyer address"))
    # With a database default as well: rows written with raw SQL (billing_bench_seed) need not name them.
    buyer_representative = models.CharField(
        max_length=100, blank=True, default="", db_default="", verbose_name=_("buyer representative")
    )
    buyer_business_type = models.CharField(
        max_length=100, blank=True, default="", db_default="", verbose_name=_("buyer business type")
    )
    buyer_business_item = models.CharField(
        max_length=100, blank=True, default="", db_default="", verbose_name=_("buyer business item")
    )

    # The PDF of the current revision; `pdf_revision` grows with every change the document must show.
    pdf_file = models.ForeignKey(
        "storage.StoredFile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("pdf file"),
    )
    pdf_status = models.CharField(
        max_length=8, choices=InvoicePdfStatus.choices, default=InvoicePdfStatus.NONE, verbose_name=_("pdf status")
    )
    pdf_revision = models.PositiveIntegerField(default=0, verbose_name=_("pdf revision"))
    pdf_rendered_revision = models.PositiveIntegerField(default=0, verbose_name=_("pdf rendered revision"))
    pdf_error = models.CharField(max_length=500, blank=True, default="", verbose_name=_("pdf error"))

    # Filled by the Stripe integration when Stripe is on.
    stripe_invoice_id = models.CharField(max_length=255, blank=True, default="", verbose_name=_("stripe invoice id"))
    stripe_hosted_invoice_url = models.URLField(
        max_length=1000, blank=True, default="", verbose_name=_("stripe hosted invoice url")
    )

    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-finalized_at", "-id"], name="billing_inv_customer_issued"),
            models.Index(fields=["status", "due_date"], name="billing_invoice_status_due"),
            models.Index(fields=["id"], condition=Q(pdf_status="pending"), name="billing_invoice_pdf_pending"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=InvoiceStatus.values), name="billing_invoice_status_valid"),
            models.CheckConstraint(
                condition=Q(status=InvoiceStatus.DRAFT, number__isnull=True, finalized_at__isnull=True)
                | (
                    ~Q(status=InvoiceStatus.DRAFT)
                    & Q(
                        number__isnull=False,
                        issue_date__isnull=False,
                        due_date__isnull=False,
                        finalized_at__isnull=False,
                    )
                ),
                name="billing_invoice_number_iff_issued",
            ),
            models.CheckConstraint(condition=Q(subtotal__gte=0), name="billing_invoice_subtotal_non_negative"),
            models.CheckConstraint(condition=Q(tax__gte=0), name="billing_invoice_tax_non_negative"),
            models.CheckConstraint(
                condition=Q(tax_treatment__in=TaxTreatment.values), name="billing_invoice_tax_treatment_valid"
            ),
            # Zero-rated and exempt supplies carry no VAT at any rate.
            models.CheckConstraint(
                condition=Q(tax_treatment=TaxTreatment.TAXABLE) | Q(tax=0, vat_rate_basis_points=0),
                name="billing_invoice_untaxed_no_vat",
            ),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax")), name="billing_invoice_total_sum"),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="billing_invoice_paid_non_negative"),
            models.CheckConstraint(condition=Q(amount_remaining__gte=0), name="billing_invoice_remaining_non_negative"),
            models.CheckConstraint(condition=Q(amount_credited__gte=0), name="billing_invoice_credited_non_negative"),
            models.CheckConstraint(condition=Q(amount_refunded__gte=0), name="billing_invoice_refunded_non_negative"),
            models.CheckConstraint(
                condition=Q(amount_credited__lte=F("total")), name="billing_invoice_credited_within_total"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount_paid")), name="billing_invoice_refunded_within_paid"
            ),
            # total - credited = paid - refunded + remaining: every won of an invoice is asked, paid or credited.
            models.CheckConstraint(
                condition=Q(
                    total=F("amount_paid") + F("amount_remaining") + F("amount_credited") - F("amount_refunded")
                ),
                name="billing_invoice_money_balances",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.PAID) | Q(paid_at__isnull=False, amount_remaining=0),
                name="billing_invoice_paid_has_paid_at",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.VOID) | Q(voided_at__isnull=False),
                name="billing_invoice_void_has_voided_at",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.UNCOLLECTIBLE) | Q(marked_uncollectible_at__isnull=False),
                name="billing_invoice_uncollectible_has_timestamp",
            ),
            models.CheckConstraint(
                condition=Q(due_date__isnull=True) | Q(due_date__gte=F("issue_date")),
                name="billing_invoice_due_after_issue",
            ),
            models.CheckConstraint(condition=Q(days_until_due__lte=365), name="billing_invoice_due_days_range"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_invoice_currency_iso"),
            models.CheckConstraint(
                condition=Q(pdf_status__in=InvoicePdfStatus.values), name="billing_invoice_pdf_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.DRAFT) | Q(pdf_status=InvoicePdfStatus.NONE),
                name="billing_invoice_draft_has_no_pdf",
            ),
            models.UniqueConstraint(
                fields=["stripe_invoice_id"],
                condition=~Q(stripe_invoice_id=""),
                name="billing_invoice_stripe_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft invoice {self.pk}"

    @property
    def is_issued(self) -> bool:
        return self.status != InvoiceStatus.DRAFT


class InvoiceLine(models.Model):
    """One line of an invoice. `unit_amount` may be negative (a credit, e.g. a pro rata refund of a plan change, a
    coupon's discount or credit balance used: `kind` says which)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice"))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))
    kind = models.CharField(
        max_length=16,
        choices=InvoiceLineKind.choices,
        default=InvoiceLineKind.ITEM,
        db_default=InvoiceLineKind.ITEM,
        verbose_name=_("kind"),
    )
    description = models.CharField(max_length=500, verbose_name=_("description"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    unit_amount = models.BigIntegerField(
        help_text="Minor units of the invoice's currency.", verbose_name=_("unit amount")
    )
    amount = models.BigIntegerField(help_text="quantity x unit_amount.", verbose_name=_("amount"))
    period_start = models.DateField(null=True, blank=True, verbose_name=_("period start"))
    period_end = models.DateField(null=True, blank=True, verbose_name=_("period end"))
    # A usage line's metric and breakdown (quantity, included, billable, charge model, tier slices), for the PDF.
    metric = models.ForeignKey(
        "billing.BillableMetric",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("metric"),
    )
    usage = models.JSONField(null=True, blank=True, verbose_name=_("usage"))

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="billing_invoice_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(kind__in=InvoiceLineKind.values), name="billing_invoice_line_kind_valid"
            ),
            # Only a usage line has a metric and a breakdown, and it always has both.
            models.CheckConstraint(
                condition=Q(kind=InvoiceLineKind.USAGE, metric__isnull=False, usage__isnull=False)
                | (~Q(kind=InvoiceLineKind.USAGE) & Q(metric__isnull=True, usage__isnull=True)),
                name="billing_invoice_line_usage_detail",
            ),
            # A discount or the credit balance only ever takes money off.
            models.CheckConstraint(
                condition=Q(kind__in=[InvoiceLineKind.ITEM, InvoiceLineKind.USAGE]) | Q(unit_amount__lte=0),
                name="billing_invoice_line_credit_kinds",
            ),
            models.CheckConstraint(
                condition=Q(amount=F("quantity") * F("unit_amount")), name="billing_invoice_line_amount_product"
            ),
            models.CheckConstraint(
                condition=Q(period_start__isnull=True, period_end__isnull=True)
                | Q(period_start__isnull=False, period_end__isnull=False, period_end__gte=F("period_start")),
                name="billing_invoice_line_period_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.description


class InvoiceNumberSequence(models.Model):
    """The last invoice number handed out on one Asia/Seoul day.

    Locked with SELECT ... FOR UPDATE inside the finalizing transaction, so concurrent finalizations queue
    on it and a rolled-back finalization gives its number back.
    """

    day = models.DateField(primary_key=True, verbose_name=_("day"))
    last_number = models.PositiveIntegerField(default=0, verbose_name=_("last number"))

    class Meta:
        verbose_name = _("invoice number sequence")
        verbose_name_plural = _("invoice number sequences")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day:%Y%m%d}: {self.last_number}"
