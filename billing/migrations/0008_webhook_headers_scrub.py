"""Stored Stripe deliveries keep no credentials: rows written before issue 10 may hold any request's headers.

Before issue 10 the webhook stored every delivery, verified or not, with all its headers (`Authorization`,
`Cookie` included). Unverified deliveries are junk that nothing refers to (billing.StripeWebhookEvent points only
at verified ones) and are deleted; verified ones keep only the headers that verify them again (the same list as
billing.webhooks.STORED_HEADERS, frozen here as of this migration). Running it again changes nothing.
"""

from django.db import migrations

STORED_HEADERS = ("Content-Type", "Stripe-Signature", "User-Agent")


def headers_scrub(apps, schema_editor):
    WebhookEventTrigger = apps.get_model("djstripe", "WebhookEventTrigger")
    WebhookEventTrigger.objects.filter(valid=False).delete()
    for delivery in WebhookEventTrigger.objects.only("pk", "headers").iterator(chunk_size=500):
        headers = delivery.headers if isinstance(delivery.headers, dict) else {}
        kept = {name: value for name, value in headers.items() if name in STORED_HEADERS}
        if kept != delivery.headers:
            WebhookEventTrigger.objects.filter(pk=delivery.pk).update(headers=kept)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_support_permissions"),
        ("djstripe", "0003_2_11"),
    ]

    operations = [migrations.RunPython(headers_scrub, migrations.RunPython.noop)]
