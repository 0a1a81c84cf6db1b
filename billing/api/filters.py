"""Query-string filters of the billing lists (`?status=`, `?type=`): one FilterSet per list, one rule for all.

The rule (billing_site.api.filters): an absent filter does not filter; an empty or unknown value is 400
`validation_error` naming the filter.
"""

from billing.enums import InvoiceStatus, OrderStatus
from billing.models.subscriptions import SubscriptionStatus
from billing.selectors.history import HISTORY_STATUSES, HISTORY_TYPES
from billing_site.api.filters import ChoiceFilter, FilterSet


def _values(*values: str) -> list[tuple[str, str]]:
    # The lists have always documented their values as themselves, not the models' translated labels.
    return [(value, value) for value in values]


class InvoiceFilter(FilterSet):
    """GET /api/invoices: issued invoices only, so no `draft`."""

    status = ChoiceFilter(
        choices=_values(InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE)
    )


class OrderFilter(FilterSet):
    """GET /api/orders."""

    status = ChoiceFilter(choices=_values(*OrderStatus.values))


class SubscriptionFilter(FilterSet):
    """GET /api/payment/subscriptions."""

    status = ChoiceFilter(choices=SubscriptionStatus.choices)


class PaymentHistoryFilter(FilterSet):
    """GET /api/payment/history: `status` of an invoice or a payment, `type` of the entry.

    The history is one UNION of two tables paged by the database, so the selector applies these values itself
    (billing_site.api.filters.filter_values); the FilterSet validates and documents them.
    """

    status = ChoiceFilter(choices=_values(*HISTORY_STATUSES))
    type = ChoiceFilter(choices=_values(*HISTORY_TYPES))
