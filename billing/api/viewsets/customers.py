"""The caller's own billing profile (GET and PATCH /api/payment/customer): billing email, CC addresses, company,
사업자등록번호, 대표자, address, 업태/종목 and language. There is no id: a caller only ever reaches their own."""

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from billing.services.customers import customer_get_or_create, customer_update
from billing_site.api.schema import api_errors
from billing_site.errors import ApplicationError

from ..customer_serializers import PROFILE_WRITABLE_FIELDS, CustomerProfileSerializer, CustomerProfileUpdateSerializer

# Customer field -> API field, to name the API's field in an error the service raised.
_API_NAMES = {model: api for api, model in PROFILE_WRITABLE_FIELDS.items()}


def _body_fields_check(data: Any) -> None:
    """A PATCH carries only fields the customer may choose: anything else is refused, never silently dropped."""
    if not isinstance(data, Mapping):
        raise ApplicationError(
            "validation_error", "A JSON object is expected.", fields={"non_field_errors": ["Expected an object."]}
        )
    readable = CustomerProfileSerializer().fields
    refused = sorted(name for name in data if name not in PROFILE_WRITABLE_FIELDS)
    if refused:
        fields = {name: ["Read-only." if name in readable else "Unknown field."] for name in refused}
        raise ApplicationError("unknown_field", f"{refused[0]} cannot be changed through this endpoint.", fields=fields)


def _api_error(error: ApplicationError) -> ApplicationError:
    """The service's error with the API's field names (company_name, not display_name)."""
    fields = {_API_NAMES.get(name, name): messages for name, messages in error.fields.items()}
    return ApplicationError(error.code, error.message, fields=fields, status_code=error.status_code)


class CustomerViewSet(viewsets.GenericViewSet):
    """The signed-in user's billing profile, created on first GET (customer_get_or_create)."""

    serializer_class = CustomerProfileSerializer
    pagination_class = None
    # JSON only: `cc_emails` is a list, which a form body cannot say unambiguously (an empty field would be []).
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="payment_customer_retrieve",
        summary="Your billing details",
        description="Created from your account on the first call. Invoices keep the details they were issued with.",
        responses={200: CustomerProfileSerializer},
        tags=["payments"],
    )
    def retrieve(self, request: Request) -> Response:
        customer = customer_get_or_create(user=request.user)
        return Response(CustomerProfileSerializer(customer).data)

    @extend_schema(
        operation_id="payment_customer_update",
        summary="Change your billing details",
        description=(
            "Send only the fields to change. Text fields are one line (no CR, LF or other control characters). "
            "currency, tax_treatment and credit_balance are the business's to set: sending them, or any field "
            "not listed here, is 400 `unknown_field`. Issued invoices keep the details they were issued with."
        ),
        request=CustomerProfileUpdateSerializer,
        responses={200: CustomerProfileSerializer},
        tags=["payments"],
    )
    @api_errors(
        {
            400: [
                "validation_error",
                "unknown_field",
                "invalid_business_registration_number",
                "invalid_display_name",
                "invalid_language",
            ]
        }
    )
    def partial_update(self, request: Request) -> Response:
        _body_fields_check(request.data)
        serializer = CustomerProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = {PROFILE_WRITABLE_FIELDS[name]: value for name, value in serializer.validated_data.items()}
        customer = customer_get_or_create(user=request.user)
        if values:
            try:
                customer = customer_update(customer=customer, actor=request.user, **values)
            except ApplicationError as error:
                raise _api_error(error) from error
        return Response(CustomerProfileSerializer(customer).data)
