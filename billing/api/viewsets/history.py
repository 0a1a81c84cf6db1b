"""Payment history: the caller's invoices, payments, credit notes and refunds in one list, newest first
(GET /api/payment/history)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing_site.api.filters import FilterBackend, filter_values
from billing_site.api.pagination import paging_params
from billing_site.api.schema import api_errors

from ..filters import PaymentHistoryFilter
from ..serializers import HistorySerializer, credit_note_pdf_api_url, invoice_pdf_api_url, krw
from .common import customer_of


class PaymentHistoryViewSet(viewsets.GenericViewSet):
    """One page of the history, paged by the database (one UNION of invoices, payments, credit notes and refunds),
    not by a paginator."""

    filter_backends = [FilterBackend]  # documents `status` and `type`; the selector applies them
    filterset_class = PaymentHistoryFilter
    pagination_class = None  # the body carries its own `total`, `limit` and `offset` (HistorySerializer)

    @extend_schema(
        operation_id="payment_history",
        summary="Invoices, payments, credit notes and refunds, newest first",
        parameters=[
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1}, description="Items per page (default 20, at most 100)."
            ),
            OpenApiParameter("offset", {"type": "integer", "minimum": 0}, description="Items to skip."),
        ],
        responses={200: HistorySerializer},
        tags=["payments"],
    )
    @api_errors({400: ["validation_error"]})
    def list(self, request: Request) -> Response:
        """GET /api/payment/history: invoices, payments, credit notes and refunds in one list, newest first."""
        query = filter_values(PaymentHistoryFilter, request)
        limit, offset = paging_params(request)
        total, entries = selectors.payment_history(
            customer=customer_of(request),
            status=query.get("status"),
            entry_type=query.get("type"),
            limit=limit,
            offset=offset,
        )
        history = [
            {
                "id": entry.id,
                "type": entry.type,
                "date": entry.date,
                "amount_krw": krw(entry.currency, entry.amount),
                "amount": entry.amount,
                "currency": entry.currency,
                "status": entry.status,
                "invoice_id": entry.invoice_id,
                "urls": {
                    "pdf": _pdf_url(request, entry.type, entry.id),
                    "stripe": entry.stripe_url or None,
                },
            }
            for entry in entries
        ]
        return Response(HistorySerializer({"total": total, "limit": limit, "offset": offset, "history": history}).data)


def _pdf_url(request: Request, entry_type: str, entry_id: int) -> str | None:
    """Invoices and credit notes have a PDF; payments and refunds do not."""
    if entry_type == "invoice":
        return invoice_pdf_api_url(request, entry_id)
    if entry_type == "credit_note":
        return credit_note_pdf_api_url(request, entry_id)
    return None
