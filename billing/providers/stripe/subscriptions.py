"""Subscriptions paid by card through Stripe: prepare (customer, card, price, VAT rate), start, compensate, link,
cancel, read back.

A card subscribe is a subscribe attempt of ours (billing.models.SubscribeAttempt), committed before Stripe charges:
`subscription_stripe_start` makes the Stripe subscription for the attempt (its metadata names the attempt) and
charges it; our records follow in the next step, or `subscription_stripe_start_compensate` undoes what Stripe made
(cancel, void, refund). None of these runs while a row of ours is locked.
"""

import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from django.utils import timezone

from billing.enums import Language
from billing.models import Customer, SubscribeAttempt
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription, SubscriptionStatus
from billing.periods import billing_day_start
from billing.providers.base import ProviderError, RemoteSubscription, SubscriptionSetup, SubscriptionStarted
from billing.selectors.plans import plan_price_in
from billing.tax import vat_rate_now
from billing_site.errors import ApplicationError

from .client import (
    ENDED_STATUSES,
    INTERVALS,
    META_ATTEMPT,
    META_CUSTOMER,
    META_INVOICE,
    META_PENDING_FOR,
    META_SUBSCRIPTION,
    SUBSCRIPTION_STATUS_FROM_STRIPE,
    VAT_ADJUSTMENT_TEXT,
    payment_intent_id,
    stripe_amount,
    stripe_cleanup,
    stripe_errors,
    stripe_idempotency_key,
    stripe_options,
    stripe_reference,
    stripe_retrieve,
    stripe_timestamp_date,
)
from .customers import customer_stripe_ensure, default_payment_method, payment_method_attach
from .plans import plan_price_id, stripe_vat_amount, vat_tax_rate_ensure
from .subscription_taxes import item_tax_rate_ids, item_tax_rates_change

logger = logging.getLogger(__name__)


def subscription_stripe_prepare(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    payment_method_id: str | None,
    replacing: Subscription | None,
) -> SubscriptionSetup:
    """Before subscribe locks anything: the Stripe customer, the card, the Price and the VAT rate (all idempotent).

    A new subscription is paid by card when a payment method is given, or when it replaces one paid by card (the
    customer's default card then pays the new plan).
    """
    card_backed = bool(payment_method_id) or bool(replacing is not None and replacing.stripe_subscription_id)
    if not card_backed:
        return SubscriptionSetup()
    stripe_customer = customer_stripe_ensure(customer=customer)
    with stripe_errors(action="prepare the card subscription"):
        if payment_method_id:
            method = payment_method_attach(
                customer=customer, stripe_customer_id=stripe_customer.id, payment_method_id=payment_method_id
            )
        else:
            method = default_payment_method(stripe_customer.id) or ""
            if not method:
                raise ApplicationError(
                    "payment_method_required",
                    "Your current plan is paid by card but no card is on file; send payment_method_id.",
                    fields={"payment_method_id": ["Required."]},
                    status_code=402,
                )
        # The customer's currency (chosen by the subscribe before this is asked): its Price of the plan.
        price = plan_price_in(plan=plan, currency=customer.currency)
        price_id = plan_price_id(plan, billing_period, price.price_for(billing_period), customer.currency)
        # The customer's rate today (0 % zero-rated or exempt), so Stripe's renewals charge the VAT ours do.
        vat_rate = vat_rate_now(tax_treatment=customer.tax_treatment)
        tax_rate_id = vat_tax_rate_ensure(vat_rate)
    return SubscriptionSetup(
        customer_reference=stripe_customer.id,
        payment_method=method,
        price_reference=price_id,
        tax_rate_reference=tax_rate_id,
        currency=customer.currency,
        vat_rate_basis_points=vat_rate,
    )


def _pending_items_sweep(stripe_customer_id: str) -> None:
    """Delete invoice items an earlier failed subscribe left pending (they would join the next invoice)."""
    listing: Any = stripe.InvoiceItem.list(customer=stripe_customer_id, limit=100, **stripe_options())
    for item in listing.auto_paging_iter():
        if not item.get("invoice") and (item.get("metadata") or {}).get(META_PENDING_FOR):
            stripe.InvoiceItem.delete(item.id, **stripe_options())


def _first_invoice_items(attempt: SubscribeAttempt, setup: SubscriptionSetup) -> list[dict[str, Any]]:
    """Invoice items that make Stripe's first invoice equal the attempt's quote of ours: our lines other than the
    plan charge (credits, credit balance used), and the difference between our VAT (on the subtotal, truncated) and
    Stripe's (on the plan line, rounded). Stripe adds pending items of the customer to a new subscription's first
    invoice."""
    quote = attempt.quote
    lines: list[dict[str, Any]] = quote["lines"]
    charge, others = lines[0], lines[1:]
    currency = attempt.currency.lower()
    metadata = {META_PENDING_FOR: str(attempt.pk), META_ATTEMPT: str(attempt.pk)}
    items = [
        {
            "customer": setup.customer_reference,
            "amount": stripe_amount(amount=int(line["amount"]), currency=attempt.currency),
            "currency": currency,
            "description": line["description"],
            "metadata": metadata | {"billing_quote_line": str(position)},
        }
        for position, line in enumerate(others, start=1)
        if line["amount"]
    ]
    rate = vat_rate_now(
        tax_treatment=Customer.objects.values_list("tax_treatment", flat=True).get(pk=attempt.customer_id)
    )
    adjustment = int(quote["tax"]) - stripe_vat_amount(int(charge["amount"]), rate)
    if adjustment:
        language = quote.get("language") or Language.KOREAN
        items.append(
            {
                "customer": setup.customer_reference,
                "amount": stripe_amount(amount=adjustment, currency=attempt.currency),
                "currency": currency,
                "description": VAT_ADJUSTMENT_TEXT.get(language, VAT_ADJUSTMENT_TEXT[Language.KOREAN]),
                "metadata": metadata,
            }
        )
    return items


def _seats(attempt: SubscribeAttempt) -> int:
    """Seats the attempt subscribes to: its plan charge is whole seats at the plan's price in the attempt's currency
    (Stripe's Price is one seat), so Stripe's first invoice charges what ours says."""
    charge = int(attempt.quote["lines"][0]["amount"])
    # The attempt was priced when it was made: a price no longer sold since is still what it charges.
    seat = plan_price_in(plan=attempt.plan, currency=attempt.currency, for_sale=False).price_for(attempt.billing_period)
    return charge // seat if seat > 0 and charge >= seat and charge % seat == 0 else 1


def _decline_message(stripe_invoice: Any) -> tuple[str, str]:
    """(code, message) of why the first invoice was not paid, from its payment intent when Stripe says."""
    intent = stripe_invoice.get("payment_intent")
    if isinstance(intent, str):
        intent = stripe.PaymentIntent.retrieve(intent, **stripe_options())
    if not intent:
        return "card_declined", "The card was declined."
    if intent.get("status") == "requires_action":
        return "card_authentication_required", "The card needs authentication (3-D Secure), which this API cannot do."
    error = intent.get("last_payment_error") or {}
    return "card_declined", error.get("message") or "The card was declined."


def subscription_stripe_start(*, attempt: SubscribeAttempt, setup: SubscriptionSetup) -> SubscriptionStarted | None:
    """Create the Stripe subscription of a subscribe attempt and charge its first invoice (no lock of ours is held;
    the attempt is committed). None when the subscription is not paid by card.

    Every call carries an idempotency key of the attempt, and the subscription's metadata names the attempt, so a
    retry finds what the first call made and the compensation finds it even when the answer was lost.
    A declined card raises 402 and Stripe's half-made subscription is canceled and its invoice voided; Stripe
    unreachable raises 503 the same way. Stripe's first invoice must equal the quote (our extra lines and VAT
    difference go with it as invoice items), else 502. Whatever this could not undo, the compensation of the
    attempt does.
    """
    if not setup.customer_reference:
        return None
    created_items: list[str] = []
    stripe_subscription: Any = None
    try:
        with stripe_errors(action="create the card subscription"):
            _pending_items_sweep(setup.customer_reference)
            for index, params in enumerate(_first_invoice_items(attempt, setup)):
                key = stripe_idempotency_key("subscribe", attempt.key, f"item-{index}", params)
                created_items.append(stripe.InvoiceItem.create(**params, **stripe_options(idempotency_key=key)).id)
            params = {
                "customer": setup.customer_reference,
                # The card is the customer's default (payment_method_attach), which the subscription charges.
                "items": [
                    {
                        "price": setup.price_reference,
                        "quantity": _seats(attempt),
                        "tax_rates": [setup.tax_rate_reference],
                    }
                ],
                "payment_behavior": "allow_incomplete",
                "metadata": {META_ATTEMPT: str(attempt.pk), META_CUSTOMER: str(attempt.customer_id)}
                # The id our subscription takes if the attempt completes (none: named by a job after commit).
                | (
                    {META_SUBSCRIPTION: str(attempt.subscription_reserved_id)}
                    if attempt.subscription_reserved_id
                    else {}
                ),
                "expand": ["latest_invoice.payment_intent"],
            }
            key = stripe_idempotency_key("subscribe", attempt.key, "create")
            stripe_subscription = stripe.Subscription.create(**params, **stripe_options(idempotency_key=key))
            stripe_invoice = stripe_subscription.get("latest_invoice") or {}
            if stripe_subscription.get("status") not in ("active", "trialing"):
                code, message = _decline_message(stripe_invoice)
                raise ApplicationError(code, message, fields={"payment_method_id": [code]}, status_code=402)
            if stripe_invoice.get("total") != attempt.total or (stripe_invoice.get("currency") or "").upper() != (
                attempt.currency
            ):
                logger.error(
                    "Stripe's first invoice %s is %s %s, subscribe attempt %s quoted %s %s",
                    stripe_invoice.get("id"),
                    stripe_invoice.get("total"),
                    stripe_invoice.get("currency"),
                    attempt.pk,
                    attempt.total,
                    attempt.currency,
                )
                raise ApplicationError(
                    "stripe_amount_mismatch",
                    "Stripe would charge another amount than the invoice; nothing was charged.",
                    status_code=502,
                )
    except BaseException:
        latest = stripe_subscription.get("latest_invoice") if stripe_subscription is not None else None
        stripe_cleanup(
            subscription_id=stripe_subscription.id if stripe_subscription is not None else "",
            invoice_id=stripe_reference(latest),
            item_ids=tuple(created_items),
        )
        raise
    paid = stripe_invoice.get("status") == "paid" and stripe_invoice.get("amount_paid")
    return SubscriptionStarted(
        subscription_reference=stripe_subscription.id,
        invoice_reference=stripe_invoice.get("id") or "",
        hosted_invoice_url=stripe_invoice.get("hosted_invoice_url") or "",
        amount_paid=int(stripe_invoice["amount_paid"]) if paid else 0,
        payment_reference=(payment_intent_id(stripe_invoice) or str(stripe_invoice["id"])) if paid else "",
        item_references=tuple(created_items),
    )


def _attempt_subscriptions(attempt: SubscribeAttempt, customer_reference: str) -> list[Any]:
    """Every Stripe subscription the attempt made: its metadata names the attempt (the answer may have been lost)."""
    listing: Any = stripe.Subscription.list(customer=customer_reference, status="all", limit=100, **stripe_options())
    found = [
        candidate
        for candidate in listing.auto_paging_iter()
        if (candidate.get("metadata") or {}).get(META_ATTEMPT) == str(attempt.pk)
        or (attempt.provider_subscription_id and candidate.id == attempt.provider_subscription_id)
    ]
    return found


def _invoice_refund(attempt: SubscribeAttempt, stripe_invoice: Any) -> str:
    """Give back what a paid first invoice of the attempt collected (once: refunds already made count)."""
    intent = payment_intent_id(stripe_invoice)
    paid = int(stripe_invoice.get("amount_paid") or 0)
    if not intent or paid <= 0:
        return ""
    refunds: Any = stripe.Refund.list(payment_intent=intent, limit=100, **stripe_options())
    refunded = sum(int(refund.get("amount") or 0) for refund in refunds.auto_paging_iter())
    if refunded >= paid:
        return f"payment {intent} already refunded"
    key = stripe_idempotency_key("subscribe", attempt.key, f"refund-{intent}")
    stripe.Refund.create(
        payment_intent=intent,
        amount=paid - refunded,
        metadata={META_ATTEMPT: str(attempt.pk)},
        **stripe_options(idempotency_key=key),
    )
    return f"payment {intent} refunded ({paid - refunded})"


def subscription_stripe_start_compensate(*, attempt: SubscribeAttempt) -> str:
    """Undo in Stripe whatever a subscribe attempt that will not complete made: cancel its subscription, void its
    open invoice, refund a paid one, delete pending invoice items. Idempotent; Stripe unreachable raises 503 (the
    attempt stays to compensate and is tried again). Says what it did."""
    customer_reference = str((attempt.setup or {}).get("customer_reference") or "")
    if not customer_reference:
        return "nothing was made in Stripe"
    done: list[str] = []
    with stripe_errors(action="undo a card subscribe that did not complete"):
        for found in _attempt_subscriptions(attempt, customer_reference):
            if found.get("status") not in ENDED_STATUSES:
                stripe.Subscription.cancel(found.id, **stripe_options())
                done.append(f"subscription {found.id} canceled")
            invoice_id = stripe_reference(found.get("latest_invoice"))
            stripe_invoice: Any = stripe_retrieve(stripe.Invoice, invoice_id)
            if stripe_invoice is None:
                continue
            if stripe_invoice.get("status") == "open":
                stripe.Invoice.void_invoice(invoice_id, **stripe_options())
                done.append(f"invoice {invoice_id} voided")
            elif stripe_invoice.get("status") == "paid":
                refunded = _invoice_refund(attempt, stripe_invoice)
                if refunded:
                    done.append(refunded)
        listing: Any = stripe.InvoiceItem.list(customer=customer_reference, limit=100, **stripe_options())
        for item in listing.auto_paging_iter():
            if not item.get("invoice") and (item.get("metadata") or {}).get(META_PENDING_FOR) == str(attempt.pk):
                stripe.InvoiceItem.delete(item.id, **stripe_options())
                done.append(f"invoice item {item.id} deleted")
    return "; ".join(done) or "nothing to undo in Stripe"


def subscription_stripe_link(*, subscription: Subscription) -> None:
    """After our subscription was written: its Stripe subscription's metadata names it (and its first invoice)."""
    if not subscription.stripe_subscription_id:
        return
    link = subscription.period_invoices.order_by("period_start").first()
    metadata = {META_SUBSCRIPTION: str(subscription.pk)}
    if link is not None:
        metadata[META_INVOICE] = str(link.invoice_id)
    with stripe_errors(action="link the card subscription to ours"):
        current = stripe_retrieve(stripe.Subscription, subscription.stripe_subscription_id)
        if current is None:
            return
        known = current.get("metadata") or {}
        if any(known.get(name) != value for name, value in metadata.items()):
            stripe.Subscription.modify(subscription.stripe_subscription_id, metadata=metadata, **stripe_options())


def subscription_stripe_cancel_now(*, stripe_subscription_id: str) -> None:
    """Cancel a Stripe subscription at once (a plan change replaced it); one already canceled is left alone."""
    with stripe_errors(action="cancel the old card subscription"):
        current = stripe_retrieve(stripe.Subscription, stripe_subscription_id)
        if current is not None and current.get("status") not in ENDED_STATUSES:
            stripe.Subscription.cancel(stripe_subscription_id, **stripe_options())


def subscription_stripe_follow(*, subscription: Subscription) -> str:
    """Make Stripe's copy of our subscription match ours as it is now (ours decides; Stripe is the rail that charges
    the card). Reads ours again (the job runs after the change committed) and Stripe's, then changes only what
    differs, so running it twice, or for an older revision, is harmless. Says what it changed.

    - ended here: canceled there now (one ended there is left alone);
    - `cancel_at_period_end` both ways (a cancel undone here is undone there);
    - paused here: `pause_collection` void there (Stripe's renewals while paused are voided, never charged); resumed:
      collection again, and Stripe's next charge moved to our next billing date (a pause shifted our period) with
      `trial_end`, which Stripe documents for moving a billing date without proration;
    - seats and plan: the item's quantity and Price (a pending change applied at the boundary), with
      `proration_behavior` none: we bill prorations ourselves, on our invoices;
    - VAT: the item's TaxRate, the one of the rate our invoice for the next renewal carries (the customer's
      treatment, the scheduled rate of that day: subscription_taxes).
    """
    fresh = Subscription.objects.select_related("plan").get(pk=subscription.pk)
    reference = fresh.stripe_subscription_id
    if not reference:
        return "not in Stripe"
    with stripe_errors(action=f"update Stripe subscription {reference} as ours"):
        current = stripe_retrieve(stripe.Subscription, reference)
        if current is None or current.get("status") in ENDED_STATUSES:
            return "already ended in Stripe" if current is not None else "Stripe has no such subscription"
        if fresh.status == SubscriptionStatus.CANCELED:
            stripe.Subscription.cancel(reference, **stripe_options())
            return "canceled"
        changes = _follow_changes(fresh, current)
        if not changes:
            return "already as ours"
        stripe.Subscription.modify(reference, **changes, **stripe_options())
    return "changed " + ", ".join(sorted(name for name in changes if name != "proration_behavior"))


def _follow_changes(ours: Subscription, current: Any) -> dict[str, Any]:
    """What to send Stripe so that its live copy says what ours says (empty: nothing differs)."""
    changes: dict[str, Any] = {}
    if bool(current.get("cancel_at_period_end")) != ours.cancel_at_period_end:
        changes["cancel_at_period_end"] = ours.cancel_at_period_end
    paused_there = bool(current.get("pause_collection"))
    if ours.status == SubscriptionStatus.PAUSED and not paused_there:
        changes["pause_collection"] = {"behavior": "void"}
    elif ours.status != SubscriptionStatus.PAUSED and paused_there:
        changes["pause_collection"] = ""  # Stripe's way to clear it
    if ours.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE) and ours.pauses.exists():
        ends = _current_period_end(current)
        next_billing = billing_day_start(ours.current_period_end)
        if (
            ends is not None
            and stripe_timestamp_date(ends) != ours.current_period_end
            and next_billing > timezone.now()
        ):
            changes["trial_end"] = int(next_billing.timestamp())
            changes["proration_behavior"] = "none"
    items = (current.get("items") or {}).get("data") or []
    if items:
        item = items[0]
        wanted: dict[str, Any] = {}
        if int(item.get("quantity") or 1) != ours.quantity:
            wanted["quantity"] = ours.quantity
        price = item.get("price") or {}
        unit_amount = ours.unit_amount
        interval = (price.get("recurring") or {}).get("interval")
        if (
            price.get("unit_amount") != unit_amount
            or (price.get("currency") or "").upper() != ours.currency
            or interval != INTERVALS[ours.billing_period]
            or (ours.plan.stripe_product_id and price.get("product") != ours.plan.stripe_product_id)
        ):
            price_id = plan_price_id(ours.plan, ours.billing_period, unit_amount, ours.currency)
            found = stripe_retrieve(stripe.Price, price_id) if price_id != price.get("id") else None
            if found is not None and found.get("unit_amount") == unit_amount:
                wanted["price"] = price_id
            elif found is not None:
                # A price the plan no longer has (kept by this subscription): Stripe keeps charging its old one.
                logger.warning("No Stripe price of %s at %s for subscription %s", ours.plan, unit_amount, ours.pk)
        tax_rates = item_tax_rates_change(ours, item)
        if tax_rates is not None:
            wanted["tax_rates"] = tax_rates
        if wanted:
            # Seats and tax rates sent with any change of the item: they are what Stripe's renewals charge.
            wanted = {"quantity": ours.quantity, "tax_rates": item_tax_rate_ids(item)} | wanted
            changes["items"] = [{"id": item.get("id")} | wanted]
            changes["proration_behavior"] = "none"
    return changes


def subscription_abandoned_cancel(*, stripe_subscription_id: str) -> None:
    """Cancel a Stripe subscription a failed subscribe left behind (the resync found it); failures are reported."""
    try:
        stripe.Subscription.cancel(stripe_subscription_id, **stripe_options())
    except stripe.StripeError as error:
        raise ProviderError(str(error)) from error


def _current_period_start(stripe_subscription: Any) -> int | None:
    return _period_bound(stripe_subscription, "current_period_start")


def _current_period_end(stripe_subscription: Any) -> int | None:
    return _period_bound(stripe_subscription, "current_period_end")


def _period_bound(stripe_subscription: Any, name: str) -> int | None:
    value = stripe_subscription.get(name)
    if value is None:  # newer API versions keep the period on the items
        items = (stripe_subscription.get("items") or {}).get("data") or []
        value = items[0].get(name) if items else None
    return None if value is None else int(value)


def remote_subscription(stripe_subscription: Any) -> RemoteSubscription:
    """A Stripe subscription as billing reads it: our status for Stripe's, the period it is in, whose it says it is."""
    status = stripe_subscription.get("status") or ""
    metadata = stripe_subscription.get("metadata") or {}
    claimed = metadata.get(META_SUBSCRIPTION)
    return RemoteSubscription(
        reference=stripe_subscription.id,
        status=SUBSCRIPTION_STATUS_FROM_STRIPE.get(status, ""),
        ended=status in ENDED_STATUSES,
        cancel_at_period_end=bool(stripe_subscription.get("cancel_at_period_end")),
        period_start=stripe_timestamp_date(_current_period_start(stripe_subscription)),
        claimed_subscription_id=str(claimed or ""),
        claimed_attempt_id=str(metadata.get(META_ATTEMPT) or ""),
        created_at=datetime.fromtimestamp(int(stripe_subscription.get("created") or 0), tz=UTC),
    )


def subscription_stripe_read(*, subscription: Subscription) -> RemoteSubscription | None:
    """Stripe's current state of our subscription (None when Stripe has no such subscription)."""
    with stripe_errors(action=f"read Stripe subscription {subscription.stripe_subscription_id}"):
        current = stripe_retrieve(stripe.Subscription, subscription.stripe_subscription_id)
    return None if current is None else remote_subscription(current)
