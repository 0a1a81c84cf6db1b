"""Emails about subscriptions: renewal coming, trial ending, canceled, ended."""

from typing import Any

from billing.enums import EmailKind, Language
from billing.models.subscriptions import CancellationReason, Subscription, SubscriptionStatus
from billing.periods import billing_day_start
from billing.services.subscription_emails import (
    RenewalCharge,
    cancellation_occurrence,
    renewal_charge,
    renewal_notice_expected,
    trial_first_charge,
    trial_notice_expected,
)
from billing_site.mail.models import Email
from billing_site.mail.registry import EmailSkip, RenderedEmail, email_renderer
from billing_site.mail.rendering import templates_render

from .common import base_context, date_display, email_language, money_display

PERIOD_NAMES: dict[str, dict[str, str]] = {
    "monthly": {Language.KOREAN: "월간", Language.ENGLISH: "monthly"},
    "annual": {Language.KOREAN: "연간", Language.ENGLISH: "annual"},
}


def _subscription(email: Email) -> Subscription:
    subscription = (
        Subscription.objects.select_related("customer", "plan", "pending_plan")
        .filter(pk=int(email.object_id or 0))
        .first()
    )
    if subscription is None:
        raise EmailSkip(f"subscription {email.object_id} is gone")
    return subscription


def _common(subscription: Subscription, charge: RenewalCharge | None = None) -> dict[str, Any]:
    """The customer, plan and billing period; with `charge`, the plan and period it bills (a pending change's)."""
    language = email_language()
    plan = subscription.plan if charge is None else charge.plan
    billing_period = subscription.billing_period if charge is None else charge.billing_period
    names = PERIOD_NAMES.get(billing_period, {})
    return {
        **base_context(),
        "customer_name": subscription.customer.display_name,
        "plan_name": plan.display_name(language),
        "billing_period": names.get(language) or names.get(Language.KOREAN) or billing_period,
    }


def _english() -> bool:
    return email_language() == Language.ENGLISH


@email_renderer(EmailKind.RENEWAL_UPCOMING)
def renewal_upcoming(email: Email) -> RenderedEmail:
    subscription = _subscription(email)
    if not renewal_notice_expected(subscription):
        raise EmailSkip(f"subscription {subscription.pk} will not renew ({subscription.status})")
    if subscription.current_period_end.isoformat() != email.occurrence:
        raise EmailSkip(f"subscription {subscription.pk} renews on {subscription.current_period_end} now")
    charge = renewal_charge(subscription=subscription, customer=subscription.customer)
    context = {
        **_common(subscription, charge),
        "renewal_date": date_display(subscription.current_period_end),
        "period_start": date_display(charge.period.start),
        "period_last_day": date_display(charge.period.last_day),
        "supply_amount": money_display(charge.supply_amount, charge.currency),
        "vat": money_display(charge.vat, charge.currency),
        "total": money_display(charge.total, charge.currency),
        "credit_applies": charge.credit_applies,
    }
    if _english():
        subject = f"Your {context['plan_name']} plan renews on {context['renewal_date']}: {context['total']}"
    else:
        plan, day, total = context["plan_name"], context["renewal_date"], context["total"]
        subject = f"[구독 갱신 안내] {plan} 플랜이 {day}에 갱신됩니다 ({total})"
    return templates_render(template_base="billing/emails/renewal_upcoming", subject=subject, context=context)


@email_renderer(EmailKind.TRIAL_ENDING)
def trial_ending(email: Email) -> RenderedEmail:
    subscription = _subscription(email)
    if not trial_notice_expected(subscription) or subscription.trial_end is None:
        raise EmailSkip(f"subscription {subscription.pk} will not be billed after a trial ({subscription.status})")
    if subscription.trial_end.isoformat() != email.occurrence:
        raise EmailSkip(f"subscription {subscription.pk}: its trial ends on {subscription.trial_end} now")
    charge = trial_first_charge(subscription=subscription, customer=subscription.customer)
    context = {
        **_common(subscription, charge),
        "trial_last_day": date_display(subscription.current_period.last_day),
        "first_invoice_date": date_display(subscription.trial_end),
        "period_start": date_display(charge.period.start),
        "period_last_day": date_display(charge.period.last_day),
        "supply_amount": money_display(charge.supply_amount, charge.currency),
        "vat": money_display(charge.vat, charge.currency),
        "total": money_display(charge.total, charge.currency),
        "credit_applies": charge.credit_applies,
    }
    plan, last_day, total = context["plan_name"], context["trial_last_day"], context["total"]
    if _english():
        subject = f"Your {plan} plan trial ends on {last_day}: then {total}"
    else:
        subject = f"[무료 체험 종료 안내] {plan} 플랜 무료 체험이 {last_day}에 끝납니다 ({total})"
    return templates_render(template_base="billing/emails/trial_ending", subject=subject, context=context)


@email_renderer(EmailKind.SUBSCRIPTION_CANCELED)
def subscription_canceled(email: Email) -> RenderedEmail:
    subscription = _subscription(email)
    if cancellation_occurrence(subscription) != email.occurrence:
        raise EmailSkip(f"subscription {subscription.pk}: that cancellation was withdrawn")
    if subscription.status != SubscriptionStatus.CANCELED and not subscription.cancel_at_period_end:
        raise EmailSkip(f"subscription {subscription.pk} is no longer set to cancel")
    context = {
        **_common(subscription),
        "canceled_on": date_display(subscription.canceled_at),
        "service_until": date_display(subscription.current_period.last_day),
        "ends_on": date_display(subscription.current_period_end),
    }
    if _english():
        subject = f"Your {context['plan_name']} plan is canceled: service continues until {context['service_until']}"
    else:
        subject = f"[구독 해지 접수] {context['plan_name']} 플랜은 {context['service_until']}까지 이용하실 수 있습니다"
    return templates_render(template_base="billing/emails/subscription_canceled", subject=subject, context=context)


def _end_reason(subscription: Subscription, email: Email) -> str:
    """Why it ended: at the end of its period as asked, at once as asked, or its first invoice never paid."""
    reason = subscription.cancellation_reason or email.context.get("reason", "")
    if reason == CancellationReason.INCOMPLETE_EXPIRED:
        return "unpaid"
    ended_at = subscription.ended_at
    if ended_at is not None and ended_at >= billing_day_start(subscription.current_period_end):
        return "period_end"
    return "immediately"


@email_renderer(EmailKind.SUBSCRIPTION_ENDED)
def subscription_ended(email: Email) -> RenderedEmail:
    subscription = _subscription(email)
    if subscription.status != SubscriptionStatus.CANCELED:
        raise EmailSkip(f"subscription {subscription.pk} has not ended")
    context = {
        **_common(subscription),
        "ended_on": date_display(subscription.ended_at),
        "reason": _end_reason(subscription, email),
    }
    if _english():
        subject = f"Your {context['plan_name']} plan has ended"
    else:
        subject = f"[구독 종료] {context['plan_name']} 플랜 구독이 종료되었습니다"
    return templates_render(template_base="billing/emails/subscription_ended", subject=subject, context=context)
