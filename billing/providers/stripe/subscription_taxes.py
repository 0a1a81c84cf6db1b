"""The VAT TaxRate on a card subscription's Stripe item: the one of the rate our invoice for its next renewal carries.

Stripe taxes each renewal with the tax rates of the subscription's item (the subscribe sets them, per item, with
today's rate). Ours is the customer's treatment at the scheduled rate of the renewal's Seoul day (billing.tax), so
a treatment changed by staff, or a rate change scheduled before the renewal, must reach the item before Stripe
renews; `subscription_stripe_follow` sends what `item_tax_rates_change` says.
"""

from typing import Any

import stripe

from billing.models import Customer
from billing.models.subscriptions import Subscription
from billing.tax import vat_rate_for

from .client import META_VAT, stripe_reference, stripe_retrieve
from .plans import vat_tax_rate_ensure


def renewal_vat_rate(subscription: Subscription) -> int | None:
    """The VAT rate (basis points) our invoice for the subscription's next renewal carries: its customer's treatment
    as it is now, at the scheduled rate of the renewal's day. None when no renewal is coming (paused, incomplete,
    set to end at the period's end, ended): Stripe renews nothing then (a resume or an undone cancel follows ours
    again, with the rate of that renewal)."""
    day = subscription.next_billing_date
    if day is None:
        return None
    treatment = Customer.objects.values_list("tax_treatment", flat=True).get(pk=subscription.customer_id)
    return vat_rate_for(tax_treatment=treatment, day=day)


def _tax_rates(item: Any) -> list[Any]:
    """The item's TaxRates as objects (Stripe expands them on a subscription's items; an id is read)."""
    found = []
    for entry in item.get("tax_rates") or []:
        rate = stripe_retrieve(stripe.TaxRate, entry) if isinstance(entry, str) else entry
        if rate is not None:
            found.append(rate)
    return found


def _is_ours(tax_rate: Any) -> bool:
    return META_VAT in (tax_rate.get("metadata") or {})


def item_tax_rate_ids(item: Any) -> list[str]:
    """The ids of the tax rates the item has: sent along whenever the item changes, so none is lost."""
    return [stripe_reference(entry) for entry in item.get("tax_rates") or []]


def item_tax_rates_change(ours: Subscription, item: Any) -> list[str] | None:
    """The tax rates to give Stripe's item so that its next renewal is taxed as ours will be: our VAT TaxRate of
    `renewal_vat_rate` in place of the one it has (tax rates not of ours are kept). None: already so, or no renewal
    is coming. The TaxRate is found or created (one per rate) only when the item needs another."""
    wanted = renewal_vat_rate(ours)
    if wanted is None:
        return None
    rates = _tax_rates(item)
    if [(rate.get("metadata") or {}).get(META_VAT) for rate in rates if _is_ours(rate)] == [str(wanted)]:
        return None
    return [str(rate.id) for rate in rates if not _is_ours(rate)] + [vat_tax_rate_ensure(wanted)]
