"""The lifecycle of one of the caller's subscriptions: resume, pause, seats (PATCH), drop a pending change, and the
upcoming invoice. Each action reads the subscription through the caller's selector (another customer's is 404) and
makes one service call with the caller as actor."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from billing.models.subscriptions import Subscription
from billing.services.subscriptions.changes import pending_change_drop, subscription_quantity_change
from billing.services.subscriptions.lifecycle import subscription_resume
from billing.services.subscriptions.pause import subscription_pause
from billing.services.subscriptions.preview import subscription_upcoming
from billing_site.api.idempotency import IDEMPOTENCY_ERROR_CODES, IDEMPOTENCY_KEY_PARAMETER
from billing_site.api.schema import api_errors

from ..subscription_serializers import (
    QUANTITY_CHANGE_SCHEMA,
    QuantityChangedSerializer,
    QuantityChangeSerializer,
    SubscriptionPauseSerializer,
    SubscriptionSerializer,
    UpcomingInvoiceSerializer,
    UpcomingQuerySerializer,
)
from .common import customer_of, invoice_for_response, validated, validated_body

# Actions whose body is JSON only: `"resume_on": null` and a whole number of seats cannot be said in a form body.
JSON_ONLY_ACTIONS = frozenset({"resume", "pause", "partial_update", "pending_change_drop"})
BODY_ERRORS = {400: ["validation_error", "unknown_field"], 415: ["unsupported_media_type"]}


class EmptyBodySerializer(serializers.Serializer):
    """No fields: the body is empty or `{}` (anything named in it is 400 `unknown_field`)."""


class SubscriptionLifecycleMixin:
    """The lifecycle actions of SubscriptionViewSet (billing/api/urls.py routes them)."""

    def get_parsers(self) -> list[BaseParser]:
        # The parsers are chosen before DRF sets `self.action`: name the action from the route's method map.
        request = getattr(self, "request", None)
        method = (getattr(request, "method", None) or "").lower()
        action_name = getattr(self, "action", None) or getattr(self, "action_map", {}).get(method)
        if action_name in JSON_ONLY_ACTIONS:
            return [JSONParser()]
        parsers: list[BaseParser] = super().get_parsers()  # type: ignore[misc]
        return parsers

    @staticmethod
    def _owned(request: Request, subscription_id: str) -> Subscription:
        return selectors.subscription_get(customer=customer_of(request), subscription_id=int(subscription_id))

    @extend_schema(
        operation_id="payment_subscription_resume",
        summary="Resume a subscription",
        description=(
            "Undoes a cancellation set for the end of the period (service goes on and renews), or resumes a "
            "paused subscription from today (the paid days it had left come first, then it renews). No body. "
            "Nothing to undo is 409 `nothing_to_resume`; an ended subscription cannot come back: 409 "
            "`subscription_ended` (subscribe again)."
        ),
        request=None,
        responses={200: SubscriptionSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["subscriptions"],
    )
    @api_errors(BODY_ERRORS, {409: ["nothing_to_resume", "subscription_ended"]}, IDEMPOTENCY_ERROR_CODES)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, subscription_id: str) -> Response:
        validated_body(EmptyBodySerializer, request.data)
        resumed = subscription_resume(subscription=self._owned(request, subscription_id), actor=request.user)
        return Response(SubscriptionSerializer(resumed).data)

    @extend_schema(
        operation_id="payment_subscription_pause",
        summary="Pause a subscription",
        description=(
            "From today: no service and no invoice until it resumes, on `resume_on` or when you resume it. The "
            "days left of the paid period are kept and come first at the resume. `resume_on` must be after today "
            "and at most 90 days away (BILLING_PAUSE_MAX_DAYS); null or absent: resumed on that last day unless "
            "you resume earlier. Only an `active` subscription not set to cancel pauses (409 "
            "`subscription_not_pausable`: a past-due one pays first); a paused one is 409 `already_paused`."
        ),
        request=SubscriptionPauseSerializer,
        responses={200: SubscriptionSerializer},
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        tags=["subscriptions"],
    )
    @api_errors(
        BODY_ERRORS,
        {400: ["invalid_resume_on"], 409: ["already_paused", "subscription_not_pausable"]},
        IDEMPOTENCY_ERROR_CODES,
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, subscription_id: str) -> Response:
        data = validated_body(SubscriptionPauseSerializer, request.data)
        paused = subscription_pause(
            subscription=self._owned(request, subscription_id), resume_on=data["resume_on"], actor=request.user
        )
        return Response(SubscriptionSerializer(paused).data)

    @extend_schema(
        operation_id="payment_subscription_pending_change_drop",
        summary="Drop the change scheduled for the period end",
        description=(
            "The subscription stays as it is after its period (`pending_change` null). Idempotent: with nothing "
            "pending it answers the subscription unchanged."
        ),
        request=None,
        responses={200: SubscriptionSerializer},
        tags=["subscriptions"],
    )
    @api_errors(BODY_ERRORS)
    @action(detail=True, methods=["delete"], url_path="pending-change")
    def pending_change_drop(self, request: Request, subscription_id: str) -> Response:
        validated_body(EmptyBodySerializer, request.data)
        kept = pending_change_drop(subscription=self._owned(request, subscription_id), actor=request.user)
        return Response(SubscriptionSerializer(kept).data)

    @extend_schema(
        operation_id="payment_subscription_update",
        summary="Change the seats of a subscription",
        description=(
            'Body `{"quantity": n}` (a per-seat plan; 1 to 10000). More seats: now, the price updated and an '
            "invoice for the added seats over the days left of the period (`invoice`). Fewer: at the end of the "
            "period (`subscription.pending_change`; `invoice` null). The same number: unchanged. During a trial "
            "the seats change at once and nothing is billed."
        ),
        request={"application/json": QUANTITY_CHANGE_SCHEMA},
        responses={200: QuantityChangedSerializer},
        tags=["subscriptions"],
    )
    @api_errors(
        BODY_ERRORS,
        {400: ["invalid_quantity", "plan_not_per_seat"], 409: ["subscription_not_active", "subscription_ending"]},
    )
    def partial_update(self, request: Request, subscription_id: str) -> Response:
        data = validated_body(QuantityChangeSerializer, request.data)
        changed = subscription_quantity_change(
            subscription=self._owned(request, subscription_id), quantity=data["quantity"], actor=request.user
        )
        body = {
            "subscription": changed.subscription,
            "invoice": invoice_for_response(changed.invoice) if changed.invoice is not None else None,
        }
        return Response(QuantityChangedSerializer(body, context={"request": request}).data)

    @extend_schema(
        operation_id="payment_subscription_upcoming",
        summary="Preview the next invoice, or what a change would cost",
        description=(
            "The next invoice as it would be issued (on `date`: the next billing date, with a pending change "
            "applied, the credit balance used and VAT), or a trial's first invoice. With `plan`, "
            "`billing_period`, `quantity` (and `when`, as in subscribe): what that change would invoice now "
            "(`proration` true), or at the period end for a change that would wait. Nothing is changed. No next "
            "invoice (canceled, ending at the period end, paused until resumed): 409 `no_upcoming_invoice`."
        ),
        parameters=[UpcomingQuerySerializer],
        responses={200: UpcomingInvoiceSerializer},
        tags=["subscriptions"],
    )
    @api_errors(
        {
            400: [
                "validation_error",
                "plan_not_available",
                "invalid_billing_period",
                "invalid_quantity",
                "plan_not_per_seat",
            ],
            409: [
                "no_upcoming_invoice",
                "already_subscribed",
                "subscription_ending",
                "subscription_paused",
                "replaced_invoice_partly_paid",
                "currency_mismatch",
            ],
        }
    )
    @action(detail=True, methods=["get"])
    def upcoming(self, request: Request, subscription_id: str) -> Response:
        # A plain dict, not the QueryDict (see destroy): `?quantity=` is refused, not taken as absent.
        query = validated(UpcomingQuerySerializer, request.query_params.dict())
        subscription = self._owned(request, subscription_id)
        plan = selectors.plan_get_active(slug=query["plan"]) if "plan" in query else None
        change: dict[str, Any] = {key: query[key] for key in ("billing_period", "quantity", "when") if key in query}
        upcoming = subscription_upcoming(subscription=subscription, plan=plan, actor=request.user, **change)
        return Response(UpcomingInvoiceSerializer(upcoming).data)
