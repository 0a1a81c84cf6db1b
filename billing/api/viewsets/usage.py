"""Usage event ingestion (POST /api/usage/events): a customer sends its own events with its token, a SaaS backend
sends its customers' with an API key (scope usage:write)."""

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication

from billing.enums import ApiKeyScope
from billing.services.usage_ingest import usage_events_ingest
from billing_site.api.schema import api_errors
from billing_site.errors import ApplicationError

from ..authentication import ApiKeyAuthentication, ApiKeyScopeRequired, api_key_of
from ..usage_event_serializers import UsageEventBatchSerializer, UsageIngestResultSerializer
from .common import customer_of

# 1,000 events with 100-character ids and every field are about 250 KB of JSON; the cap leaves room for
# indentation and refuses anything larger before a byte of it is read (Django's own limit is 2.5 MB).
MAX_BODY_BYTES = 2 * 1024 * 1024


def _body_size_check(request: Request) -> None:
    """A declared body over MAX_BODY_BYTES is 413 before it is read. WSGI reads no more than the declared length,
    so a body without one (chunked) is read as empty."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise ApplicationError(
            "payload_too_large", f"A batch of events is at most {MAX_BODY_BYTES} bytes of JSON.", status_code=413
        )


def _events_of(data: Any) -> object:
    """The batch of a body `{"events": [...]}` (anything else is 400, as the schema says); the service checks that
    it is a list of events."""
    if not isinstance(data, Mapping):
        raise ApplicationError(
            "validation_error", "A JSON object is expected.", fields={"non_field_errors": ["Expected an object."]}
        )
    refused = sorted(str(name) for name in data if name != "events")
    if refused:
        raise ApplicationError(
            "unknown_field",
            f"{refused[0][:50]} is not a field of this request.",
            fields={name[:50]: ["Unknown field."] for name in refused[:10]},
        )
    if "events" not in data:
        raise ApplicationError(
            "validation_error", "events is required.", fields={"events": ["This field is required."]}
        )
    return data["events"]


class UsageEventViewSet(viewsets.GenericViewSet):
    # An `Api-Key` header is the key's; a Bearer token or the admin's session is a customer's own.
    authentication_classes: list[type[BaseAuthentication]] = [
        ApiKeyAuthentication,
        JWTAuthentication,
        SessionAuthentication,
    ]
    permission_classes: list[type[BasePermission]] = [
        IsAuthenticated,
        ApiKeyScopeRequired(ApiKeyScope.USAGE_WRITE),
    ]
    parser_classes = [JSONParser]
    pagination_class = None
    # What OPTIONS describes (DRF's metadata asks the view for its serializer).
    serializer_class = UsageEventBatchSerializer

    @extend_schema(
        operation_id="usage_events_ingest",
        summary="Send usage events",
        description=(
            "A batch of 1 to 1,000 usage events. Each is stored, acknowledged as a duplicate (its `event_id` was "
            "sent before for that customer, or earlier in this batch: the first wins) or refused with a code, "
            "without failing the others; the answer lists all three. Retrying a batch is always safe. "
            "A SaaS backend sends with `Authorization: Api-Key <key>` (scope `usage:write`) and names the customer "
            "in every event; a customer's token sends its own (`customer` may be left out). A body over 2 MB is "
            "413."
        ),
        request=UsageEventBatchSerializer,
        responses={200: UsageIngestResultSerializer},
        tags=["usage"],
    )
    @api_errors(
        {
            400: ["too_many_events", "unknown_field"],
            401: ["invalid_api_key"],
            403: ["insufficient_scope", "permission_denied"],
            413: ["payload_too_large"],
        }
    )
    def ingest(self, request: Request) -> Response:
        """POST /api/usage/events: store a batch; 200 with what became of each event."""
        _body_size_check(request)
        api_key = api_key_of(request)
        caller = None
        if api_key is None:
            caller = customer_of(request)
            if caller is None:
                raise ApplicationError(
                    "permission_denied",
                    "This account has no billing profile to send usage for.",
                    status_code=403,
                )
        result = usage_events_ingest(events=_events_of(request.data), caller=caller, api_key=api_key)
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": [
                    {"index": item.index, "event_id": item.event_id, "code": item.code, "message": item.message}
                    for item in result.rejected
                ],
            }
        )
