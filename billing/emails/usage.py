"""The usage alert email: a metric's usage reached 80 % or 100 % of what the plan includes this period."""

from datetime import date, timedelta

from billing.enums import EmailKind, Language
from billing.models import UsageAlert
from billing_site.mail.models import Email
from billing_site.mail.registry import EmailSkip, RenderedEmail, email_renderer
from billing_site.mail.rendering import templates_render

from .common import base_context, date_display, email_language


def _quantity_display(quantity: int, unit: str) -> str:
    """12,345건 / 12,345 calls: Korean units follow the number directly, English ones after a space."""
    return f"{quantity:,}{unit}" if email_language() == Language.KOREAN else f"{quantity:,} {unit}"


@email_renderer(EmailKind.USAGE_ALERT)
def usage_alert(email: Email) -> RenderedEmail:
    alert = UsageAlert.objects.select_related("customer", "metric").filter(pk=int(email.object_id or 0)).first()
    if alert is None:
        raise EmailSkip(f"usage alert {email.object_id} is gone")
    language = email_language()
    metric = alert.metric
    unit = metric.display_unit(language)
    period_end = email.context.get("period_end")
    context = {
        **base_context(),
        "customer_name": alert.customer.display_name,
        "metric_name": metric.display_name(language),
        "threshold": alert.threshold,
        "over": alert.threshold >= 100,
        "quantity": _quantity_display(alert.quantity, unit),
        "included": _quantity_display(alert.included_quantity, unit),
        "percent": alert.quantity * 100 // alert.included_quantity if alert.included_quantity else 0,
        "period_start": date_display(alert.period_start),
        "period_last_day": date_display(date.fromisoformat(period_end) - timedelta(days=1)) if period_end else "",
    }
    if language == Language.ENGLISH:
        subject = f"{context['metric_name']}: {alert.threshold}% of your included usage reached"
    else:
        subject = f"[사용량 알림] {context['metric_name']} 사용량이 포함 제공량의 {alert.threshold}%에 도달했습니다"
    return templates_render(template_base="billing/emails/usage_alert", subject=subject, context=context)
