"""Credit notes: the caller's list, detail and PDF, and staff issuing one against any invoice
(POST /api/invoices/{id}/credit-notes)."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing.services.credit_note_pdf import credit_note_pdf_signed_url
from billing.services.credit_notes import CreditLineInput, credit_note_issue
from billing_site.api.filters import FilterSet, IdFilter
from billing_site.api.idempotency import IDEMPOTENCY_ERROR_CODES, IDEMPOTENCY_KEY_PARAMETER
from billing_site.api.schema import api_errors
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from ..money_serializers import CreditNoteCreateSerializer, CreditNoteIssuedSerializer, CreditNoteSerializer
from .common import CustomerOwnedViewSet, absolute_url, customer_of, validated_body


class CreditNoteFilter(FilterSet):
    """GET /api/credit-notes: `invoice_id` keeps the notes of one invoice."""

    invoice_id = IdFilter(help_text="Only the credit notes of this invoice.")


class CreditNoteViewSet(CustomerOwnedViewSet):
    """A customer's credit notes (another customer's is 404), and staff issuing one."""

    serializer_class = CreditNoteSerializer
    filterset_class = CreditNoteFilter
    lookup_url_kwarg = "credit_note_id"
    owned_list = selectors.credit_note_list

    @extend_schema(
        operation_id="credit_notes_list",
        summary="List your credit notes",
        responses={200: CreditNoteSerializer(many=True)},
        tags=["credit notes"],
    )
    @api_errors({400: ["validation_error"]})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """GET /api/credit-notes: the caller's credit notes, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(operation_id="credit_notes_retrieve", responses={200: CreditNoteSerializer}, tags=["credit notes"])
    def retrieve(self, request: Request, credit_note_id: str) -> Response:
        """GET /api/credit-notes/{id}: one of the caller's credit notes with its lines and refunds."""
        credit_note = selectors.credit_note_get(customer=customer_of(request), credit_note_id=int(credit_note_id))
        return Response(CreditNoteSerializer(credit_note, context={"request": request}).data)

    @extend_schema(
        operation_id="credit_notes_pdf",
        summary="Download a credit note PDF",
        description="Redirects (302) to a fresh signed URL of the credit note's PDF (valid for an hour).",
        responses={302: OpenApiResponse(description="Location: the signed PDF URL.")},
        tags=["credit notes"],
    )
    @api_errors({503: ["storage_unavailable", "pdf_pending"]})
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, credit_note_id: str) -> Response:
        """GET /api/credit-notes/{id}/pdf: redirect to a fresh signed link of the PDF, rendering it if pending."""
        credit_note = selectors.credit_note_get(customer=customer_of(request), credit_note_id=int(credit_note_id))
        link = credit_note_pdf_signed_url(credit_note=credit_note, render_if_pending=True)
        if link is None:
            raise ApplicationError("pdf_pending", "The PDF is being prepared; try again shortly.", status_code=503)
        return Response(
            status=status.HTTP_302_FOUND,
            headers={"Location": absolute_url(request, link[0]), "Cache-Control": "private, no-store"},
        )

    # --- staff: any customer's invoice, through the service the admin's action calls ---

    @extend_schema(
        operation_id="invoices_credit_notes_create",
        summary="Issue a credit note (staff)",
        description=(
            "Issues a credit note (수정 청구서) against an issued invoice: `lines` (supply amounts per invoice line), "
            "`amount` (a total including VAT, spread over the lines) or neither (all that is left). VAT is taken "
            "back in proportion. What the invoice still asks is reduced first; the rest is refunded "
            "(`settlement` `refund`: to the card, or by the bank transfer `bank_reference` names) or put on the "
            "customer's credit balance (`balance`). Needs billing.add_creditnote (and billing.add_refund to refund)."
        ),
        request=CreditNoteCreateSerializer,
        responses={201: CreditNoteIssuedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["staff"],
    )
    @api_errors(
        {
            400: [
                "unknown_field",
                "invalid_amount",
                "invalid_line",
                "invalid_memo",
                "bank_reference_required",
            ],
            403: ["permission_denied"],
            409: [
                "invoice_not_creditable",
                "nothing_to_credit",
                "amount_exceeds_creditable",
                "amount_exceeds_refundable",
                "currency_mismatch",
                "invoice_period_credited",
            ],
        },
        IDEMPOTENCY_ERROR_CODES,
    )
    def issue(self, request: Request, invoice_id: str) -> Response:
        """POST /api/invoices/{id}/credit-notes: credit an invoice in full or in part."""
        # billing.view_invoice before the lookup, as for the other staff invoice actions: nobody else probes ids.
        permission_require(actor=request.user, permission="billing.view_invoice")
        invoice = selectors.invoice_get_for_staff(invoice_id=int(invoice_id))
        data = validated_body(CreditNoteCreateSerializer, request.data)
        lines = data.get("lines")
        credit_note = credit_note_issue(
            invoice=invoice,
            reason=data["reason"],
            actor=request.user,
            lines=None if lines is None else [CreditLineInput(line["line_id"], line["amount"]) for line in lines],
            amount=data.get("amount"),
            memo=data["memo"],
            settlement=data["settlement"],
            bank_reference=data["bank_reference"],
        )
        body = {
            "credit_note": selectors.credit_note_get_for_staff(credit_note_id=credit_note.pk),
            "invoice": selectors.invoice_get_for_staff(invoice_id=invoice.pk),
        }
        return Response(
            CreditNoteIssuedSerializer(body, context={"request": request}).data, status=status.HTTP_201_CREATED
        )
