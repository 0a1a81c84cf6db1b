"""Invoices: issue one (POST /api/payment/invoice), the caller's list, detail and PDF, and the staff actions
(record a bank transfer, void, mark uncollectible)."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from billing import selectors
from billing.models import Customer, Invoice, Order
from billing.services.customers import customer_get_or_create
from billing.services.invoices import invoice_issue_requested, invoice_mark_uncollectible, invoice_void
from billing.services.payments import payment_record_bank_transfer
from billing.services.pdf import invoice_pdf_signed_url
from billing_site.api.idempotency import IDEMPOTENCY_ERROR_CODES, IDEMPOTENCY_KEY_PARAMETER
from billing_site.api.schema import api_errors, error_codes_merge
from billing_site.api.throttling import ScopedThrottle
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_allowed, permission_require

from ..filters import InvoiceFilter
from ..serializers import (
    BankTransferCreateSerializer,
    InvoiceCreatedSerializer,
    InvoiceCreateSerializer,
    InvoiceSerializer,
    PaymentRecordedSerializer,
    krw,
)
from .common import CustomerOwnedViewSet, absolute_url, customer_of, pdf_link, validated

# Who may act is their Django permissions, not `is_staff` (docs/security.md); the services check the change itself.
STAFF_ERRORS = error_codes_merge(
    {403: ["permission_denied"], 409: ["invalid_invoice_transition"]}, IDEMPOTENCY_ERROR_CODES
)


class InvoiceViewSet(CustomerOwnedViewSet):
    """A customer's issued invoices (another customer's is 404), and what staff do with anyone's."""

    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter
    lookup_url_kwarg = "invoice_id"
    owned_list = selectors.invoice_list
    # Every issue takes a number from the gapless daily sequence: its own throttle (THROTTLE_INVOICES_RATE).
    throttle_scope = "invoices"

    def get_throttles(self) -> list[BaseThrottle]:
        return [ScopedThrottle()] if self.action == "create" else []

    @extend_schema(
        operation_id="payment_invoice_create",
        summary="Create and issue an invoice",
        description=(
            "Creates and finalizes an invoice for the caller (`customer_id` needs billing.add_invoice): numbered "
            "YYYYMMDD-NNNN (Asia/Seoul), its Korean or English PDF rendered and stored. VAT is computed by the "
            "server from the customer's tax treatment (taxable: the rate of the issue day, 10% today, truncated to the "
            "minor unit; zero-rated or exempt: 0); a "
            "`tax_krw`/`tax` that differs is 400 `tax_mismatch`. With `order_id` the amounts come from that "
            "order. With BILLING_CUSTOMER_INVOICES=orders_only a customer may only invoice their own orders "
            "(403 `customer_invoices_orders_only`)."
        ),
        request=InvoiceCreateSerializer,
        responses={201: InvoiceCreatedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["invoices"],
    )
    @api_errors(
        {
            400: ["invalid_amount", "amount_mismatch", "tax_mismatch", "unsupported_currency", "invalid_due_days"],
            403: ["customer_invoices_orders_only"],
            404: ["not_found"],
            409: ["order_not_invoiceable", "order_tax_outdated", "currency_mismatch"],
        },
        IDEMPOTENCY_ERROR_CODES,
    )
    def create(self, request: Request) -> Response:
        """POST /api/payment/invoice: create and issue an invoice for the caller (or, with add_invoice, a customer)."""
        data = validated(InvoiceCreateSerializer, request.data)
        customer, order = _billed(request, customer_id=data.get("customer_id"), order_id=data.get("order_id"))
        invoice = invoice_issue_requested(
            customer=customer,
            actor=request.user,
            amount=data.get("amount"),
            tax=data.get("tax"),
            currency=data.get("currency"),
            days_until_due=data.get("due_days"),
            order=order,
            description=data.get("description", ""),
        )
        invoice.refresh_from_db()  # the PDF was rendered when the transaction committed
        pdf_url, pdf_url_expires_at = pdf_link(request, invoice)
        body = {
            "invoice_id": invoice.pk,
            "invoice_number": invoice.number,
            "pdf_url": pdf_url,
            "pdf_url_expires_at": pdf_url_expires_at,
            "stripe_url": invoice.stripe_hosted_invoice_url or None,
            "total_krw": krw(invoice.currency, invoice.total),
            "currency": invoice.currency,
            "subtotal": invoice.subtotal,
            "tax": invoice.tax,
            "total": invoice.total,
            "status": invoice.status,
            "pdf_status": invoice.pdf_status,
        }
        return Response(InvoiceCreatedSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="invoices_list",
        summary="List your invoices",
        responses={200: InvoiceSerializer(many=True)},
        tags=["invoices"],
    )
    @api_errors({400: ["validation_error"]})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """GET /api/invoices: the caller's issued invoices, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(operation_id="invoices_retrieve", responses={200: InvoiceSerializer}, tags=["invoices"])
    def retrieve(self, request: Request, invoice_id: str) -> Response:
        """GET /api/invoices/{id}: one of the caller's invoices with its lines."""
        invoice = selectors.invoice_get(customer=customer_of(request), invoice_id=int(invoice_id))
        return Response(InvoiceSerializer(invoice, context={"request": request}).data)

    @extend_schema(
        operation_id="invoices_pdf",
        summary="Download an invoice PDF",
        description="Redirects (302) to a fresh signed URL of the invoice's current PDF (valid for an hour).",
        responses={302: OpenApiResponse(description="Location: the signed PDF URL.")},
        tags=["invoices"],
    )
    @api_errors({503: ["storage_unavailable", "pdf_pending"]})
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, invoice_id: str) -> Response:
        """GET /api/invoices/{id}/pdf: redirect to a fresh signed link of the current PDF."""
        invoice = selectors.invoice_get(customer=customer_of(request), invoice_id=int(invoice_id))
        link = invoice_pdf_signed_url(invoice=invoice, render_if_pending=True)
        if link is None:
            raise ApplicationError("pdf_pending", "The PDF is being prepared; try again shortly.", status_code=503)
        return Response(
            status=status.HTTP_302_FOUND,
            headers={"Location": absolute_url(request, link[0]), "Cache-Control": "private, no-store"},
        )

    # --- staff: any customer's invoice, through the same services the admin calls ---

    @extend_schema(
        operation_id="invoices_payments_create",
        summary="Record a bank transfer (staff)",
        request=BankTransferCreateSerializer,
        responses={201: PaymentRecordedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["staff"],
    )
    @api_errors(
        STAFF_ERRORS,
        {
            400: ["invalid_amount", "currency_mismatch"],
            409: ["invoice_not_payable", "amount_exceeds_remaining", "duplicate_payment_reference"],
        },
    )
    @action(detail=True, methods=["post"])
    def payments(self, request: Request, invoice_id: str) -> Response:
        """POST /api/invoices/{id}/payments: record a bank transfer received for the invoice."""
        data = validated(BankTransferCreateSerializer, request.data)
        invoice = _staff_invoice(request, invoice_id)
        payment = payment_record_bank_transfer(
            invoice=invoice,
            amount=data["amount"],
            currency=data.get("currency"),
            actor=request.user,
            reference=data["reference"],
            note=data["note"],
            received_at=data.get("received_at"),
        )
        body = {"payment": payment, "invoice": selectors.invoice_get_for_staff(invoice_id=invoice.pk)}
        return Response(
            PaymentRecordedSerializer(body, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        operation_id="invoices_void",
        summary="Void an invoice (staff)",
        request=None,
        responses={200: InvoiceSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["staff"],
    )
    @api_errors(STAFF_ERRORS, {409: ["invoice_has_payments"]})
    @action(detail=True, methods=["post"])
    def void(self, request: Request, invoice_id: str) -> Response:
        """POST /api/invoices/{id}/void: void an open or uncollectible invoice without payments."""
        invoice = invoice_void(invoice=_staff_invoice(request, invoice_id), actor=request.user)
        return _staff_invoice_response(request, invoice)

    @extend_schema(
        operation_id="invoices_mark_uncollectible",
        summary="Mark an invoice uncollectible (staff)",
        request=None,
        responses={200: InvoiceSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["staff"],
    )
    @api_errors(STAFF_ERRORS)
    @action(detail=True, methods=["post"], url_path="mark-uncollectible")
    def mark_uncollectible(self, request: Request, invoice_id: str) -> Response:
        """POST /api/invoices/{id}/mark-uncollectible: write an open invoice off (it can still be paid)."""
        invoice = invoice_mark_uncollectible(invoice=_staff_invoice(request, invoice_id), actor=request.user)
        return _staff_invoice_response(request, invoice)


def _billed(request: Request, *, customer_id: int | None, order_id: int | None) -> tuple[Customer, Order | None]:
    """Whom POST /api/payment/invoice bills, and for which order.

    Staff who may see orders (billing.view_order) may name any customer's order; invoicing someone else's then
    needs billing.add_invoice (the service checks). Otherwise the customer is the caller's own profile, or the one
    named (see `_billed_customer`), and the order must be that customer's.
    """
    if (
        order_id is not None
        and customer_id is None
        and permission_allowed(actor=request.user, permission="billing.view_order")
    ):
        any_order = selectors.order_get_for_staff(order_id=order_id)
        return any_order.customer, any_order
    customer = _billed_customer(request, customer_id)
    order = selectors.order_get(customer=customer, order_id=order_id) if order_id is not None else None
    return customer, order


def _billed_customer(request: Request, customer_id: int | None) -> Customer:
    """The caller's own profile, or the customer named.

    Users who may see customers (billing.view_customer) may name any; the invoice service then wants
    billing.add_invoice to bill them. For anyone else another customer's id is 404, as if it did not exist.
    """
    if customer_id is None:
        return customer_get_or_create(user=request.user)
    own = customer_of(request)
    if own is not None and own.pk == customer_id:
        return own
    if permission_allowed(actor=request.user, permission="billing.view_customer"):
        return selectors.customer_get(customer_id=customer_id)
    raise ApplicationError("not_found", "Not found.", status_code=404)


def _staff_invoice(request: Request, invoice_id: str) -> Invoice:
    """Any customer's invoice: billing.view_invoice is checked before the lookup, so that nobody else can probe
    invoice ids (403, not 404)."""
    permission_require(actor=request.user, permission="billing.view_invoice")
    return selectors.invoice_get_for_staff(invoice_id=int(invoice_id))


def _staff_invoice_response(request: Request, invoice: Invoice) -> Response:
    fresh = selectors.invoice_get_for_staff(invoice_id=invoice.pk)
    return Response(InvoiceSerializer(fresh, context={"request": request}).data)
