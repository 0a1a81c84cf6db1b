"""Request and response bodies of credit notes, their refunds and the customer balance ledger (integer minor units)."""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request

from billing.enums import BalanceEntryKind, CreditNoteReason, CreditSettlement, InvoicePdfStatus, TaxTreatment
from billing.models import CreditNote, CreditNoteLine, CustomerBalanceEntry, Refund

from .serializers import InvoiceSerializer, MinorUnitsField

MAX_ID = 10**18 - 1  # the paths' 1-18 digits: larger ids never reach the database
MAX_CREDIT_LINES = 100


def credit_note_pdf_api_url(request: Request | None, credit_note_id: int) -> str:
    """The API link that redirects to a fresh signed URL of the credit note's PDF (absolute with a request)."""
    path = reverse("billing-credit-note-pdf", kwargs={"credit_note_id": credit_note_id})
    return request.build_absolute_uri(path) if request is not None else path


# --- requests ---------------------------------------------------------------------------------------


class CreditLineCreateSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="An `item` line of the invoice.")
    amount = MinorUnitsField(help_text="Supply amount (공급가액) taken back from that line; > 0.")

    def to_internal_value(self, data: Any) -> Any:
        # A misspelt key inside a line must not be dropped silently, as at the top level (validated_body).
        if isinstance(data, dict):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class CreditNoteCreateSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=CreditNoteReason.choices)
    memo = serializers.CharField(
        required=False, allow_blank=True, max_length=500, default="", help_text="One line, printed on the PDF."
    )
    amount = MinorUnitsField(
        required=False, help_text="A total including VAT, spread over the invoice's lines. Not with `lines`."
    )
    # many=True makes a ListSerializer, which takes max_length; the stubs type the child's arguments.
    lines = CreditLineCreateSerializer(  # type: ignore[call-arg]
        many=True,
        required=False,
        allow_empty=False,
        max_length=MAX_CREDIT_LINES,
        help_text="Supply amounts per invoice line. Not with `amount`; with neither, all that is left is credited.",
    )
    settlement = serializers.ChoiceField(
        choices=CreditSettlement.choices,
        required=False,
        default=CreditSettlement.REFUND,
        help_text="Where what was already paid goes: back as a refund, or onto the customer's credit balance.",
    )
    bank_reference = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        default="",
        help_text="The outgoing transfer's reference: required when a bank transfer payment is refunded.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "amount" in attrs and "lines" in attrs:
            raise serializers.ValidationError({"amount": ["Send either amount or lines, not both."]})
        return attrs


# --- responses --------------------------------------------------------------------------------------


class CreditNoteLineSerializer(serializers.ModelSerializer):
    invoice_line_id = serializers.IntegerField(allow_null=True, help_text="null: credited from the invoice as a whole.")
    amount = MinorUnitsField(help_text="Supply amount credited.")

    class Meta:
        model = CreditNoteLine
        fields = ["invoice_line_id", "description", "amount"]


class RefundSerializer(serializers.ModelSerializer):
    amount = MinorUnitsField()

    class Meta:
        model = Refund
        fields = ["id", "method", "status", "amount", "currency", "created_at", "succeeded_at", "failed_at"]


class CreditNoteUrlsSerializer(serializers.Serializer):
    pdf = serializers.URLField(
        allow_null=True, help_text="GET it (with your token) for a fresh signed PDF link; null while it is rendered."
    )


class CreditNoteSerializer(serializers.ModelSerializer):
    invoice_id = serializers.IntegerField()
    invoice_number = serializers.CharField(source="invoice.number")
    # A credit note has no VAT of its own: it takes back VAT at its invoice's treatment and rate.
    tax_treatment = serializers.ChoiceField(
        source="invoice.tax_treatment", choices=TaxTreatment.choices, read_only=True, help_text="Its invoice's."
    )
    vat_rate_basis_points = serializers.IntegerField(
        source="invoice.vat_rate_basis_points", read_only=True, help_text="Its invoice's VAT rate (1000 = 10%)."
    )
    subtotal = MinorUnitsField()
    tax = MinorUnitsField()
    total = MinorUnitsField()
    pre_payment_amount = MinorUnitsField(help_text="Taken off what the invoice still asked.")
    refund_amount = MinorUnitsField(help_text="Refunded to the card or by bank transfer.")
    balance_amount = MinorUnitsField(help_text="Added to the credit balance.")
    urls = serializers.SerializerMethodField()
    lines = CreditNoteLineSerializer(many=True, read_only=True)
    refunds = RefundSerializer(many=True, read_only=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "invoice_id",
            "invoice_number",
            "currency",
            "tax_treatment",
            "vat_rate_basis_points",
            "reason",
            "memo",
            "subtotal",
            "tax",
            "total",
            "pre_payment_amount",
            "refund_amount",
            "balance_amount",
            "issue_date",
            "issued_at",
            "pdf_status",
            "urls",
            "lines",
            "refunds",
        ]

    @extend_schema_field(CreditNoteUrlsSerializer)
    def get_urls(self, credit_note: CreditNote) -> dict[str, str | None]:
        ready = credit_note.pdf_status == InvoicePdfStatus.READY
        return {"pdf": credit_note_pdf_api_url(self.context.get("request"), credit_note.pk) if ready else None}


class CreditNoteIssuedSerializer(serializers.Serializer):
    credit_note = CreditNoteSerializer()
    invoice = InvoiceSerializer()


class CurrencyBalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    balance = MinorUnitsField(help_text="Credit available, minor units (never negative).")


class BalanceEntrySerializer(serializers.ModelSerializer):
    date = serializers.DateTimeField(source="created_at")
    kind = serializers.ChoiceField(choices=BalanceEntryKind.choices)
    amount = MinorUnitsField(help_text="Positive: credit given; negative: credit used.")
    balance_after = MinorUnitsField(help_text="The balance in this currency just after this entry.")
    invoice_id = serializers.IntegerField(allow_null=True)
    credit_note_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = CustomerBalanceEntry
        fields = ["id", "date", "kind", "amount", "currency", "balance_after", "reason", "invoice_id", "credit_note_id"]


# One object per page (a list action's body, not a list of it): the balances and one page of entries.
@extend_schema_serializer(many=False)
class BalanceSerializer(serializers.Serializer):
    balances = CurrencyBalanceSerializer(many=True, help_text="Your own currency first, always present.")
    total = serializers.IntegerField(help_text="How many entries there are in all.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    entries = BalanceEntrySerializer(many=True)
