"""What the billing viewsets share: the caller's billing profile, validated input, absolute links, the PDF link
of a response body, Idempotency-Key on POST actions and the shape of a customer's own list."""

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request

from billing import selectors
from billing.models import Customer, Invoice
from billing.services.pdf import invoice_pdf_signed_url
from billing_site.api.filters import FilterBackend
from billing_site.api.idempotency import IdempotencyMixin
from billing_site.errors import ApplicationError


def customer_of(request: Request) -> Customer | None:
    """The caller's billing profile, or None (reads never create one: lists are then empty, lookups 404)."""
    return selectors.customer_for_user(user=request.user)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> Mapping[str, Any]:
    """The input checked by `serializer_class`; invalid input is the serializer's 400."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    result: Mapping[str, Any] = serializer.validated_data
    return result


def validated_body(serializer_class: type[serializers.Serializer], data: Any) -> Mapping[str, Any]:
    """A JSON object checked by `serializer_class` that names only its fields: anything else is 400
    `unknown_field`, never silently dropped (a misspelt field must not do something other than what was meant)."""
    if not isinstance(data, Mapping):
        raise ApplicationError(
            "validation_error", "A JSON object is expected.", fields={"non_field_errors": ["Expected an object."]}
        )
    refused = sorted(str(name) for name in data if name not in serializer_class().fields)
    if refused:
        raise ApplicationError(
            "unknown_field",
            f"{refused[0]} is not a field of this request.",
            fields={name: ["Unknown field."] for name in refused},
        )
    return validated(serializer_class, data)


def absolute_url(request: Request, url: str) -> str:
    """A storage link as the client needs it: signed S3 links are absolute already, local ones are paths."""
    return url if "://" in url else request.build_absolute_uri(url)


def pdf_link(request: Request, invoice: Invoice) -> tuple[str | None, Any]:
    """(signed URL, expiry) of the invoice's PDF for a response body; (None, None) while it cannot be had."""
    try:
        link = invoice_pdf_signed_url(invoice=invoice)
    except ApplicationError:
        link = None  # storage cannot sign right now; GET /api/invoices/{id}/pdf will
    if link is None:
        return None, None
    url, expires_at = link
    return absolute_url(request, url), expires_at


def invoice_for_response(invoice: Invoice) -> Invoice:
    """The invoice re-read after its transaction committed: the PDF rendered then, and the lines come in order."""
    return selectors.invoice_list(customer=invoice.customer).get(pk=invoice.pk)


class IdempotentViewSet(IdempotencyMixin, viewsets.GenericViewSet):
    """A viewset whose POST actions honour Idempotency-Key (billing_site.api.idempotency), exactly as the
    views they replace did."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Only a route that maps POST to an action takes a key: a POST it refuses with 405 is not stored.
        self.idempotency_methods = ("POST",) if "post" in getattr(self, "action_map", {}) else ()
        super().initial(request, *args, **kwargs)


class CustomerOwnedViewSet(mixins.ListModelMixin, IdempotentViewSet):
    """A customer's own objects: read through a selector scoped by the caller's profile (another customer's are
    404), listed through a FilterSet, looked up by a numeric id."""

    filter_backends = [FilterBackend]
    lookup_value_regex = "[0-9]{1,18}"
    # The selector that lists one customer's objects (None: no profile yet, an empty list).
    owned_list: ClassVar[Callable[..., QuerySet[Any]]]

    def get_queryset(self) -> QuerySet[Any]:
        return type(self).owned_list(customer=customer_of(self.request))
