"""What the caller may use now (GET /api/payment/entitlements), for a product to gate its features with one call."""

import hashlib

from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from billing.services.usage_reads import entitlements_with_usage
from billing_site.api.schema import api_errors

from ..serializers import request_language
from ..subscription_serializers import EntitlementsSerializer
from .usage_reads import CUSTOMER_PARAMETER, READER_AUTHENTICATION, READER_ERRORS, READER_PERMISSIONS, reader_customer

# Private: the answer is the caller's. A minute is how long a product may gate on a stale answer without asking.
CACHE_CONTROL = "private, max-age=60"


def body_etag(body: bytes) -> str:
    """A strong ETag of the exact response body (the same body, the same tag, on every server)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x"; `*` matches any current answer."""
    tags = parse_etags(header)
    return "*" in tags or etag in {tag.removeprefix("W/") for tag in tags}


class EntitlementsViewSet(viewsets.GenericViewSet):
    # A customer's token reads its own; a SaaS backend's API key (entitlements:read) names the customer.
    authentication_classes = READER_AUTHENTICATION
    permission_classes = READER_PERMISSIONS
    pagination_class = None

    @extend_schema(
        operation_id="payment_entitlements",
        summary="What you may use now",
        description=(
            "Your subscription's status, plan, features and limits, and until when they run: the live "
            "subscription, else the latest ended one (`canceled`), else `none`. Features and limits apply only "
            "while `trialing`, `active` or `past_due`; otherwise `features` is empty and the limits are 0. "
            "Cacheable: `Cache-Control: private, max-age=60` and an `ETag`; send it back in `If-None-Match` to "
            "get 304 with no body while nothing changed. `usage`: the current period's usage of each metric the "
            "live subscription's plan charges (as GET /api/usage; empty otherwise). A SaaS backend reads a "
            "customer's with `Authorization: Api-Key <key>` (scope `entitlements:read`) and `?customer=<id>`."
        ),
        parameters=[
            CUSTOMER_PARAMETER,
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="The ETag of an earlier answer: 304 if it is still the answer.",
            ),
        ],
        responses={
            200: EntitlementsSerializer,
            304: OpenApiResponse(description="Not modified: the ETag sent is still the answer (no body)."),
        },
        tags=["subscriptions"],
    )
    @api_errors({400: ["validation_error"], 404: ["not_found"]}, READER_ERRORS)
    def retrieve(self, request: Request) -> Response:
        language = request_language()
        entitlements = entitlements_with_usage(customer=reader_customer(request), language=language)
        body = EntitlementsSerializer(entitlements).data
        etag = body_etag(JSONRenderer().render(body))
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if etag_matches(request.headers.get("If-None-Match", ""), etag):
            response = Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        else:
            response = Response(body, headers=headers)
        # The body is in the caller's language and is the caller's own.
        patch_vary_headers(response, ["Accept-Language", "Authorization"])
        return response
