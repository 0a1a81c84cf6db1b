"""The staff back-office: every billing model registered (storage registers its own).

Importing this package (Django's admin autodiscovery does) registers the model admins of its modules on
`admin.site`, the project's BillingAdminSite (billing_site.admin), which also serves the dashboard page.
"""

# Each module registers its admins on import.
from . import (  # noqa: F401
    api_keys,
    coupons,
    credit_notes,
    customers,
    exchange_rates,
    invoices,
    jobs,
    orders,
    payments,
    plans,
    subscriptions,
    usage,
    usage_metrics,
)
from .stripe import djstripe_custom_actions_guard, webhook_event_admin_register

webhook_event_admin_register()
djstripe_custom_actions_guard()
