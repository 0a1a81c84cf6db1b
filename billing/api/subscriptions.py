"""Plans, subscribe, subscriptions and checkout endpoints (views and their bodies). Services decide; views translate."""

from dataclasses import asdict
from typing import Any

from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors
from billing.enums import Language
from billing.models import Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.periods import BillingPeriod
from billing.services.checkout import CheckoutResult, checkout_create
from billing.services.customers import customer_get_or_create
from billing.services.orders import OrderItemInput
from billing.services.pdf import invoice_pdf_signed_url
from billing.services.plans import plan_get_active, plan_list_active
from billing.services.subscriptions import (
    SubscriptionStart,
    subscription_cancel,
    subscription_create,
    subscription_get,
    subscription_list,
)
from billing_site.api.idempotency import IDEMPOTENCY_ERROR_CODES, IDEMPOTENCY_KEY_PARAMETER, IdempotencyMixin
from billing_site.api.pagination import LimitOffsetPagination
from billing_site.errors import ApplicationError

from .serializers import InvoiceSerializer, MinorUnitsField, OrderItemCreateSerializer, OrderSerializer


def _language() -> str:
    """The request's language (Accept-Language through LocaleMiddleware); Korean unless English was asked for."""
    return Language.ENGLISH if (translation.get_language() or "").startswith("en") else Language.KOREAN


def _krw(currency: str, amount: int) -> int | None:
    return amount if currency == "KRW" else None


def _codes(*groups: dict[int, list[str]]) -> dict[int, list[str]]:
    merged: dict[int, list[str]] = {}
    for group in groups:
        for status_code, codes in group.items():
            merged.setdefault(status_code, []).extend(code for code in codes if code not in merged[status_code])
    return merged


# --- bodies -------------------------------------------------------------------------------------------


class PlanSerializer(serializers.Serializer):
    """One plan as a pricing page shows it; prices are per period, VAT excluded."""

    name = serializers.CharField()
    slug = serializers.SlugField()
    monthly_price_krw = serializers.IntegerField(allow_null=True, help_text="Won per month, VAT excluded.")
    annual_price_krw = serializers.IntegerField(allow_null=True, help_text="Won per year, VAT excluded.")
    currency = serializers.CharField()
    monthly_price = MinorUnitsField(help_text="Minor units of `currency` per month, VAT excluded.")
    annual_price = MinorUnitsField(help_text="Minor units of `currency` per year, VAT excluded.")
    features = serializers.ListField(child=serializers.CharField(), help_text="In the request's language.")
    max_projects = serializers.IntegerField(allow_null=True, help_text="null: unlimited.")

    @staticmethod
    def represent(plan: SubscriptionPlan, language: str) -> dict[str, Any]:
        return {
            "name": plan.display_name(language),
            "slug": plan.slug,
            "monthly_price_krw": _krw(plan.currency, plan.monthly_price),
            "annual_price_krw": _krw(plan.currency, plan.annual_price),
            "currency": plan.currency,
            "monthly_price": plan.monthly_price,
            "annual_price": plan.annual_price,
            "features": plan.display_features(language),
            "max_projects": plan.max_projects,
        }


class PlanSummarySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = serializers.SerializerMethodField()
    amount = MinorUnitsField(source="price_amount", help_text="Price of one period, VAT excluded.")
    amount_krw = serializers.SerializerMethodField()
    next_billing_date = serializers.DateField(allow_null=True, read_only=True)
    replaces_id = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "plan",
            "billing_period",
            "status",
            "currency",
            "amount",
            "amount_krw",
            "current_period_start",
            "current_period_end",
            "next_billing_date",
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "cancellation_reason",
            "replaces_id",
            "created_at",
        ]

    @extend_schema_field(PlanSummarySerializer)
    def get_plan(self, subscription: Subscription) -> dict[str, str]:
        return {"slug": subscription.plan.slug, "name": subscription.plan.display_name(_language())}

    @extend_schema_field(OpenApiTypes.INT64)
    def get_amount_krw(self, subscription: Subscription) -> int | None:
        return _krw(subscription.currency, subscription.price_amount)


class SubscribeSerializer(serializers.Serializer):
    plan = serializers.SlugField(max_length=50, help_text="A slug from GET /api/payment/plans.")
    billing_period = serializers.ChoiceField(choices=BillingPeriod.choices)
    payment_method_id = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="A Stripe payment method (card); needs Stripe on."
    )


class ProrationSerializer(serializers.Serializer):
    replaced_subscription_id = serializers.IntegerField()
    credit = MinorUnitsField(help_text="Unused days of the replaced subscription, pro rata, truncated.")
    credit_on_invoice = MinorUnitsField(help_text="The part shown as a negative line on the new invoice.")
    credit_to_balance = MinorUnitsField(help_text="The rest, added to your credit balance for later invoices.")
    balance_used = MinorUnitsField(help_text="Credit balance used by this invoice.")


class SubscribedSerializer(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    next_billing_date = serializers.DateField(allow_null=True)
    amount_krw = serializers.IntegerField(allow_null=True, help_text="Price of one period, VAT excluded (KRW).")
    amount = MinorUnitsField()
    currency = serializers.CharField()
    status = serializers.CharField(help_text="The subscription's status, as in `subscription.status`.")
    subscription = SubscriptionSerializer()
    invoice = InvoiceSerializer(help_text="The first period's invoice, finalized.")
    pdf_url = serializers.URLField(allow_null=True, help_text="Signed link to the invoice PDF; null while pending.")
    pdf_url_expires_at = serializers.DateTimeField(allow_null=True)
    proration = ProrationSerializer(allow_null=True, help_text="Set when the subscription replaced another.")


class SubscriptionListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(required=False, choices=SubscriptionStatus.choices)


class CancelQuerySerializer(serializers.Serializer):
    immediately = serializers.BooleanField(
        required=False, default=False, help_text="true: end now; default: at the end of the current period."
    )


class CheckoutSerializer(serializers.Serializer):
    plan = serializers.SlugField(required=False, max_length=50)
    billing_period = serializers.ChoiceField(required=False, choices=BillingPeriod.choices)
    items = OrderItemCreateSerializer(many=True, required=False, allow_empty=False, max_length=100)
    currency = serializers.CharField(required=False, max_length=3, help_text="With items; ISO 4217, default KRW.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_plan, has_items = "plan" in attrs, "items" in attrs
        if has_plan == has_items:
            raise serializers.ValidationError("Send either plan and billing_period, or items.")
        if has_plan and "billing_period" not in attrs:
            raise serializers.ValidationError({"billing_period": ["Required with a plan."]})
        if has_plan and "currency" in attrs:
            raise serializers.ValidationError({"currency": ["A plan has its own currency."]})
        currency = (attrs.get("currency") or "KRW").upper()
        for index, item in enumerate(attrs.get("items", [])):
            if item.pop("_krw", False) and currency != "KRW":
                raise serializers.ValidationError({"items": {index: {"unit_amount_krw": ["Only for KRW orders."]}}})
        return attrs


class BankTransferSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["bank_transfer"])
    amount = MinorUnitsField()
    amount_krw = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    bank_name = serializers.CharField()
    account_number = serializers.CharField()
    account_holder = serializers.CharField()
    reference = serializers.CharField(help_text="The invoice number: put it in the transfer's memo.")
    due_date = serializers.DateField()
    instructions = serializers.CharField(help_text="The same, as a sentence in the customer's language.")


class CardPaymentSerializer(serializers.Serializer):
    """With Stripe on: confirm `client_secret` with Stripe.js (publishable key included) to pay the invoice by card."""

    payment_intent_id = serializers.CharField()
    client_secret = serializers.CharField()
    publishable_key = serializers.CharField(allow_blank=True)
    amount = MinorUnitsField()
    currency = serializers.CharField()
    status = serializers.CharField()


class CheckoutCreatedSerializer(serializers.Serializer):
    order_id = serializers.IntegerField()
    invoice_id = serializers.IntegerField()
    invoice_number = serializers.CharField()
    total_krw = serializers.IntegerField(allow_null=True)
    order = OrderSerializer()
    invoice = InvoiceSerializer()
    subscription = SubscriptionSerializer(allow_null=True, help_text="With a plan: incomplete until paid.")
    payment = BankTransferSerializer()
    card = CardPaymentSerializer(allow_null=True, help_text="Card payment through Stripe; null while Stripe is off.")


# --- views --------------------------------------------------------------------------------------------


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    # A plain dict, not the QueryDict: DRF reads `?status=` from a QueryDict as "not sent", we refuse it.
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _invoice_for_response(invoice: Invoice) -> Invoice:
    # Re-read after commit: the PDF rendered then, and the serializer wants the lines in order.
    return selectors.invoice_list(customer=invoice.customer).get(pk=invoice.pk)


def _pdf_link(request: Request, invoice: Invoice) -> tuple[str | None, Any]:
    try:
        link = invoice_pdf_signed_url(invoice=invoice)
    except ApplicationError:
        link = None  # storage cannot sign right now; GET /api/invoices/{id}/pdf will
    if link is None:
        return None, None
    url, expires_at = link
    return (url if "://" in url else request.build_absolute_uri(url)), expires_at


class PlanListView(APIView):
    """Public: a pricing page reads it without logging in (a stale token must not break it either)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="payment_plans_list",
        summary="List the plans on sale",
        description=(
            "Active plans in display order. Prices are per period and exclude VAT (10% is added on the "
            "invoice). `features` and `name` follow Accept-Language (Korean by default, English with `en`)."
        ),
        responses={200: PlanSerializer(many=True)},
        auth=[],
        tags=["subscriptions"],
    )
    def get(self, request: Request) -> Response:
        language = _language()
        return Response([PlanSerializer.represent(plan, language) for plan in plan_list_active()])


class SubscribeView(IdempotencyMixin, APIView):
    api_error_codes = _codes(
        {
            400: [
                "plan_not_available",
                "invalid_billing_period",
                "card_payments_unavailable",
                "invalid_payment_method",
            ],
            409: ["already_subscribed", "currency_mismatch", "period_already_invoiced", "replaced_invoice_partly_paid"],
            # With Stripe on (billing.services.stripe_sync):
            402: ["card_declined", "card_authentication_required", "payment_method_required"],
            502: ["stripe_amount_mismatch", "stripe_request_failed"],
            503: ["stripe_unavailable"],
        },
        IDEMPOTENCY_ERROR_CODES,
    )

    @extend_schema(
        operation_id="payment_subscribe",
        summary="Subscribe to a plan (or change plans)",
        description=(
            "Starts the subscription today (Asia/Seoul) and issues the first period's invoice, finalized, "
            "to be paid by bank transfer within its terms, or by card through Stripe with `payment_method_id` "
            "when Stripe is on. With a live subscription this changes plans: "
            "the old one ends now and its unused days are credited pro rata (truncated to the won) as a "
            "negative line on the new invoice; a credit larger than the new charge goes to your credit "
            "balance for later invoices. The same plan and period again is 409 `already_subscribed`."
        ),
        request=SubscribeSerializer,
        responses={201: SubscribedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["subscriptions"],
    )
    def post(self, request: Request) -> Response:
        serializer = SubscribeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        started = subscription_create(
            customer=customer_get_or_create(user=request.user),
            plan=plan_get_active(slug=data["plan"]),
            billing_period=data["billing_period"],
            payment_method_id=data.get("payment_method_id") or None,
        )
        return Response(self._body(request, started), status=status.HTTP_201_CREATED)

    @staticmethod
    def _body(request: Request, started: SubscriptionStart) -> dict[str, Any]:
        subscription = started.subscription
        invoice = _invoice_for_response(started.invoice)
        pdf_url, pdf_expires_at = _pdf_link(request, invoice)
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
            "amount_krw": _krw(subscription.currency, subscription.price_amount),
            "amount": subscription.price_amount,
            "currency": subscription.currency,
            "status": subscription.status,
            "subscription": subscription,
            "invoice": invoice,
            "pdf_url": pdf_url,
            "pdf_url_expires_at": pdf_expires_at,
            "proration": proration,
        }
        return SubscribedSerializer(body, context={"request": request}).data


class SubscriptionListView(APIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(
        operation_id="payment_subscriptions_list",
        summary="List your subscriptions",
        description="Newest first, every state (a plan change leaves the old one `canceled`).",
        parameters=[SubscriptionListQuerySerializer],
        responses={200: SubscriptionSerializer(many=True)},
        tags=["subscriptions"],
    )
    def get(self, request: Request) -> Response:
        query = _query(SubscriptionListQuerySerializer, request)
        subscriptions = subscription_list(
            customer=selectors.customer_for_user(user=request.user), status=query.get("status")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(subscriptions, request, view=self)
        return paginator.get_paginated_response(SubscriptionSerializer(page, many=True).data)


class SubscriptionCancelView(APIView):
    api_error_codes = {400: ["validation_error"]}

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
    def delete(self, request: Request, subscription_id: str) -> Response:
        query = _query(CancelQuerySerializer, request)
        subscription = subscription_get(
            customer=selectors.customer_for_user(user=request.user), subscription_id=int(subscription_id)
        )
        canceled = subscription_cancel(subscription=subscription, immediately=query["immediately"], actor=request.user)
        return Response(SubscriptionSerializer(canceled).data)


class CheckoutView(IdempotencyMixin, APIView):
    api_error_codes = _codes(
        {
            400: [
                "plan_not_available",
                "nothing_to_pay",
                "invalid_amount",
                "invalid_item",
                "unsupported_currency",
                "order_has_no_items",
            ],
            403: ["customer_prices_not_accepted"],
            409: ["already_subscribed", "subscription_exists"],
            502: ["stripe_request_failed"],  # with Stripe on: the PaymentIntent could not be made
            503: ["stripe_unavailable"],
        },
        IDEMPOTENCY_ERROR_CODES,
    )

    @extend_schema(
        operation_id="payment_checkout",
        summary="Check out a plan or items",
        description=(
            "Creates an order and its open invoice and answers how to pay it. With `plan` and "
            "`billing_period` an `incomplete` subscription is created too: it becomes active when the "
            "invoice is paid and expires if the invoice is still unpaid after its due date. With `items` "
            "(`description`, `quantity`, `unit_amount_krw`) it is a one-off order. While card payments are "
            "off, `payment` is a bank transfer to our account with the invoice number as the reference."
        ),
        request=CheckoutSerializer,
        responses={201: CheckoutCreatedSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["subscriptions"],
    )
    def post(self, request: Request) -> Response:
        serializer = CheckoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = customer_get_or_create(user=request.user)
        if "plan" in data:
            result = checkout_create(
                customer=customer, plan=plan_get_active(slug=data["plan"]), billing_period=data["billing_period"]
            )
        else:
            result = checkout_create(
                customer=customer,
                items=[
                    OrderItemInput(
                        description=item["description"], unit_amount=item["unit_amount"], quantity=item["quantity"]
                    )
                    for item in data["items"]
                ],
                currency=data.get("currency"),
            )
        return Response(self._body(request, result), status=status.HTTP_201_CREATED)

    @staticmethod
    def _body(request: Request, result: CheckoutResult) -> dict[str, Any]:
        invoice = _invoice_for_response(result.invoice)
        order = selectors.order_get(customer=invoice.customer, order_id=result.order.pk)
        payment = result.payment
        body = {
            "order_id": order.pk,
            "invoice_id": invoice.pk,
            "invoice_number": invoice.number,
            "total_krw": _krw(invoice.currency, invoice.total),
            "order": order,
            "invoice": invoice,
            "subscription": result.subscription,
            "payment": {
                "method": payment.method,
                "amount": payment.amount,
                "amount_krw": _krw(payment.currency, payment.amount),
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
        return CheckoutCreatedSerializer(body, context={"request": request}).data
