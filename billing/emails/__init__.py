"""Billing's emails: one renderer per kind (billing.enums.EmailKind), registered when billing_site.mail loads this."""

from . import credit_notes, invoices, subscriptions, usage  # noqa: F401  (each registers its renderers)
