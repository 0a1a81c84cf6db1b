"""Stripe's route into the app: the webhook endpoint (`POST /api/payment/webhook`, with or without a trailing slash)."""

from billing.webhooks import stripe_webhook
from billing_site.api.routers import api_path

urlpatterns = [
    api_path("api/payment/webhook", stripe_webhook, name="billing-stripe-webhook"),
]
