"""Coupons and promotion codes: staff create them, customers redeem a code when they subscribe, staff give a coupon
to a customer, and subscription invoices get their `discount` lines (before the credit balance, so VAT is on the
discounted supply)."""

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from billing.enums import CouponDuration, InvoiceLineKind, JobKind, Language
from billing.models import Customer
from billing.models.coupons import Coupon, CouponRedemption, PromotionCode
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import LIVE_STATUSES, Subscription, SubscriptionStatus
from billing.money import MAX_AMOUNT, currency_normalize
from billing.periods import BillingPeriod, add_months, billing_date
from billing.providers import payment_provider
from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue
from billing_site.permissions import permission_require

from .invoices import InvoiceLineInput

logger = logging.getLogger(__name__)

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,40}$")
MAX_DURATION_MONTHS = 120
DISCOUNT_TEXT: dict[str, str] = {Language.KOREAN: "할인: {name}", Language.ENGLISH: "Discount: {name}"}


def _invalid(message: str, *, field: str = "coupon") -> ApplicationError:
    return ApplicationError("invalid_coupon", message, fields={field: [message]})


def _currency_mismatch(message: str) -> ApplicationError:  # a customer's things are all in one currency
    return ApplicationError("currency_mismatch", message, fields={"coupon": [message]}, status_code=409)


def _card_renewals(code: str) -> ApplicationError:
    return _invalid(
        f"The coupon {code} applies to renewals, which card payments through Stripe do not discount yet; pay by "
        "bank transfer or use a one-time coupon."
    )


def _validation(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


def code_normalize(code: str) -> str:
    return (code or "").strip().upper()


# --- staff: create and deactivate ---------------------------------------------------------------------


def _optional_positive(value: object, *, field: str, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise _validation(field, f"{field} must be a whole number from 1 to {maximum}.")
    return value


@transaction.atomic
def coupon_create(
    *,
    actor: Any,
    name: str,
    duration: str,
    percent_off: int | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    duration_in_months: int | None = None,
    max_redemptions: int | None = None,
    redeem_by: datetime | None = None,
    plans: Sequence[SubscriptionPlan] = (),
    billing_periods: Sequence[str] = (),
) -> Coupon:
    """A coupon (billing.add_coupon): `percent_off` 1..100 or `amount_off` with its `currency`, never both;
    `repeating` needs `duration_in_months` 1..120; empty `plans` / `billing_periods` mean all. 400
    `validation_error` naming the field. The payment provider's copy follows by a job (Stripe: a Stripe coupon)."""
    permission_require(actor=actor, permission="billing.add_coupon")
    name = (name or "").strip()
    if not name or len(name) > 200 or "\n" in name:
        raise _validation("name", "name is required: one line of at most 200 characters.")
    if (percent_off is None) == (amount_off is None):
        raise _validation("percent_off", "Give either percent_off or amount_off (with its currency), not both.")
    code_currency = ""
    if percent_off is not None:
        _optional_positive(percent_off, field="percent_off", maximum=100)
        if currency:
            raise _validation("currency", "A percent coupon has no currency.")
    else:
        _optional_positive(amount_off, field="amount_off", maximum=MAX_AMOUNT)
        if not currency:
            raise _validation("currency", "A fixed amount needs its currency.")
        code_currency = currency_normalize(currency)
    if duration not in CouponDuration.values:
        raise _validation("duration", f"duration must be one of {', '.join(CouponDuration.values)}.")
    if duration == CouponDuration.REPEATING:
        if duration_in_months is None:
            raise _validation("duration_in_months", "A repeating coupon needs duration_in_months.")
        _optional_positive(duration_in_months, field="duration_in_months", maximum=MAX_DURATION_MONTHS)
    elif duration_in_months is not None:
        raise _validation("duration_in_months", "Only a repeating coupon has duration_in_months.")
    _optional_positive(max_redemptions, field="max_redemptions", maximum=2**31 - 1)
    periods = list(dict.fromkeys(billing_periods))
    if any(period not in BillingPeriod.values for period in periods):
        raise _validation("applies_to_billing_periods", f"Billing periods are {', '.join(BillingPeriod.values)}.")
    coupon = Coupon.objects.create(
        name=name,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=code_currency,
        duration=duration,
        duration_in_months=duration_in_months,
        max_redemptions=max_redemptions,
        redeem_by=redeem_by,
        applies_to_billing_periods=periods,
    )
    if plans:
        coupon.applies_to_plans.set(plans)
    coupon_mirror_enqueue(coupon)
    return coupon


@transaction.atomic
def promotion_code_create(
    *,
    actor: Any,
    coupon: Coupon,
    code: str,
    max_redemptions: int | None = None,
    expires_at: datetime | None = None,
) -> PromotionCode:
    """A code customers type for `coupon` (billing.add_coupon): upper-cased, `^[A-Z0-9_-]{3,40}$`, unique (400
    `validation_error`, 409 `code_taken`)."""
    permission_require(actor=actor, permission="billing.add_coupon")
    normalized = code_normalize(code)
    if not CODE_PATTERN.match(normalized):
        raise _validation("code", "A code is 3 to 40 letters, digits, '-' or '_'.")
    _optional_positive(max_redemptions, field="max_redemptions", maximum=2**31 - 1)
    try:
        with transaction.atomic():
            promotion_code = PromotionCode.objects.create(
                coupon=coupon, code=normalized, max_redemptions=max_redemptions, expires_at=expires_at
            )
    except IntegrityError as error:
        raise ApplicationError(
            "code_taken", f"The code {normalized} exists already.", fields={"code": ["Taken."]}, status_code=409
        ) from error
    coupon_mirror_enqueue(coupon)  # the provider's coupon must exist for the code (a no-op once mirrored)
    return promotion_code


@transaction.atomic
def coupon_deactivate(*, coupon: Coupon, actor: Any) -> Coupon:
    """No new redemptions (billing.change_coupon); redemptions already made keep discounting as agreed."""
    permission_require(actor=actor, permission="billing.change_coupon")
    locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if locked.is_active:
        locked.is_active = False
        locked.save(update_fields=["is_active", "updated_at"])
    return locked


@transaction.atomic
def promotion_code_deactivate(*, promotion_code: PromotionCode, actor: Any) -> PromotionCode:
    permission_require(actor=actor, permission="billing.change_coupon")
    locked = PromotionCode.objects.select_for_update().get(pk=promotion_code.pk)
    if locked.is_active:
        locked.is_active = False
        locked.save(update_fields=["is_active", "updated_at"])
    return locked


def coupon_mirror_enqueue(coupon: Coupon) -> None:
    job_enqueue(kind=JobKind.COUPON_MIRROR, key=f"coupon_mirror:{coupon.pk}", payload={"coupon_id": coupon.pk})


def coupon_provider_mirror(*, coupon_id: int) -> str:
    """The job's body: the provider's copy of the coupon (asked with no lock held), its id stored once."""
    coupon = Coupon.objects.get(pk=coupon_id)
    reference = payment_provider().coupon_mirror(coupon=coupon)
    if reference and reference != coupon.stripe_coupon_id:
        Coupon.objects.filter(pk=coupon_id).update(stripe_coupon_id=reference, updated_at=timezone.now())
    return f"mirrored as {reference or '-'}"


# --- customers: redeem ----------------------------------------------------------------------------------


def _redeemable_check(
    *,
    promotion_code: PromotionCode,
    coupon: Coupon,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    currency: str,
    moment: datetime,
) -> None:
    code = promotion_code.code
    if not promotion_code.is_active or not coupon.is_active:
        raise _invalid(f"The coupon {code} is no longer active.")
    if promotion_code.expires_at is not None and moment >= promotion_code.expires_at:
        raise _invalid(f"The coupon {code} expired on {billing_date(promotion_code.expires_at)}.")
    if coupon.redeem_by is not None and moment >= coupon.redeem_by:
        raise _invalid(f"The coupon {code} could be redeemed until {billing_date(coupon.redeem_by)} only.")
    for limited in (promotion_code, coupon):
        if limited.max_redemptions is not None and limited.times_redeemed >= limited.max_redemptions:
            raise _invalid(f"The coupon {code} has been used up.")
    plan_ids = list(coupon.applies_to_plans.values_list("pk", flat=True))
    if plan_ids and plan.pk not in plan_ids:
        raise _invalid(f"The coupon {code} does not apply to the {plan.slug} plan.")
    if coupon.applies_to_billing_periods and billing_period not in coupon.applies_to_billing_periods:
        raise _invalid(f"The coupon {code} does not apply to {billing_period} billing.")
    if coupon.amount_off is not None and coupon.currency != currency:
        message = f"The coupon {code} is an amount in {coupon.currency}; this plan is billed in {currency}."
        raise _currency_mismatch(message)
    if CouponRedemption.objects.filter(coupon=coupon, customer=customer).exists():
        raise _already_redeemed(code)


def _already_redeemed(code: str) -> ApplicationError:
    return ApplicationError(
        "coupon_already_redeemed",
        f"You have already redeemed the coupon {code}; a coupon is redeemed once per customer.",
        fields={"coupon": ["Already redeemed."]},
        status_code=409,
    )


def promotion_code_redeemable(
    *,
    code: str,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    now: datetime | None = None,
    currency: str | None = None,
) -> PromotionCode:
    """The promotion code `code` if `customer` may redeem it now for `plan` and `billing_period`, billed in
    `currency` (default: the plan's default currency): 400 `invalid_coupon` saying why not (unknown, inactive,
    expired, used up, another plan or period), 409 `currency_mismatch` for an amount in another currency, 409
    `coupon_already_redeemed`. A read, without locks: `coupon_redeem` checks again under them."""
    promotion_code = PromotionCode.objects.select_related("coupon").filter(code=code_normalize(code)).first()
    if promotion_code is None:
        raise _invalid(f"There is no coupon {code_normalize(code)!r}.")
    _redeemable_check(
        promotion_code=promotion_code,
        coupon=promotion_code.coupon,
        customer=customer,
        plan=plan,
        billing_period=billing_period,
        currency=currency or plan.currency,
        moment=now or timezone.now(),
    )
    return promotion_code


def promotion_code_card_check(*, code: str) -> None:
    """For a subscription Stripe collects by card: 400 `invalid_coupon` for a coupon that discounts renewals
    (repeating, forever). Stripe renews from its own price and our coupon is not on its subscription (localstripe
    cannot apply one either), so it would charge more than our renewal invoice asks. A `once` coupon is fine: the
    first invoice is ours, and Stripe charges what it says."""
    promotion_code = PromotionCode.objects.select_related("coupon").filter(code=code_normalize(code)).first()
    if promotion_code is not None and promotion_code.coupon.duration != CouponDuration.ONCE:
        raise _card_renewals(promotion_code.code)


def _repeating_end(coupon: Coupon, *, starts: date) -> date | None:
    if coupon.duration != CouponDuration.REPEATING or coupon.duration_in_months is None:
        return None
    return add_months(starts, coupon.duration_in_months)


def _redemption_write(**fields: Any) -> CouponRedemption:
    try:
        with transaction.atomic():
            return CouponRedemption.objects.create(**fields)
    except IntegrityError as error:  # one per customer, also against a concurrent redemption
        raise _already_redeemed(fields["coupon"].name) from error


def coupon_redeem(*, code: str, customer: Customer, subscription: Subscription, moment: datetime) -> CouponRedemption:
    """Redeem the promotion code `code` for `subscription` (inside the caller's transaction, the customer locked):
    the code and coupon rows locked, every limit checked again, both counters up. A repeating coupon runs
    `duration_in_months` from the subscription's first billed day (after a trial, its end). A subscription Stripe
    collects already is refused (400 `invalid_coupon`): its next invoice is a renewal, charged at Stripe's price."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("coupon_redeem must run inside a transaction.")
    promotion_code = PromotionCode.objects.select_for_update().filter(code=code_normalize(code)).first()
    if promotion_code is None:
        raise _invalid(f"There is no coupon {code_normalize(code)!r}.")
    if subscription.stripe_subscription_id:
        raise _card_renewals(promotion_code.code)
    coupon = Coupon.objects.select_for_update().get(pk=promotion_code.coupon_id)
    _redeemable_check(
        promotion_code=promotion_code,
        coupon=coupon,
        customer=customer,
        plan=subscription.plan,
        billing_period=subscription.billing_period,
        currency=subscription.currency,
        moment=moment,
    )
    starts = subscription.trial_end if subscription.status == SubscriptionStatus.TRIALING else None
    redemption = _redemption_write(
        coupon=coupon,
        promotion_code=promotion_code,
        customer=customer,
        subscription=subscription,
        redeemed_at=moment,
        ends_on=_repeating_end(coupon, starts=starts or billing_date(moment)),
    )
    for counted in (promotion_code, coupon):
        counted.times_redeemed += 1
        counted.save(update_fields=["times_redeemed", "updated_at"])
    return redemption


@transaction.atomic
def coupon_apply_to_customer(
    *, customer: Customer, coupon: Coupon, actor: Any, now: datetime | None = None
) -> CouponRedemption:
    """Staff give `coupon` to `customer` (billing.add_couponredemption): it discounts all their subscription
    invoices it applies to (plans, periods), as a redemption with no subscription. Limits as for a code. A coupon
    for renewals (repeating, forever) while the customer has a live subscription Stripe collects by card is 409
    `coupon_not_available`: Stripe would charge its renewals in full (`promotion_code_card_check`)."""
    permission_require(actor=actor, permission="billing.add_couponredemption")
    moment = now or timezone.now()
    locked_customer = Customer.objects.select_for_update().get(pk=customer.pk)
    locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if not locked.is_active:
        raise _invalid(f"The coupon {locked.name} is no longer active.")
    if locked.redeem_by is not None and moment >= locked.redeem_by:
        raise _invalid(f"The coupon {locked.name} could be redeemed until {billing_date(locked.redeem_by)} only.")
    if locked.max_redemptions is not None and locked.times_redeemed >= locked.max_redemptions:
        raise _invalid(f"The coupon {locked.name} has been used up.")
    if locked.amount_off is not None and locked.currency != locked_customer.currency:
        message = f"The coupon {locked.name} is in {locked.currency}; the customer pays in {locked_customer.currency}."
        raise _currency_mismatch(message)
    if CouponRedemption.objects.filter(coupon=locked, customer=locked_customer).exists():
        raise _already_redeemed(locked.name)
    card = Subscription.objects.filter(customer=locked_customer, status__in=LIVE_STATUSES).exclude(
        stripe_subscription_id=""
    )
    if locked.duration != CouponDuration.ONCE and card.exists():
        raise ApplicationError(
            "coupon_not_available",
            f"The coupon {locked.name} applies to renewals, and this customer's subscription is paid by card through "
            "Stripe, whose renewals our coupons do not discount yet. Give a one-time coupon instead.",
            status_code=409,
        )
    redemption = _redemption_write(
        coupon=locked,
        customer=locked_customer,
        subscription=None,
        redeemed_at=moment,
        ends_on=_repeating_end(locked, starts=billing_date(moment)),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    locked.times_redeemed += 1
    locked.save(update_fields=["times_redeemed", "updated_at"])
    return redemption


def coupon_redemptions_follow(*, replaced: Subscription, subscription: Subscription) -> None:
    """A plan change starts a new subscription: the coupons of the one it replaces go with it (whether they
    discount it is decided per invoice: its plan and period)."""
    CouponRedemption.objects.filter(subscription=replaced).update(subscription=subscription)


# --- invoices: discount lines ----------------------------------------------------------------------------


def _applies(redemption: CouponRedemption, *, plan_id: int, billing_period: str, currency: str, on: date) -> bool:
    coupon = redemption.coupon
    if coupon.duration == CouponDuration.ONCE and redemption.invoices_discounted > 0:
        return False
    if coupon.duration == CouponDuration.REPEATING and (redemption.ends_on is None or on >= redemption.ends_on):
        return False
    if coupon.applies_to_billing_periods and billing_period not in coupon.applies_to_billing_periods:
        return False
    if coupon.amount_off is not None and coupon.currency != currency:
        return False
    plan_ids = [plan.pk for plan in coupon.applies_to_plans.all()]
    return not plan_ids or plan_id in plan_ids


def _redemptions(subscription: Subscription) -> QuerySet[CouponRedemption]:
    """The subscription's own redemptions, then the customer's from staff; oldest first."""
    return (
        CouponRedemption.objects.select_related("coupon")
        .prefetch_related("coupon__applies_to_plans")
        .filter(Q(subscription=subscription) | Q(subscription__isnull=True), customer_id=subscription.customer_id)
        .order_by(F("subscription_id").asc(nulls_last=True), "redeemed_at", "id")
    )


def _discounts(
    redemptions: Iterable[CouponRedemption],
    *,
    charges: int,
    total: int,
    plan_id: int,
    billing_period: str,
    currency: str,
    on: date,
) -> list[tuple[CouponRedemption, int]]:
    """Each applying redemption and what it takes off: percent floor(charges x pct / 100), fixed its amount; the
    charges being what the discounts before left, and no discount taking the invoice below zero."""
    taken: list[tuple[CouponRedemption, int]] = []
    for redemption in redemptions:
        room = min(charges, total)
        if room <= 0:
            break
        if not _applies(redemption, plan_id=plan_id, billing_period=billing_period, currency=currency, on=on):
            continue
        coupon = redemption.coupon
        if coupon.percent_off is not None:
            amount = min(room, charges * coupon.percent_off // 100)
        else:
            amount = min(room, coupon.amount_off or 0)
        if amount > 0:
            taken.append((redemption, amount))
            charges -= amount
            total -= amount
    return taken


def discount_lines(
    *, subscription: Subscription, lines: Sequence[InvoiceLineInput], moment: datetime, language: str
) -> list[InvoiceLineInput]:
    """The `discount` lines of a subscription invoice made of `lines` (its customer locked by the caller): one per
    redemption that applies on the invoice's day (`_discounts`), each counted on its redemption (a `once` coupon
    is then spent). The charges are the positive `item` lines: a credit on the invoice is money already paid,
    never discounted twice. None for a subscription Stripe collects (`stripe_subscription_id`, set after its first
    invoice): Stripe charges its renewals at its own price, so our invoice must ask that too (logged, uncounted)."""
    charges = sum(
        line.quantity * line.unit_amount for line in lines if line.kind == InvoiceLineKind.ITEM and line.unit_amount > 0
    )
    if charges <= 0:
        return []
    taken = _discounts(
        _redemptions(subscription).select_for_update(of=("self",)),
        charges=charges,
        total=sum(line.quantity * line.unit_amount for line in lines),
        plan_id=subscription.plan_id,
        billing_period=subscription.billing_period,
        currency=subscription.currency,
        on=billing_date(moment),
    )
    if taken and subscription.stripe_subscription_id:
        logger.warning(
            "subscription %s is collected by Stripe at its own price: coupon redemptions %s not applied to its invoice",
            subscription.pk,
            [redemption.pk for redemption, _ in taken],
        )
        return []
    template = DISCOUNT_TEXT.get(language, DISCOUNT_TEXT[Language.KOREAN])
    discounts = []
    for redemption, amount in taken:
        discounts.append(
            InvoiceLineInput(
                description=template.format(name=redemption.coupon.name),
                unit_amount=-amount,
                kind=InvoiceLineKind.DISCOUNT,
            )
        )
        redemption.invoices_discounted += 1
        redemption.save(update_fields=["invoices_discounted"])
    return discounts


def discount_expected(
    *, subscription: Subscription, plan_id: int, billing_period: str, currency: str, charges: int, on: date
) -> int:
    """What the coupons would take off `charges` billed on `on` with these terms (a pending change's plan), read
    without locks or counting: the amount a renewal email announces (none when Stripe collects it, as above)."""
    if subscription.stripe_subscription_id:
        return 0
    taken = _discounts(
        _redemptions(subscription),
        charges=charges,
        total=charges,
        plan_id=plan_id,
        billing_period=billing_period,
        currency=currency,
        on=on,
    )
    return sum(amount for _, amount in taken)
