"""The customer balance ledger: the one way a customer's credit balance changes, one entry per change."""

from typing import Any

from django.db import transaction

from billing.enums import BalanceEntryKind
from billing.models import CreditNote, Customer, CustomerBalanceEntry, Invoice, Refund
from billing.money import MAX_AMOUNT
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

REASON_MAX_LENGTH = 500


def balance_entry_write(
    *,
    customer: Customer,
    amount: int,
    kind: str,
    currency: str,
    reason: str = "",
    invoice: Invoice | None = None,
    credit_note: CreditNote | None = None,
    refund: Refund | None = None,
    actor: Any = None,
) -> CustomerBalanceEntry:
    """Change the credit balance of `customer` (locked by the caller, the same instance it keeps using) by `amount`
    and record why. The balance never goes below zero (409 `insufficient_balance`) and is kept in the customer's
    currency (409 `currency_mismatch`); no permission is checked here: callers are services that did.

    The database checks at commit that the balance equals the sum of its entries (migration 0014).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("balance_entry_write must run inside the transaction that locked the customer.")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise ApplicationError(
            "invalid_amount",
            "A balance change is a non-zero integer number of minor units.",
            fields={"amount": ["Must be a non-zero integer."]},
        )
    if currency != customer.currency:
        raise ApplicationError(
            "currency_mismatch",
            f"A {currency} amount cannot go on a {customer.currency} credit balance.",
            fields={"currency": [f"Must be {customer.currency}."]},
            status_code=409,
        )
    after = customer.credit_balance + amount
    if after < 0:
        raise ApplicationError(
            "insufficient_balance",
            f"The credit balance is {customer.credit_balance} {customer.currency}; it cannot go below zero.",
            fields={"amount": [f"At least {-customer.credit_balance}."]},
            status_code=409,
        )
    customer.credit_balance = after
    customer.save(update_fields=["credit_balance", "updated_at"])
    return CustomerBalanceEntry.objects.create(
        customer=customer,
        currency=currency,
        amount=amount,
        balance_after=after,
        kind=kind,
        reason=reason.strip()[:REASON_MAX_LENGTH],
        invoice=invoice,
        credit_note=credit_note,
        refund=refund,
        created_by=actor,
    )


@transaction.atomic
def balance_adjust(*, customer: Customer, amount: int, reason: str, actor: Any) -> CustomerBalanceEntry:
    """Billing staff add to (positive) or take from (negative) a customer's credit balance, saying why
    (billing.add_customerbalanceentry). A person always: the system (`actor` None) has no reason to give."""
    if actor is None:
        raise ApplicationError("permission_denied", "A staff user must adjust balances.", status_code=403)
    permission_require(actor=actor, permission="billing.add_customerbalanceentry")
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text) > REASON_MAX_LENGTH or any(character in text for character in "\r\n\x00"):
        raise ApplicationError(
            "invalid_reason",
            f"A reason of one line, at most {REASON_MAX_LENGTH} characters, is required.",
            fields={"reason": ["Required, one line."]},
        )
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    return balance_entry_write(
        customer=locked,
        amount=amount,
        kind=BalanceEntryKind.ADJUSTMENT,
        currency=locked.currency,
        reason=text,
        actor=actor,
    )
