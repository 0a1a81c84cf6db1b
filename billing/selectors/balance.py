"""Reads of the customer balance ledger: the balance in each currency and a page of its entries, newest first."""

from dataclasses import dataclass

from django.db.models import Sum

from billing.models import Customer, CustomerBalanceEntry


@dataclass(frozen=True)
class CurrencyBalance:
    currency: str
    balance: int


def balance_totals(*, customer: Customer | None) -> list[CurrencyBalance]:
    """The customer's credit balance per currency (the sum of its entries), the customer's own currency first and
    always present; none without a billing profile."""
    if customer is None:
        return []
    sums = dict(
        CustomerBalanceEntry.objects.filter(customer=customer)
        .order_by()
        .values_list("currency")
        .annotate(total=Sum("amount"))
        .values_list("currency", "total")
    )
    # The database keeps the ledger and credit_balance equal at every commit; the column is the figure of record.
    sums[customer.currency] = customer.credit_balance
    others = sorted(currency for currency in sums if currency != customer.currency)
    return [CurrencyBalance(currency, int(sums[currency])) for currency in (customer.currency, *others)]


def balance_entries(*, customer: Customer | None, limit: int, offset: int) -> tuple[int, list[CustomerBalanceEntry]]:
    """One page of the customer's ledger entries, newest first, and how many there are in all.

    A customer's entries are in one currency but for rare ones, so the (customer, currency, -created_at, -id)
    index serves the order; the count is skipped when the first page already holds everything.
    """
    if customer is None:
        return 0, []
    entries = CustomerBalanceEntry.objects.filter(customer=customer).order_by("-created_at", "-id")
    page = list(entries[offset : offset + limit])
    if offset == 0 and len(page) < limit:
        return len(page), page
    return entries.count(), page
