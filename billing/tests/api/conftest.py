"""Fixtures of the API tests: Stripe against the harness's localstripe (see billing/tests/stripe_support.py)."""

from billing.tests.stripe_support import card, stripe_api, stripe_on, stripe_plans, stripe_server, webhook_to

__all__ = ["card", "stripe_api", "stripe_on", "stripe_plans", "stripe_server", "webhook_to"]
