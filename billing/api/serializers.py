"""Request and response bodies of the billing API. Money is integer minor units; `*_krw` mirrors KRW amounts.

Plans, subscriptions and checkout have theirs in subscription_serializers.py (this module was at the size limit).
"""

from typing import Any

from django.urls import reverse
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request

from billing.enums import Language, TaxTreatment
from billing.models import Invoice, InvoiceLine, Order, OrderItem
from billing.selectors.history import HISTORY_TYPES


@extend_schema_field(OpenApiTypes.INT64)
class MinorUnitsField(serializers.Field):
    """An amount in minor units: a JSON integer only (no strings, no 1000.0: no float touches money)."""

    default_error_messages = {"invalid": "Must be an integer number of minor units (won for KRW, cents for USD)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data

    def to_representation(self, value: int) -> int:
        return int(value)


def krw(currency: str, amount: int) -> int | None:
    """The `*_krw` mirror of an amount: the same number for a KRW amount, null for any other currency."""
    return int(amount) if currency == "KRW" else None


def _krw(instance: Any, field: str) -> int | None:
    return krw(instance.currency, getattr(instance, field))


def request_language() -> str:
    """The request's language (Accept-Language through LocaleMiddleware); Korean unless English was asked for."""
    return Language.ENGLISH if (translation.get_language() or "").startswith("en") else Language.KOREAN


def invoice_pdf_api_url(request: Request | None, invoice_id: int) -> str:
    """The API link that redirects to a fresh signed PDF URL (absolute when there is a request)."""
    path = reverse("billing-invoice-pdf", kwargs={"invoice_id": invoice_id})
    return request.build_absolute_uri(path) if request is not None else path


def credit_note_pdf_api_url(request: Request | None, credit_note_id: int) -> str:
    """The API link of a credit note's PDF (like invoice_pdf_api_url)."""
    path = reverse("billing-credit-note-pdf", kwargs={"credit_note_id": credit_note_id})
    return request.build_absolute_uri(path) if request is not None else path


# --- requests ---------------------------------------------------------------------------------------


class InvoiceCreateSerializer(serializers.Serializer):
    amount_krw = MinorUnitsField(required=False, help_text="Supply amount (공급가액) in won; > 0.")
    tax_krw = MinorUnitsField(
        required=False,
        help_text="VAT in won; default the VAT the server computes (the customer's treatment and the rate of the day).",
    )
    amount = MinorUnitsField(required=False, help_text="Supply amount in minor units, for any currency.")
    tax = MinorUnitsField(required=False, help_text="Tax in minor units, for any currency.")
    currency = serializers.CharField(required=False, max_length=3, help_text="ISO 4217; default KRW.")
    due_days = serializers.IntegerField(required=False, min_value=1, max_value=365, help_text="Default 30.")
    order_id = serializers.IntegerField(required=False, min_value=1)
    description = serializers.CharField(required=False, allow_blank=True, max_length=500)
    customer_id = serializers.IntegerField(required=False, min_value=1, help_text="Bill this customer (add_invoice).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        currency = (attrs.get("currency") or "KRW").upper()
        if not attrs.get("currency") and ("amount_krw" in attrs or "tax_krw" in attrs):
            # Won amounts bill in KRW, never in the customer's own currency (a USD account: 409 currency_mismatch).
            attrs["currency"] = "KRW"
        for generic, krw in (("amount", "amount_krw"), ("tax", "tax_krw")):
            if krw in attrs and currency != "KRW":
                raise serializers.ValidationError({krw: [f"Only for KRW invoices; send {generic} for {currency}."]})
            if krw in attrs and generic in attrs and attrs[krw] != attrs[generic]:
                raise serializers.ValidationError({krw: [f"Contradicts {generic}."]})
            if krw in attrs:
                attrs[generic] = attrs.pop(krw)
        return attrs


class OrderItemCreateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=500)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    unit_amount_krw = MinorUnitsField(required=False)
    unit_amount = MinorUnitsField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        krw = attrs.pop("unit_amount_krw", None)
        if krw is not None and attrs.get("unit_amount") not in (None, krw):
            raise serializers.ValidationError({"unit_amount_krw": ["Contradicts unit_amount."]})
        if krw is not None:
            attrs["unit_amount"] = krw
            attrs["_krw"] = True
        if attrs.get("unit_amount") is None:
            raise serializers.ValidationError({"unit_amount_krw": ["Required (unit_amount for other currencies)."]})
        return attrs


def krw_items_check(attrs: dict[str, Any]) -> None:
    """Items priced with `unit_amount_krw` belong to a KRW order only (the marker comes from the item's validate)."""
    currency = (attrs.get("currency") or "KRW").upper()
    for index, item in enumerate(attrs.get("items", [])):
        if item.pop("_krw", False):
            if currency != "KRW":
                raise serializers.ValidationError(
                    {"items": {str(index): {"unit_amount_krw": ["Only for KRW orders."]}}}
                )
            # Won amounts make a won order: without this, an account billed in another currency would take them as
            # its own minor units (₩150,000 as $1,500.00) instead of refusing them (409 currency_mismatch).
            attrs["currency"] = "KRW"


class OrderCreateSerializer(serializers.Serializer):
    # many=True makes a ListSerializer, which takes max_length; the stubs type the child's arguments.
    items = OrderItemCreateSerializer(many=True, allow_empty=False, max_length=100)  # type: ignore[call-arg]
    currency = serializers.CharField(required=False, max_length=3, help_text="ISO 4217; default KRW.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        krw_items_check(attrs)
        return attrs


class BankTransferCreateSerializer(serializers.Serializer):
    amount_krw = MinorUnitsField(required=False)
    amount = MinorUnitsField(required=False, help_text="Minor units of the invoice's currency.")
    reference = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    received_at = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        krw = attrs.pop("amount_krw", None)
        if krw is not None and attrs.get("amount") not in (None, krw):
            raise serializers.ValidationError({"amount_krw": ["Contradicts amount."]})
        if krw is not None:
            attrs["amount"] = krw
            attrs["currency"] = "KRW"
        if attrs.get("amount") is None:
            raise serializers.ValidationError({"amount": ["Required."]})
        return attrs


# --- responses --------------------------------------------------------------------------------------


class UrlsSerializer(serializers.Serializer):
    pdf = serializers.URLField(allow_null=True, help_text="GET it (with your token) for a fresh signed PDF link.")
    stripe = serializers.URLField(allow_null=True, help_text="Stripe's hosted invoice page; null while Stripe is off.")


class InvoiceLineSerializer(serializers.ModelSerializer):
    unit_amount = MinorUnitsField()
    amount = MinorUnitsField()

    class Meta:
        model = InvoiceLine
        fields = ["description", "quantity", "unit_amount", "amount", "period_start", "period_end"]


class InvoiceSerializer(serializers.ModelSerializer):
    subtotal = MinorUnitsField()
    tax = MinorUnitsField()
    total = MinorUnitsField()
    amount_paid = MinorUnitsField()
    amount_remaining = MinorUnitsField()
    amount_credited = MinorUnitsField(help_text="The totals of the credit notes issued against it.")
    amount_refunded = MinorUnitsField(help_text="What its credit notes gave back of what was paid.")
    subtotal_krw = serializers.SerializerMethodField()
    tax_krw = serializers.SerializerMethodField()
    total_krw = serializers.SerializerMethodField()
    amount_remaining_krw = serializers.SerializerMethodField()
    tax_treatment = serializers.ChoiceField(
        choices=TaxTreatment.choices, read_only=True, help_text="The VAT treatment it was issued with."
    )
    vat_rate_basis_points = serializers.IntegerField(
        read_only=True, help_text="The VAT rate it was issued with, in basis points (1000 = 10%); 0 unless taxable."
    )
    tax_basis = serializers.CharField(
        read_only=True, help_text="The legal basis of a 0% VAT (zero-rated or exempt) as printed; empty if taxable."
    )
    urls = serializers.SerializerMethodField()
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "status",
            "currency",
            "subtotal",
            "tax",
            "total",
            "amount_paid",
            "amount_remaining",
            "amount_credited",
            "amount_refunded",
            "subtotal_krw",
            "tax_krw",
            "total_krw",
            "amount_remaining_krw",
            "tax_treatment",
            "vat_rate_basis_points",
            "tax_basis",
            "description",
            "order_id",
            "issue_date",
            "due_date",
            "finalized_at",
            "paid_at",
            "voided_at",
            "marked_uncollectible_at",
            "pdf_status",
            "urls",
            "lines",
        ]

    @extend_schema_field(OpenApiTypes.INT64)
    def get_subtotal_krw(self, invoice: Invoice) -> int | None:
        return _krw(invoice, "subtotal")

    @extend_schema_field(OpenApiTypes.INT64)
    def get_tax_krw(self, invoice: Invoice) -> int | None:
        return _krw(invoice, "tax")

    @extend_schema_field(OpenApiTypes.INT64)
    def get_total_krw(self, invoice: Invoice) -> int | None:
        return _krw(invoice, "total")

    @extend_schema_field(OpenApiTypes.INT64)
    def get_amount_remaining_krw(self, invoice: Invoice) -> int | None:
        return _krw(invoice, "amount_remaining")

    @extend_schema_field(UrlsSerializer)
    def get_urls(self, invoice: Invoice) -> dict[str, str | None]:
        return {
            "pdf": invoice_pdf_api_url(self.context.get("request"), invoice.pk),
            "stripe": invoice.stripe_hosted_invoice_url or None,
        }


class InvoiceCreatedSerializer(serializers.Serializer):
    invoice_id = serializers.IntegerField()
    invoice_number = serializers.CharField()
    pdf_url = serializers.URLField(
        allow_null=True,
        help_text="Signed download link, valid until pdf_url_expires_at; null while the PDF is pending.",
    )
    pdf_url_expires_at = serializers.DateTimeField(allow_null=True)
    stripe_url = serializers.URLField(allow_null=True, help_text="null while Stripe is off.")
    total_krw = serializers.IntegerField(allow_null=True, help_text="null for a non-KRW invoice.")
    currency = serializers.CharField()
    subtotal = MinorUnitsField()
    tax = MinorUnitsField()
    total = MinorUnitsField()
    status = serializers.CharField()
    pdf_status = serializers.CharField()


class OrderItemSerializer(serializers.ModelSerializer):
    unit_amount = MinorUnitsField()
    amount = MinorUnitsField()

    class Meta:
        model = OrderItem
        fields = ["description", "quantity", "unit_amount", "amount"]


class OrderSerializer(serializers.ModelSerializer):
    subtotal = MinorUnitsField()
    tax = MinorUnitsField()
    total = MinorUnitsField()
    subtotal_krw = serializers.SerializerMethodField()
    tax_krw = serializers.SerializerMethodField()
    total_krw = serializers.SerializerMethodField()
    items = OrderItemSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "status",
            "currency",
            "description",
            "subtotal",
            "tax",
            "total",
            "subtotal_krw",
            "tax_krw",
            "total_krw",
            "created_at",
            "items",
        ]

    @extend_schema_field(OpenApiTypes.INT64)
    def get_subtotal_krw(self, order: Order) -> int | None:
        return _krw(order, "subtotal")

    @extend_schema_field(OpenApiTypes.INT64)
    def get_tax_krw(self, order: Order) -> int | None:
        return _krw(order, "tax")

    @extend_schema_field(OpenApiTypes.INT64)
    def get_total_krw(self, order: Order) -> int | None:
        return _krw(order, "total")


class PaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    invoice_id = serializers.IntegerField()
    amount = MinorUnitsField()
    amount_krw = serializers.SerializerMethodField()
    currency = serializers.CharField()
    method = serializers.CharField()
    status = serializers.CharField()
    reference = serializers.CharField(source="provider_reference")
    created_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.INT64)
    def get_amount_krw(self, payment: Any) -> int | None:
        return _krw(payment, "amount")


class PaymentRecordedSerializer(serializers.Serializer):
    payment = PaymentSerializer()
    invoice = InvoiceSerializer()


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=list(HISTORY_TYPES))
    date = serializers.DateTimeField()
    amount_krw = serializers.IntegerField(allow_null=True)
    amount = MinorUnitsField()
    currency = serializers.CharField()
    status = serializers.CharField()
    invoice_id = serializers.IntegerField()
    urls = UrlsSerializer()


# One object per page (a list action's body, not a list of it): its own total, limit and offset.
@extend_schema_serializer(many=False)
class HistorySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    history = HistoryEntrySerializer(many=True)
