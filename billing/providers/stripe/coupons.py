"""Our coupons in Stripe: one Stripe coupon per coupon of ours, made once (its id is ours, so a retry finds it)."""

from typing import Any

import stripe

from billing.enums import CouponDuration
from billing.models.coupons import Coupon

from .client import stripe_errors, stripe_idempotency_key, stripe_options, stripe_retrieve


def coupon_stripe_id(coupon: Coupon) -> str:
    return f"billing-coupon-{coupon.pk}"


def coupon_stripe_params(coupon: Coupon) -> dict[str, Any]:
    """What Stripe is told: the same discount, duration, limits and name (amounts in the same minor units)."""
    params: dict[str, Any] = {"id": coupon_stripe_id(coupon), "duration": coupon.duration, "name": coupon.name[:40]}
    if coupon.percent_off is not None:
        params["percent_off"] = coupon.percent_off
    else:
        params["amount_off"] = coupon.amount_off
        params["currency"] = coupon.currency.lower()
    if coupon.duration == CouponDuration.REPEATING:
        params["duration_in_months"] = coupon.duration_in_months
    if coupon.max_redemptions is not None:
        params["max_redemptions"] = coupon.max_redemptions
    if coupon.redeem_by is not None:
        params["redeem_by"] = int(coupon.redeem_by.timestamp())
    params["metadata"] = {"billing_coupon_id": str(coupon.pk)}
    return params


def coupon_stripe_mirror(*, coupon: Coupon) -> str:
    """The Stripe coupon of `coupon`, created unless it exists (a retried job finds the first one's)."""
    existing = stripe_retrieve(stripe.Coupon, coupon.stripe_coupon_id or coupon_stripe_id(coupon))
    if existing is not None:
        return str(existing.id)
    params = coupon_stripe_params(coupon)
    with stripe_errors(action="create the coupon"):
        created: Any = stripe.Coupon.create(
            **params, **stripe_options(idempotency_key=stripe_idempotency_key("coupon", coupon.pk, "create", params))
        )
    return str(created.id)
