"""The caller's credit balance and its ledger, newest entry first (GET /api/payment/balance)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing_site.api.pagination import paging_params
from billing_site.api.schema import api_errors

from ..money_serializers import BalanceSerializer
from .common import customer_of


class BalanceViewSet(viewsets.GenericViewSet):
    """The balance per currency and one page of the entries that make it up, paged like the payment history."""

    pagination_class = None  # the body carries its own `total`, `limit` and `offset` (BalanceSerializer)

    @extend_schema(
        operation_id="payment_balance",
        summary="Your credit balance and its history",
        description=(
            "The credit balance in each currency (your own first, always present) and one page of the entries that "
            "made it, newest first: credit from plan changes and credit notes, manual adjustments, credit used on "
            "invoices, and failed card refunds credited instead. `balance_after` is the balance just after each."
        ),
        parameters=[
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1}, description="Entries per page (default 20, at most 100)."
            ),
            OpenApiParameter("offset", {"type": "integer", "minimum": 0}, description="Entries to skip."),
        ],
        responses={200: BalanceSerializer},
        tags=["payments"],
    )
    @api_errors({400: ["invalid_pagination"]})
    def retrieve(self, request: Request) -> Response:
        """GET /api/payment/balance: the balances and a page of ledger entries, newest first."""
        limit, offset = paging_params(request)
        customer = customer_of(request)
        total, entries = selectors.balance_entries(customer=customer, limit=limit, offset=offset)
        body = {
            "balances": selectors.balance_totals(customer=customer),
            "total": total,
            "limit": limit,
            "offset": offset,
            "entries": entries,
        }
        return Response(BalanceSerializer(body).data)
