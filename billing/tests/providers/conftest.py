"""Fixtures of the payment-provider tests: Stripe against the harness's localstripe."""

from billing.tests.stripe_support import card, stripe_api, stripe_on, stripe_plans, stripe_server

__all__ = ["card", "stripe_api", "stripe_on", "stripe_plans", "stripe_server"]
