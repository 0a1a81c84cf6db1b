"""Reads of the plans on sale (what GET /api/payment/plans shows and what subscribe and checkout accept), and of
their prices per currency."""

from django.db.models import Exists, OuterRef, Q, QuerySet

from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.subscriptions import Subscription
from billing_site.errors import ApplicationError


def plan_list_active(currency: str | None = None) -> QuerySet[SubscriptionPlan]:
    """Plans offered to new subscribers, in display order, with their `prices` prefetched (GET /api/payment/plans).

    With a currency, only the plans sold in it (issue 17: a customer paying in USD sees the USD offer); a price no
    longer sold (`PlanPrice.active` false: kept for the subscriptions in it) is not an offer. Every row is
    prefetched, so `plan_price_in` can tell "not sold any more" from "never sold"; `plan_prices` shows the sold."""
    plans = SubscriptionPlan.objects.filter(is_active=True).prefetch_related("prices").order_by("display_order", "id")
    if currency is not None:
        priced = PlanPrice.objects.filter(plan_id=OuterRef("pk"), currency=currency, active=True)
        plans = plans.filter(Q(currency=currency) | Exists(priced))
    return plans


def plan_get_active(*, slug: str) -> SubscriptionPlan:
    """An offered plan by slug; an unknown or retired one is 400 `plan_not_available` on the `plan` field."""
    plan = plan_list_active().filter(slug=slug).first()
    if plan is None:
        raise ApplicationError(
            "plan_not_available",
            f"There is no plan {slug!r} to subscribe to.",
            fields={"plan": [f"Unknown or retired plan {slug!r}; GET /api/payment/plans lists the plans."]},
        )
    return plan


def _default_price(plan: SubscriptionPlan, row: PlanPrice | None) -> PlanPrice:
    # The plan's own fields are its default price (the admin edits them there); its row mirrors them and holds the
    # Stripe ids. Read from the plan, so an edit that has not reached the row yet is never undercut.
    price = row if row is not None else PlanPrice(plan=plan, currency=plan.currency)
    price.monthly_price, price.annual_price = plan.monthly_price, plan.annual_price
    # The plan file always lists the default currency, so seed_plans never leaves its row unsold.
    price.active = True
    return price


def plan_price_in(*, plan: SubscriptionPlan, currency: str, for_sale: bool = True) -> PlanPrice:
    """The plan's price in `currency` (for its default currency, its own monthly/annual price); a plan not sold in
    it is 409 `currency_mismatch` (everything a customer buys is in the customer's one currency).

    `for_sale` (new subscriptions, plan changes, quotes of them): a price no longer sold (`active` false) is 409
    `currency_mismatch` too. False, for what a subscription already bought (its renewal, a change it scheduled
    while the price was sold, an attempt already priced): the row whether sold or not.

    Prefetch `prices` when reading many plans. Read the amounts, never save the answer: the default price may be
    a row not stored (a plan made outside the plan file)."""
    row = plan.price_in(currency)
    if currency == plan.currency:
        return _default_price(plan, row)
    if row is None:
        raise ApplicationError(
            "currency_mismatch",
            f"Plan {plan.slug} has no price in {currency}.",
            status_code=409,
        )
    if for_sale and not row.active:
        raise ApplicationError(
            "currency_mismatch",
            f"Plan {plan.slug} is not sold in {currency} any more.",
            status_code=409,
        )
    return row


def plan_prices(*, plan: SubscriptionPlan, unsold: bool = False) -> list[PlanPrice]:
    """Every price of the plan, one per currency it is sold in (its default one always), by currency code; with
    `unsold`, also those no longer sold (`active` false: the Stripe sync archives their Prices)."""
    rows = {row.currency: row for row in plan.prices.all()}
    prices = {currency: row for currency, row in rows.items() if unsold or row.active}
    prices[plan.currency] = _default_price(plan, rows.get(plan.currency))
    return [prices[currency] for currency in sorted(prices)]


def plan_subscriptions_in(*, plan_id: int, currency: str) -> int:
    """How many subscriptions (any status) are on the plan in `currency` or have a change scheduled into it in that
    currency (it applies at their renewal, at the plan's price and usage charges in that currency): while any is,
    seed_plans keeps the currency's price and charges rather than removing them."""
    using = Q(plan_id=plan_id) | Q(pending_plan_id=plan_id)
    return Subscription.objects.filter(using, currency=currency).count()
