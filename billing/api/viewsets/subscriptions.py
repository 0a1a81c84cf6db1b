"""Plans on sale, subscribing, the caller's subscriptions (list, cancel; the lifecycle actions are in
subscription_lifecycle) and checkout."""

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing.services.checkout import CheckoutResult, checkout_create
from billing.services.customers import customer_get_or_create
from billing.services.subscriptions import SubscriptionStart, subscription_cancel, subscription_create
from billing_site.api.idempotency import IDEMPOTENCY_ERROR_CODES, IDEMPOTENCY_KEY_PARAMETER
from billing_site.api.schema import api_errors

from ..filters import SubscriptionFilter
from ..serializers import krw, request_language
from ..subscription_serializers import (
    CancelQuerySerializer,
    CheckoutCreatedSerializer,
    CheckoutSerializer,
    PlanListQuerySerializer,
    PlanSerializer,
    SubscribedSerializer,
    SubscribeSerializer,
    SubscriptionSerializer,
)
from .common import CustomerOwnedViewSet, customer_of, invoice_for_response, pdf_link, validated
from .orders import order_items
from .subscription_lifecycle import SubscriptionLifecycleMixin


class PlanViewSet(viewsets.GenericViewSet):
    """Public: a pricing page reads it without logging in (a stale token must not break it either)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []
    pagination_class = None  # a handful of plans, in display order

    @extend_schema(
        operation_id="payment_plans_list",
        summary="List the plans on sale",
        description=(
            "Active plans in display order. Prices are per period and exclude VAT (added on the invoice by the "
            "customer's tax treatment: 10% for a taxable customer today). `features` and `name` follow "
            "Accept-Language (Korean by default, English with `en`). "
            "`prices` lists every currency a plan is sold in; `?currency=USD` lists only the plans sold in USD, "
            "at their USD prices (none: an empty list)."
        ),
        parameters=[PlanListQuerySerializer],
        responses={200: PlanSerializer(many=True)},
        auth=[],
        tags=["subscriptions"],
    )
    @api_errors({400: ["validation_error"]})
    def list(self, request: Request) -> Response:
        language = request_language()
        # A plain dict: DRF reads an empty form value as "not given", and `?currency=` names no currency.
        currency = validated(PlanListQuerySerializer, request.query_params.dict()).get("currency")
        plans = selectors.plan_list_active(currency)
        return Response([PlanSerializer.represent(plan, language, currency) for plan in plans])


class SubscriptionViewSet(SubscriptionLifecycleMixin, CustomerOwnedViewSet):
    """The caller's subscriptions; subscribe and checkout start one (another customer's is 404)."""

    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilter
    lookup_url_kwarg = "subscription_id"
    owned_list = selectors.subscription_list

    @extend_schema(
        operation_id="payment_subscriptions_list",
        summary="List your subscriptions",
        description="Newest first, every state (a plan change leaves the old one `canceled`).",
        responses={200: SubscriptionSerializer(many=True)},
        tags=["subscriptions"],
    )
    @api_errors({400: ["validation_error"]})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="payment_subscriptions_cancel",
        summary="Cancel a subscription",
        description=(
            "By default the subscription ends at the end of the current period (service continues until "
            "then, nothing more is billed). `?immediately=true` ends it now, without a refund. Idempotent: "
            "canceling again answers the same subscription. An unpaid (incomplete) subscription ends now "
            "and its invoice is voided."
        ),
        parameters=[CancelQuerySerializer],
        responses={200: SubscriptionSerializer},
        tags=["subscriptions"],
    )
    @api_errors({400: ["validation_error"]})
    def destroy(self, request: Request, subscription_id: str) -> Response:
        # A plain dict, not the QueryDict: DRF reads `?immediately=` from a QueryDict as "not sent", we refuse it.
        query = validated(CancelQuerySerializer, request.query_params.dict())
        subscription = selectors.subscription_get(customer=customer_of(request), subscription_id=int(subscription_id))
        canceled = subscription_cancel(subscription=subscription, immediately=query["immediately"], actor=request.user)
        return Response(SubscriptionSerializer(canceled).data)

    @extend_schema(
        operation_id="payment_subscribe",
        summary="Subscribe to a plan (or change plans)",
        description=(
            "Starts the subscription today (Asia/Seoul) and issues the first period's invoice, finalized, "
            "to be paid by bank transfer within its terms, or by card through Stripe with `payment_method_id` "
            "when Stripe is on. With a live subscription this changes plans: "
            "the old one ends now and its unused days are credited pro rata (truncated to the won) as a "
            "negative line on the new invoice; a credit larger than the new charge goes to your credit "
            "balance for later invoices. The same plan and period again is 409 `already_subscribed`. "
            "A plan with `trial_days` starts a free trial (one per customer and 사업자등록번호): 201, `status` "
            '`trialing`, `invoice` null. A downgrade (or `"when": "period_end"`) waits for the end of the paid '
            "period: 200 (nothing created), `invoice` null, the subscription's `pending_change` set. `quantity`: "
            "seats of a per-seat plan; more seats of the same plan are added now (200 with their prorated invoice). "
            "`coupon`: a promotion code, checked before anything is charged and redeemed with the subscription "
            "(once per customer); its discount is a `discount` line before VAT on the first invoice. `currency`: "
            "what a first subscription is billed in, among the plan's prices; it becomes the account's currency, "
            "fixed from then on (another one later is 409 `currency_mismatch`)."
        ),
        request=SubscribeSerializer,
        responses={
            201: SubscribedSerializer,
            200: OpenApiResponse(
                SubscribedSerializer,
                description="The live subscription changed in place (a change set for the period end, more seats).",
            ),
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["subscriptions"],
    )
    @api_errors(
        {
            400: [
                "plan_not_available",
                "invalid_billing_period",
                "card_payments_unavailable",
                "invalid_payment_method",
                "invalid_quantity",
                "plan_not_per_seat",
                "invalid_coupon",
            ],
            409: [
                "coupon_already_redeemed",
                "already_subscribed",
                "subscription_ending",
                "subscription_paused",
                "currency_mismatch",
                "period_already_invoiced",
                "replaced_invoice_partly_paid",
                # With Stripe on: another card subscribe of this customer is being charged; the subscription changed
                # while the card was charged, or the charge took too long (the charge is refunded; try again).
                "subscribe_in_progress",
                "subscription_changed",
                "subscribe_interrupted",
            ],
            # With Stripe on (the Stripe payment provider):
            402: ["card_declined", "card_authentication_required", "payment_method_required"],
            502: ["stripe_amount_mismatch", "stripe_request_failed"],
            503: ["stripe_unavailable"],
        },
        IDEMPOTENCY_ERROR_CODES,
    )
    @action(detail=False, methods=["post"])
    def subscribe(self, request: Request) -> Response:
        data = validated(SubscribeSerializer, request.data)
        customer = customer_get_or_create(user=request.user)
        live_before = selectors.live_subscription_id(customer=customer)
        started = subscription_create(
            customer=customer,
            plan=selectors.plan_get_active(slug=data["plan"]),
            billing_period=data["billing_period"],
            payment_method_id=data.get("payment_method_id") or None,
            when=data.get("when", "auto"),
            quantity=data.get("quantity"),
            coupon=data.get("coupon") or "",
            currency=data.get("currency"),
        )
        # 201 when a subscription started (new, a trial, or replacing the live one); 200 when the live one was
        # changed in place: a change scheduled for the period end, seats added, a trial's plan changed.
        created = started.subscription.pk != live_before
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(_subscribed_body(request, started), status=answer)

    @extend_schema(
        operation_id="payment_checkout",
        summary="Check out a plan or items",
        description=(
            "Creates an order and its open invoice and answers how to pay it. With `plan` and "
            "`billing_period` an `incomplete` subscription is created too: it becomes active when the "
            "invoice is paid and expires if the invoice is still unpaid after its due date. With `items` "
            "(`description`, `quantity`, `unit_amount_krw`) it is a one-off order. While card payments are "
            "off, `payment` is a bank transfer to our account with the invoice number as the reference. `coupon` "
            "(a promotion code, with a plan only) discounts the invoice: a `discount` line before VAT."
        ),
        request=CheckoutSerializer,
        responses={201: CheckoutCreatedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["subscriptions"],
    )
    @api_errors(
        {
            400: [
                "plan_not_available",
                "nothing_to_pay",
                "invalid_amount",
                "invalid_item",
                "unsupported_currency",
                "order_has_no_items",
                "invalid_coupon",
            ],
            403: ["customer_prices_not_accepted"],
            409: ["already_subscribed", "subscription_exists", "coupon_already_redeemed", "currency_mismatch"],
            # With Stripe on and unreachable the checkout still stands (committed first): `card` is null and the
            # invoice is paid by bank transfer, so no 502/503 here.
        },
        IDEMPOTENCY_ERROR_CODES,
    )
    @action(detail=False, methods=["post"])
    def checkout(self, request: Request) -> Response:
        data = validated(CheckoutSerializer, request.data)
        customer = customer_get_or_create(user=request.user)
        if "plan" in data:
            result = checkout_create(
                customer=customer,
                plan=selectors.plan_get_active(slug=data["plan"]),
                billing_period=data["billing_period"],
                coupon=data.get("coupon") or "",
            )
        else:
            result = checkout_create(
                customer=customer,
                items=order_items(data["items"]),
                currency=data.get("currency"),
                coupon=data.get("coupon") or "",
            )
        return Response(_checkout_body(request, result), status=status.HTTP_201_CREATED)


def _subscribed_body(request: Request, started: SubscriptionStart) -> dict[str, Any]:
    subscription = started.subscription
    # A trial or a change scheduled for the period end has no invoice (yet): invoice and its links are null.
    invoice = invoice_for_response(started.invoice) if started.invoice is not None else None
    pdf_url, pdf_expires_at = pdf_link(request, invoice) if invoice is not None else (None, None)
    proration = None
    if started.replaced is not None:
        proration = {
            "replaced_subscription_id": started.replaced.pk,
            "credit": started.credit,
            "credit_on_invoice": started.credit_on_invoice,
            "credit_to_balance": started.credit_to_balance,
            "balance_used": started.balance_used,
        }
    body = {
        "subscription_id": subscription.pk,
        "next_billing_date": subscription.next_billing_date,
        "amount_krw": krw(subscription.currency, subscription.price_amount),
        "amount": subscription.price_amount,
        "currency": subscription.currency,
        "status": subscription.status,
        "subscription": subscription,
        "invoice": invoice,
        "pdf_url": pdf_url,
        "pdf_url_expires_at": pdf_expires_at,
        "proration": proration,
    }
    data: dict[str, Any] = SubscribedSerializer(body, context={"request": request}).data
    return data


def _checkout_body(request: Request, result: CheckoutResult) -> dict[str, Any]:
    invoice = invoice_for_response(result.invoice)
    order = selectors.order_get(customer=invoice.customer, order_id=result.order.pk)
    payment = result.payment
    body = {
        "order_id": order.pk,
        "invoice_id": invoice.pk,
        "invoice_number": invoice.number,
        "total_krw": krw(invoice.currency, invoice.total),
        "order": order,
        "invoice": invoice,
        "subscription": result.subscription,
        "payment": {
            "method": payment.method,
            "amount": payment.amount,
            "amount_krw": krw(payment.currency, payment.amount),
            "currency": payment.currency,
            "bank_name": payment.bank_name,
            "account_number": payment.account_number,
            "account_holder": payment.account_holder,
            "reference": payment.reference,
            "due_date": payment.due_date,
            "instructions": payment.instructions,
        },
        "card": asdict(result.card) if result.card is not None else None,
    }
    data: dict[str, Any] = CheckoutCreatedSerializer(body, context={"request": request}).data
    return data
