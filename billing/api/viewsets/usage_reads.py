"""The current period's usage (GET /api/usage), read by the customer with their token or by a SaaS backend with an
API key (scope entitlements:read) naming the customer; also how the entitlements read names theirs."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication

from billing import selectors
from billing.enums import ApiKeyScope
from billing.models import Customer
from billing.services.usage_reads import usage_report_for
from billing_site.api.schema import api_errors

from ..authentication import ApiKeyAuthentication, ApiKeyScopeRequired, api_key_of
from ..serializers import request_language
from ..usage_read_serializers import CUSTOMER_ID_PATTERN, UsageCustomerQuerySerializer, UsageSerializer
from .common import customer_of, validated

# A customer's token (or the admin's session) reads its own; `Api-Key` is tried between them, before the session,
# so that a key sent with a stray session cookie still acts as the key.
READER_AUTHENTICATION: list[type[BaseAuthentication]] = [
    JWTAuthentication,
    ApiKeyAuthentication,
    SessionAuthentication,
]
READER_PERMISSIONS: list[type[BasePermission]] = [
    IsAuthenticated,
    ApiKeyScopeRequired(ApiKeyScope.ENTITLEMENTS_READ),
]
READER_ERRORS = {403: ["insufficient_scope"], 401: ["invalid_api_key"]}
CUSTOMER_PARAMETER = OpenApiParameter(
    "customer",
    {"type": "string", "pattern": CUSTOMER_ID_PATTERN},
    description=(
        "With an API key: the id of the customer to read (required; unknown: 404). A customer's own token always "
        "reads its own and ignores it (a malformed value is still 400)."
    ),
)


def reader_customer(request: Request) -> Customer | None:
    """Whose usage and entitlements the request reads: the caller's own profile (None: none yet), or, with an API
    key, the customer `?customer=<id>` names (missing or malformed: 400 `validation_error`; unknown: 404)."""
    customer_id, _ = reader_ids(request)
    return customer_of(request) if customer_id is None else selectors.customer_get(customer_id=customer_id)


def reader_ids(request: Request) -> tuple[int | None, int | None]:
    """Whose usage the request reads, as reader_customer says but without loading the customer: (None, the caller's
    user id), or, with an API key, (the `?customer` id, None) (the same 400; the caller checks that customer exists
    when it finds nothing)."""
    if api_key_of(request) is None:
        if "customer" in request.query_params:
            validated(UsageCustomerQuerySerializer, request.query_params)
        return None, request.user.pk
    return int(validated(UsageCustomerQuerySerializer, request.query_params)["customer"]), None


class UsageViewSet(viewsets.GenericViewSet):
    authentication_classes = READER_AUTHENTICATION
    permission_classes = READER_PERMISSIONS
    pagination_class = None

    @extend_schema(
        operation_id="usage_current",
        summary="Usage in the current period",
        description=(
            "Per metric your plan charges: the quantity used in the current period so far (Asia/Seoul days, from "
            "the hourly rollups), what the plan includes, the billable rest and what it would cost if the period "
            "ended now (minor units of the subscription's currency, VAT excluded). No subscription: `metrics` is "
            "empty. "
            "A SaaS backend reads a customer's with `Authorization: Api-Key <key>` (scope `entitlements:read`) "
            "and `?customer=<id>`."
        ),
        parameters=[CUSTOMER_PARAMETER],
        responses={200: UsageSerializer},
        tags=["usage"],
    )
    @api_errors({400: ["validation_error"], 404: ["not_found"]}, READER_ERRORS)
    def retrieve(self, request: Request) -> Response:
        """GET /api/usage: the current period's usage of the caller (or, with an API key, of `?customer`)."""
        customer_id, user_id = reader_ids(request)
        report = usage_report_for(customer_id=customer_id, user_id=user_id, language=request_language())
        if report.subscription is None and customer_id is not None:
            selectors.customer_get(customer_id=customer_id)  # an unknown customer is 404, as before
        return Response(UsageSerializer(report).data)
