"""Customer and staff endpoints of the billing app. Views parse and serialize; services and selectors decide."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors
from billing.models import Customer, Invoice
from billing.services.customers import customer_get_or_create
from billing.services.invoices import invoice_issue_requested, invoice_mark_uncollectible, invoice_void
from billing.services.orders import OrderItemInput, order_place
from billing.services.payments import payment_record_bank_transfer
from billing.services.pdf import invoice_pdf_signed_url
from billing_site.api.idempotency import IDEMPOTENCY_ERROR_CODES, IDEMPOTENCY_KEY_PARAMETER, IdempotencyMixin
from billing_site.api.pagination import LimitOffsetPagination, paging_params
from billing_site.api.throttling import ScopedThrottle
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_allowed, permission_require

from .serializers import (
    BankTransferCreateSerializer,
    HistoryQuerySerializer,
    HistorySerializer,
    InvoiceCreatedSerializer,
    InvoiceCreateSerializer,
    InvoiceListQuerySerializer,
    InvoiceSerializer,
    OrderCreateSerializer,
    OrderListQuerySerializer,
    OrderSerializer,
    PaymentRecordedSerializer,
    invoice_pdf_api_url,
)


def _codes(*groups: dict[int, list[str]]) -> dict[int, list[str]]:
    merged: dict[int, list[str]] = {}
    for group in groups:
        for status_code, codes in group.items():
            merged.setdefault(status_code, []).extend(code for code in codes if code not in merged[status_code])
    return merged


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    # DRF treats `?status=` in a query string as absent; a filter sent empty is a mistake, so say so.
    blank = {name: ["May not be blank."] for name in serializer.fields if request.query_params.get(name) == ""}
    if blank:
        raise serializers.ValidationError(blank)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _absolute(request: Request, url: str) -> str:
    return url if "://" in url else request.build_absolute_uri(url)


class InvoiceCreateView(IdempotencyMixin, APIView):
    """POST /api/payment/invoice: create and issue an invoice for the caller (or, with add_invoice, a customer)."""

    # Every call takes a number from the gapless daily sequence: its own throttle (THROTTLE_INVOICES_RATE).
    throttle_classes = [ScopedThrottle]
    throttle_scope = "invoices"
    api_error_codes = _codes(
        {
            400: ["invalid_amount", "amount_mismatch", "tax_mismatch", "unsupported_currency", "invalid_due_days"],
            403: ["customer_invoices_orders_only"],
            404: ["not_found"],
            409: ["order_not_invoiceable", "order_tax_outdated"],
        },
        IDEMPOTENCY_ERROR_CODES,
    )

    @extend_schema(
        operation_id="payment_invoice_create",
        summary="Create and issue an invoice",
        description=(
            "Creates and finalizes an invoice for the caller (`customer_id` needs billing.add_invoice): numbered "
            "YYYYMMDD-NNNN (Asia/Seoul), its Korean or English PDF rendered and stored. VAT is computed by the "
            "server from the customer's tax treatment (taxable 10% truncated, zero-rated or exempt 0); a "
            "`tax_krw`/`tax` that differs is 400 `tax_mismatch`. With `order_id` the amounts come from that "
            "order. With BILLING_CUSTOMER_INVOICES=orders_only a customer may only invoice their own orders "
            "(403 `customer_invoices_orders_only`)."
        ),
        request=InvoiceCreateSerializer,
        responses={201: InvoiceCreatedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["invoices"],
    )
    def post(self, request: Request) -> Response:
        serializer = InvoiceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order = None
        may_see_orders = permission_allowed(actor=request.user, permission="billing.view_order")
        if "order_id" in data and may_see_orders and "customer_id" not in data:
            # Any customer's order; invoicing someone else's needs billing.add_invoice (the service checks).
            order = selectors.order_get_for_staff(order_id=data["order_id"])
            customer = order.customer
        else:
            customer = _billed_customer(request, data.get("customer_id"))
            if "order_id" in data:
                order = selectors.order_get(customer=customer, order_id=data["order_id"])
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
        link = _pdf_link_quietly(invoice)
        body = {
            "invoice_id": invoice.pk,
            "invoice_number": invoice.number,
            "pdf_url": _absolute(request, link[0]) if link else None,
            "pdf_url_expires_at": link[1] if link else None,
            "stripe_url": invoice.stripe_hosted_invoice_url or None,
            "total_krw": invoice.total if invoice.currency == "KRW" else None,
            "currency": invoice.currency,
            "subtotal": invoice.subtotal,
            "tax": invoice.tax,
            "total": invoice.total,
            "status": invoice.status,
            "pdf_status": invoice.pdf_status,
        }
        return Response(InvoiceCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


def _billed_customer(request: Request, customer_id: int | None) -> Customer:
    """The caller's own profile, or the customer named.

    Users who may see customers (billing.view_customer) may name any; the invoice service then wants
    billing.add_invoice to bill them. For anyone else another customer's id is 404, as if it did not exist.
    """
    if customer_id is None:
        return customer_get_or_create(user=request.user)
    own = selectors.customer_for_user(user=request.user)
    if own is not None and own.pk == customer_id:
        return own
    if permission_allowed(actor=request.user, permission="billing.view_customer"):
        return selectors.customer_get(customer_id=customer_id)
    raise ApplicationError("not_found", "Not found.", status_code=404)


def _pdf_link_quietly(invoice: Invoice) -> tuple[str, Any] | None:
    try:
        return invoice_pdf_signed_url(invoice=invoice)
    except ApplicationError:
        return None  # storage cannot sign right now; GET /api/invoices/{id}/pdf will


class InvoiceListView(APIView):
    """GET /api/invoices: the caller's issued invoices, newest first."""

    pagination_class = LimitOffsetPagination
    api_error_codes = {400: ["validation_error"]}

    @extend_schema(
        operation_id="invoices_list",
        summary="List your invoices",
        parameters=[InvoiceListQuerySerializer],
        responses={200: InvoiceSerializer(many=True)},
        tags=["invoices"],
    )
    def get(self, request: Request) -> Response:
        query = _query(InvoiceListQuerySerializer, request)
        invoices: QuerySet = selectors.invoice_list(
            customer=selectors.customer_for_user(user=request.user), status=query.get("status")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(invoices, request, view=self)
        return paginator.get_paginated_response(InvoiceSerializer(page, many=True, context={"request": request}).data)


class InvoiceDetailView(APIView):
    """GET /api/invoices/{id}: one of the caller's invoices with its lines."""

    @extend_schema(operation_id="invoices_retrieve", responses={200: InvoiceSerializer}, tags=["invoices"])
    def get(self, request: Request, invoice_id: str) -> Response:
        invoice = selectors.invoice_get(
            customer=selectors.customer_for_user(user=request.user), invoice_id=int(invoice_id)
        )
        return Response(InvoiceSerializer(invoice, context={"request": request}).data)


class InvoicePdfView(APIView):
    """GET /api/invoices/{id}/pdf: redirect to a fresh signed link of the current PDF."""

    api_error_codes = {503: ["storage_unavailable", "pdf_pending"]}

    @extend_schema(
        operation_id="invoices_pdf",
        summary="Download an invoice PDF",
        description="Redirects (302) to a fresh signed URL of the invoice's current PDF (valid for an hour).",
        responses={302: OpenApiResponse(description="Location: the signed PDF URL.")},
        tags=["invoices"],
    )
    def get(self, request: Request, invoice_id: str) -> Response:
        invoice = selectors.invoice_get(
            customer=selectors.customer_for_user(user=request.user), invoice_id=int(invoice_id)
        )
        link = invoice_pdf_signed_url(invoice=invoice, render_if_pending=True)
        if link is None:
            raise ApplicationError("pdf_pending", "The PDF is being prepared; try again shortly.", status_code=503)
        return Response(
            status=status.HTTP_302_FOUND,
            headers={"Location": _absolute(request, link[0]), "Cache-Control": "private, no-store"},
        )


class OrderListCreateView(IdempotencyMixin, APIView):
    """GET /api/orders: the caller's orders; POST: place one."""

    pagination_class = LimitOffsetPagination
    api_error_codes = _codes(
        {
            400: ["validation_error", "invalid_amount", "unsupported_currency", "invalid_item"],
            403: ["customer_prices_not_accepted"],
        },
        IDEMPOTENCY_ERROR_CODES,
    )

    @extend_schema(
        operation_id="orders_list",
        parameters=[OrderListQuerySerializer],
        responses={200: OrderSerializer(many=True)},
        tags=["orders"],
    )
    def get(self, request: Request) -> Response:
        query = _query(OrderListQuerySerializer, request)
        orders = selectors.order_list(
            customer=selectors.customer_for_user(user=request.user), status=query.get("status")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order",
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["orders"],
    )
    def post(self, request: Request) -> Response:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order = order_place(
            customer=customer_get_or_create(user=request.user),
            items=[
                OrderItemInput(
                    description=item["description"], unit_amount=item["unit_amount"], quantity=item["quantity"]
                )
                for item in data["items"]
            ],
            currency=data.get("currency"),
            description=data.get("description", ""),
        )
        order = selectors.order_get(customer=order.customer, order_id=order.pk)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderDetailView(APIView):
    """GET /api/orders/{id}: one of the caller's orders with its items."""

    @extend_schema(operation_id="orders_retrieve", responses={200: OrderSerializer}, tags=["orders"])
    def get(self, request: Request, order_id: str) -> Response:
        order = selectors.order_get(customer=selectors.customer_for_user(user=request.user), order_id=int(order_id))
        return Response(OrderSerializer(order).data)


class PaymentHistoryView(APIView):
    """GET /api/payment/history: invoices and payments in one list, newest first."""

    api_error_codes = {400: ["validation_error", "invalid_pagination"]}

    @extend_schema(
        operation_id="payment_history",
        summary="Invoices and payments, newest first",
        parameters=[
            HistoryQuerySerializer,
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1}, description="Items per page (default 20, at most 100)."
            ),
            OpenApiParameter("offset", {"type": "integer", "minimum": 0}, description="Items to skip."),
        ],
        responses={200: HistorySerializer},
        tags=["payments"],
    )
    def get(self, request: Request) -> Response:
        query = _query(HistoryQuerySerializer, request)
        limit, offset = paging_params(request)
        total, entries = selectors.payment_history(
            customer=selectors.customer_for_user(user=request.user),
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
                "amount_krw": entry.amount if entry.currency == "KRW" else None,
                "amount": entry.amount,
                "currency": entry.currency,
                "status": entry.status,
                "invoice_id": entry.invoice_id,
                "urls": {
                    "pdf": invoice_pdf_api_url(request, entry.id) if entry.type == "invoice" else None,
                    "stripe": entry.stripe_url or None,
                },
            }
            for entry in entries
        ]
        return Response(HistorySerializer({"total": total, "limit": limit, "offset": offset, "history": history}).data)


class _StaffInvoiceActionView(IdempotencyMixin, APIView):
    """Staff actions on any customer's invoice (the same services the admin calls, which check the permission).

    Who may act is their Django permissions, not `is_staff` (docs/security.md): reading any customer's invoice
    needs billing.view_invoice, checked before the lookup so that nobody else can probe invoice ids (403, not
    404); the service then checks the permission of the change itself.
    """

    permission_classes = [permissions.IsAuthenticated]
    api_error_codes = _codes({403: ["permission_denied"], 409: ["invalid_invoice_transition"]}, IDEMPOTENCY_ERROR_CODES)

    def _invoice(self, request: Request, invoice_id: str) -> Invoice:
        permission_require(actor=request.user, permission="billing.view_invoice")
        return selectors.invoice_get_for_staff(invoice_id=int(invoice_id))

    def _invoice_response(self, request: Request, invoice: Invoice, status_code: int = 200) -> Response:
        fresh = selectors.invoice_get_for_staff(invoice_id=invoice.pk)
        return Response(InvoiceSerializer(fresh, context={"request": request}).data, status=status_code)


class InvoicePaymentCreateView(_StaffInvoiceActionView):
    """POST /api/invoices/{id}/payments: record a bank transfer received for the invoice."""

    api_error_codes = _codes(
        _StaffInvoiceActionView.api_error_codes,
        {
            400: ["invalid_amount", "currency_mismatch"],
            409: ["invoice_not_payable", "amount_exceeds_remaining", "duplicate_payment_reference"],
        },
    )

    @extend_schema(
        operation_id="invoices_payments_create",
        summary="Record a bank transfer (staff)",
        request=BankTransferCreateSerializer,
        responses={201: PaymentRecordedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["staff"],
    )
    def post(self, request: Request, invoice_id: str) -> Response:
        serializer = BankTransferCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invoice = self._invoice(request, invoice_id)
        payment = payment_record_bank_transfer(
            invoice=invoice,
            amount=data["amount"],
            currency=data.get("currency"),
            actor=request.user,
            reference=data["reference"],
            note=data["note"],
            received_at=data.get("received_at"),
        )
        fresh = selectors.invoice_get_for_staff(invoice_id=invoice.pk)
        body = {"payment": payment, "invoice": fresh}
        return Response(
            PaymentRecordedSerializer(body, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class InvoiceVoidView(_StaffInvoiceActionView):
    """POST /api/invoices/{id}/void: void an open or uncollectible invoice without payments."""

    api_error_codes = _codes(_StaffInvoiceActionView.api_error_codes, {409: ["invoice_has_payments"]})

    @extend_schema(
        operation_id="invoices_void",
        summary="Void an invoice (staff)",
        request=None,
        responses={200: InvoiceSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["staff"],
    )
    def post(self, request: Request, invoice_id: str) -> Response:
        invoice = invoice_void(invoice=self._invoice(request, invoice_id), actor=request.user)
        return self._invoice_response(request, invoice)


class InvoiceMarkUncollectibleView(_StaffInvoiceActionView):
    """POST /api/invoices/{id}/mark-uncollectible: write an open invoice off (it can still be paid)."""

    @extend_schema(
        operation_id="invoices_mark_uncollectible",
        summary="Mark an invoice uncollectible (staff)",
        request=None,
        responses={200: InvoiceSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["staff"],
    )
    def post(self, request: Request, invoice_id: str) -> Response:
        invoice = invoice_mark_uncollectible(invoice=self._invoice(request, invoice_id), actor=request.user)
        return self._invoice_response(request, invoice)
