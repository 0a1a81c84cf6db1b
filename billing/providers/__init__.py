"""Payment providers behind one interface: `payment_provider()` answers which one is configured.

base (the `PaymentProvider` Protocol and the data providers answer with), manual (bank transfer, while Stripe is
off), stripe (one module per topic). Providers import models, never billing.services: what a provider reports is
applied to our records by billing.services.provider_sync.
"""

from django.conf import settings

from .base import PaymentProvider
from .manual import ManualProvider
from .stripe import StripeProvider

__all__ = ["ManualProvider", "PaymentProvider", "StripeProvider", "payment_provider"]


def payment_provider() -> PaymentProvider:
    """The configured provider: Stripe when a Stripe secret key is set (settings.STRIPE_ENABLED), else manual bank
    transfer. The one place that decides; read on every call, so a changed setting applies at once."""
    if getattr(settings, "STRIPE_ENABLED", False):
        return StripeProvider()
    return ManualProvider()
