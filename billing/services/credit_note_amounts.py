"""The arithmetic of credit notes, pure integers: VAT in proportion, a total for a supply amount, the spread of a
supply amount over invoice lines, the split of a total, and refunds over payments.

One cumulative VAT rule: once `credited` of an invoice's `total` is credited, the VAT credited is
floor(invoice tax x credited / total), which is the invoice's whole tax when everything is credited. Each note
takes the difference from what the notes before it took, so however an invoice is credited, in how many notes,
their tax adds up to the invoice's exactly at full and never passes it.
"""

from collections.abc import Sequence
from dataclasses import dataclass


def credited_tax(*, invoice_tax: int, invoice_total: int, credited: int) -> int:
    """The VAT credited in all once `credited` (0..invoice_total) of the invoice's total is credited."""
    if invoice_total <= 0:
        return 0
    return invoice_tax * credited // invoice_total


@dataclass(frozen=True)
class CreditedSoFar:
    """An invoice's amounts and what its earlier credit notes took: the starting point of the next note."""

    invoice_tax: int
    invoice_total: int
    credited: int  # the earlier notes' totals
    tax_credited: int  # the earlier notes' VAT

    @property
    def creditable(self) -> int:
        """What is left to credit, VAT included."""
        return self.invoice_total - self.credited

    @property
    def supply_creditable(self) -> int:
        """The supply amount left to credit (the whole rest less the VAT not yet credited)."""
        return self.creditable - (self.invoice_tax - self.tax_credited)

    def note_tax(self, total: int) -> int:
        """The VAT of a next note of `total`: what the cumulative rule adds."""
        after = credited_tax(
            invoice_tax=self.invoice_tax, invoice_total=self.invoice_total, credited=self.credited + total
        )
        return after - self.tax_credited

    def total_for_supply(self, supply: int) -> int | None:
        """The smallest note total whose supply amount (total - its VAT) is `supply`; the whole rest when `supply`
        is all the supply amount left (so the last VAT goes with it); None when more than is left."""
        if supply <= 0 or supply > self.supply_creditable:
            return None
        if supply == self.supply_creditable:
            return self.creditable
        # total - note_tax(total) grows by 0 or 1 with each unit of total (the VAT rate is at most 100%), so the
        # smallest total reaching `supply` has exactly that supply amount.
        low, high = supply, self.creditable
        while low < high:
            middle = (low + high) // 2
            if middle - self.note_tax(middle) >= supply:
                high = middle
            else:
                low = middle + 1
        return low


def spread(amount: int, capacities: Sequence[int]) -> list[int]:
    """`amount` over slots in proportion to their capacities (largest remainders, ties to the first), never more
    than a slot's capacity; `amount` must not exceed their sum."""
    room = sum(capacities)
    if amount < 0 or amount > room:
        raise ValueError(f"Cannot spread {amount} over a room of {room}.")
    if amount == 0:
        return [0 for _ in capacities]
    shares = [amount * capacity // room for capacity in capacities]
    remainders = [amount * capacity % room for capacity in capacities]
    left = amount - sum(shares)
    # A slot with a remainder has share < its exact part <= capacity, so one more unit always fits.
    for index in sorted(range(len(capacities)), key=lambda position: (-remainders[position], position))[:left]:
        shares[index] += 1
    return shares


@dataclass(frozen=True)
class CreditSplit:
    """Where a credit note's total goes: off what the invoice still asks, and the rest back to the customer."""

    pre_payment: int
    given_back: int


def credit_split(*, total: int, amount_remaining: int, payable: bool) -> CreditSplit:
    """An open (or uncollectible) invoice's credit first lowers what it still asks; only the rest is given back."""
    pre_payment = min(total, amount_remaining) if payable else 0
    return CreditSplit(pre_payment=pre_payment, given_back=total - pre_payment)


def refunds_over_payments(amount: int, refundable: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """`amount` over payments given newest first as (payment id, what it has left to refund): each takes up to its
    rest, newest first; [(payment id, part)]. More than they have left in all raises ValueError."""
    parts: list[tuple[int, int]] = []
    left = amount
    for payment_id, room in refundable:
        if left == 0:
            break
        part = min(left, room)
        if part > 0:
            parts.append((payment_id, part))
            left -= part
    if left:
        raise ValueError(f"{amount} is more than the payments have left to refund.")
    return parts
