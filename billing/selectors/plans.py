"""Reads of the plans on sale (what GET /api/payment/plans shows and what subscribe and checkout accept)."""

from django.db.models import QuerySet

from billing.models.plans import SubscriptionPlan
from billing_site.errors import ApplicationError


def plan_list_active() -> QuerySet[SubscriptionPlan]:
    """Plans offered to new subscribers, in display order (GET /api/payment/plans)."""
    return SubscriptionPlan.objects.filter(is_active=True).order_by("display_order", "id")


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
