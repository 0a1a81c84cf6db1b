"""Orders: the caller's list and detail, and placing one (POST /api/orders)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing.services.customers import customer_get_or_create
from billing.services.orders import OrderItemInput, order_place
from billing_site.api.idempotency import IDEMPOTENCY_ERROR_CODES, IDEMPOTENCY_KEY_PARAMETER
from billing_site.api.schema import api_errors

from ..filters import OrderFilter
from ..serializers import OrderCreateSerializer, OrderSerializer
from .common import CustomerOwnedViewSet, customer_of, validated


def order_items(items: list[dict[str, Any]]) -> list[OrderItemInput]:
    """Validated item bodies (OrderItemCreateSerializer) as the order services take them."""
    return [
        OrderItemInput(description=item["description"], unit_amount=item["unit_amount"], quantity=item["quantity"])
        for item in items
    ]


class OrderViewSet(CustomerOwnedViewSet):
    """GET /api/orders: the caller's orders; POST: place one."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    lookup_url_kwarg = "order_id"
    owned_list = selectors.order_list

    @extend_schema(operation_id="orders_list", responses={200: OrderSerializer(many=True)}, tags=["orders"])
    @api_errors({400: ["validation_error"]})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order",
        request=OrderCreateSerializer,
        responses={201: OrderSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["orders"],
    )
    @api_errors(
        {
            400: ["validation_error", "invalid_amount", "unsupported_currency", "invalid_item"],
            403: ["customer_prices_not_accepted"],
            409: ["currency_mismatch"],
        },
        IDEMPOTENCY_ERROR_CODES,
    )
    def create(self, request: Request) -> Response:
        data = validated(OrderCreateSerializer, request.data)
        order = order_place(
            customer=customer_get_or_create(user=request.user),
            items=order_items(data["items"]),
            currency=data.get("currency"),
            description=data.get("description", ""),
        )
        order = selectors.order_get(customer=order.customer, order_id=order.pk)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="orders_retrieve", responses={200: OrderSerializer}, tags=["orders"])
    def retrieve(self, request: Request, order_id: str) -> Response:
        """GET /api/orders/{id}: one of the caller's orders with its items."""
        order = selectors.order_get(customer=customer_of(request), order_id=int(order_id))
        return Response(OrderSerializer(order).data)
