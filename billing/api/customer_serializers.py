"""Request and response bodies of the caller's billing profile (GET and PATCH /api/payment/customer).

Kept apart from serializers.py (which is at the module size limit). The API names the profile as a customer
reads it (`billing_email`, `company_name`); customer_update owns every check beyond types and lengths.
"""

from typing import Any

from rest_framework import serializers

from billing.enums import Language
from billing.services.customers import CC_EMAILS_MAX, TEXT_MAX_LENGTHS

from .serializers import MinorUnitsField

# API field -> Customer field / customer_update argument, for the fields a customer may change.
PROFILE_WRITABLE_FIELDS = {
    "billing_email": "email",
    "cc_emails": "cc_emails",
    "company_name": "display_name",
    "business_registration_number": "business_registration_number",
    "representative_name": "representative_name",
    "address": "address",
    "business_type": "business_type",
    "business_item": "business_item",
    "preferred_language": "preferred_language",
}


class TextField(serializers.CharField):
    """A string and nothing else: DRF's CharField would take 0 or true and store "0" or "True" as a company name."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return str(super().to_internal_value(data))


def _text(name: str, help_text: str, **options: Any) -> serializers.CharField:
    # No trimming here: a trailing CR/LF must reach the service, which refuses it instead of hiding it.
    return TextField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=options.pop("max_length", TEXT_MAX_LENGTHS.get(name)),
        help_text=help_text,
        **options,
    )


class CustomerProfileUpdateSerializer(serializers.Serializer):
    """PATCH body: any subset of the writable fields; any other field is 400 `unknown_field`."""

    billing_email = _text("email", "Where invoices and receipts are sent; a valid address or empty.")
    cc_emails = serializers.ListField(
        child=TextField(max_length=TEXT_MAX_LENGTHS["email"], trim_whitespace=False),
        required=False,
        max_length=CC_EMAILS_MAX,
        help_text=f"Up to {CC_EMAILS_MAX} more recipients of billing emails: distinct, not the billing email.",
    )
    company_name = _text("display_name", "Company (or person) the invoices are addressed to; required.")
    business_registration_number = _text(
        "business_registration_number",
        "사업자등록번호: ten digits (hyphens allowed) with a valid check digit, or empty for individuals.",
        max_length=64,
    )
    representative_name = _text("representative_name", "대표자 (representative), printed on invoices.")
    address = _text("address", "Postal address printed on invoices.")
    business_type = _text("business_type", "업태 (business type), printed on invoices.")
    business_item = _text("business_item", "종목 (business item), printed on invoices.")
    preferred_language = serializers.ChoiceField(
        choices=Language.choices, required=False, help_text="Language of invoices and emails."
    )


class CustomerProfileSerializer(serializers.Serializer):
    """The caller's billing details as invoices and emails use them; money and tax are the business's to set."""

    billing_email = serializers.EmailField(source="email", allow_blank=True)
    cc_emails = serializers.ListField(child=serializers.EmailField())
    company_name = serializers.CharField(source="display_name")
    business_registration_number = serializers.CharField(help_text="Ten digits, or empty.")
    business_registration_number_display = serializers.CharField(help_text="As printed: 123-45-67890, or empty.")
    representative_name = serializers.CharField(allow_blank=True)
    address = serializers.CharField(allow_blank=True)
    business_type = serializers.CharField(allow_blank=True)
    business_item = serializers.CharField(allow_blank=True)
    preferred_language = serializers.ChoiceField(choices=Language.choices)
    currency = serializers.CharField(read_only=True, help_text="ISO 4217 currency of the credit balance.")
    tax_treatment = serializers.CharField(read_only=True, help_text="taxable, zero_rated or exempt; set by staff.")
    credit_balance = MinorUnitsField(read_only=True, help_text="Minor units of `currency`, used by next invoices.")
