"""Our billing mirrored in Stripe (through dj-stripe): plans, customers, subscriptions, invoices, card payments, resync.

Our records stay the source of the documents (numbers, VAT, PDFs); Stripe collects the money and its state flows
back through webhooks (billing.webhooks) and `manage.py billing_sync_stripe` (`stripe_resync`).

- Every call that creates something in Stripe carries an idempotency key derived from our own object
  (`stripe_idempotency_key`), so a retried call finds what the first one made instead of charging twice.
- Amounts go to Stripe unchanged: Stripe's smallest unit is our minor unit for every currency we bill in
  (KRW is zero-decimal there too), so 99000 KRW is ₩99,000 in Stripe, never ₩990.
- Stripe failures become ApplicationError: 402 `card_declined` / `card_authentication_required`,
  400 `invalid_payment_method`, 503 `stripe_unavailable`, 502 `stripe_request_failed`.
- What must exist in Stripe before we store (a subscription paid by card) is created first and cleaned up when
  our write fails; what follows our write (the Stripe copy of an issued invoice) runs after commit and is repaired
  by the resync when Stripe was unreachable.
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from billing.enums import INVOICE_PAYABLE_STATUSES, InvoiceStatus, Language, PaymentMethod, PaymentStatus
from billing.models import Customer, Invoice, Payment
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import LIVE_STATUSES, Subscription, SubscriptionStatus
from billing.money import MINOR_DIGITS, currency_normalize, vat_rate_basis_points
from billing.periods import BILLING_TIME_ZONE, BillingPeriod
from billing_site.errors import ApplicationError

logger = logging.getLogger(__name__)

INTERVALS: dict[str, str] = {BillingPeriod.MONTHLY: "month", BillingPeriod.ANNUAL: "year"}
PRICE_ID_FIELDS: dict[str, str] = {
    BillingPeriod.MONTHLY: "stripe_monthly_price_id",
    BillingPeriod.ANNUAL: "stripe_annual_price_id",
}
# Stripe subscription statuses -> ours. "unpaid" is past_due that stopped retrying; both still owe money.
SUBSCRIPTION_STATUS_FROM_STRIPE: dict[str, str] = {
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "trialing": SubscriptionStatus.ACTIVE,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAST_DUE,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
}
VAT_LINE_TEXT = {Language.KOREAN: "부가세 (VAT)", Language.ENGLISH: "VAT"}
VAT_ADJUSTMENT_TEXT = {Language.KOREAN: "부가세 조정", Language.ENGLISH: "VAT adjustment"}
# Metadata keys on Stripe objects that point back at ours (the resync and the webhooks read them).
META_PLAN = "billing_plan_id"
META_CUSTOMER = "billing_customer_id"
META_SUBSCRIPTION = "billing_subscription_id"
META_INVOICE = "billing_invoice_id"
META_PENDING_FOR = "billing_pending_for_subscription"
META_VAT = "billing_vat_basis_points"
# A Stripe subscription naming a subscription of ours that does not exist is a leftover once this old.
ABANDONED_AFTER_MINUTES = 15


def stripe_enabled() -> bool:
    return bool(getattr(settings, "STRIPE_ENABLED", False))


# --- the client: options, idempotency keys, errors ------------------------------------------------------------------

_http_client_timeout: float | None = None


def _options(*, idempotency_key: str | None = None) -> dict[str, Any]:
    """Request options of every call: the configured key and API version (dj-stripe's), and the idempotency key."""
    global _http_client_timeout
    timeout = float(getattr(settings, "STRIPE_TIMEOUT_SECONDS", 20))
    if _http_client_timeout != timeout:
        # The stripe library's default waits 80 s; a request thread must give up long before that.
        stripe.default_http_client = stripe.RequestsClient(timeout=timeout)
        _http_client_timeout = timeout
    stripe.max_network_retries = int(getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2))
    options: dict[str, Any] = {
        "api_key": djstripe_settings.STRIPE_SECRET_KEY,
        "stripe_version": djstripe_settings.STRIPE_API_VERSION,
    }
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    return options


def stripe_idempotency_key(kind: str, pk: object, action: str, params: Mapping[str, Any] | None = None) -> str:
    """`billing-<kind>-<pk>-<action>[-<digest>]`: the same request about the same object of ours gets the same key.

    The digest of the parameters is part of the key where one object may be sent with other parameters later
    (a plan's new price): Stripe refuses a known key with different parameters, and must not replay the old answer.
    """
    key = f"billing-{kind}-{pk}-{action}"
    if params is not None:
        encoded = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
        key += "-" + hashlib.sha256(encoded.encode()).hexdigest()[:16]
    return key


@contextmanager
def stripe_errors(*, action: str) -> Iterator[None]:
    """Translate a Stripe failure into the ApplicationError an API client can act on."""
    try:
        yield
    except stripe.CardError as error:
        raise ApplicationError(
            "card_declined",
            error.user_message or "The card was declined.",
            fields={"payment_method_id": [error.code or "card_declined"]},
            status_code=402,
        ) from error
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        logger.warning("Stripe unavailable while trying to %s: %s", action, error)
        raise _unavailable(action) from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        logger.error("Stripe refused our API key while trying to %s: %s", action, error)
        raise _unavailable(action) from error
    except stripe.StripeError as error:
        logger.error("Stripe refused the request to %s: %s", action, error)
        raise ApplicationError(
            "stripe_request_failed", f"Stripe refused the request to {action}.", status_code=502
        ) from error


def _unavailable(action: str) -> ApplicationError:
    return ApplicationError(
        "stripe_unavailable",
        f"Payments are unavailable right now (could not {action}); try again shortly.",
        status_code=503,
    )


def stripe_object_missing(error: stripe.StripeError) -> bool:
    """Stripe answered that the object does not exist (404 / resource_missing)."""
    return isinstance(error, stripe.InvalidRequestError) and (
        error.http_status == 404 or error.code == "resource_missing"
    )


def stripe_amount(*, amount: int, currency: str) -> int:
    """An amount in Stripe's smallest unit: our minor units, unchanged (checked once per call, not assumed)."""
    code = currency_normalize(currency)
    if (MINOR_DIGITS[code] == 0) != (code.lower() in djstripe_settings.ZERO_DECIMAL_CURRENCIES):
        raise ImproperlyConfigured(f"{code}: our minor units and Stripe's smallest unit differ; add a conversion.")
    return amount


def _stripe_timestamp_date(value: int | None) -> date | None:
    """The Asia/Seoul calendar day of a Stripe timestamp (our periods are Seoul days)."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC).astimezone(BILLING_TIME_ZONE).date()


@dataclass
class StripeChange:
    """One thing a sync changed, for reports: `what` is e.g. "price", `action` e.g. "created"."""

    what: str
    action: str
    ref: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.what} {self.ref}: {self.action}" + (f" ({self.detail})" if self.detail else "")


# --- plans: one Product, a monthly and an annual Price ---------------------------------------------------------------


def stripe_retrieve(resource: Any, stripe_id: str) -> Any:
    """The Stripe object as it is now (`resource` e.g. stripe.Invoice), or None when Stripe has no such object."""
    if not stripe_id:
        return None
    try:
        return resource.retrieve(stripe_id, **_options())
    except stripe.StripeError as error:
        if stripe_object_missing(error):
            return None
        raise


def _product_ensure(plan: SubscriptionPlan, changes: list[StripeChange]) -> Any:
    wanted = {
        "name": plan.name if not plan.name_en or plan.name_en == plan.name else f"{plan.name} ({plan.name_en})",
        "active": plan.is_active,
        "metadata": {META_PLAN: str(plan.pk), "billing_plan_slug": plan.slug},
    }
    product = stripe_retrieve(stripe.Product, plan.stripe_product_id)
    if product is None:
        # A product an earlier run created and could not record (our write failed) is adopted, not duplicated.
        product = next(
            (
                candidate
                for candidate in stripe.Product.list(limit=100, **_options()).auto_paging_iter()
                if (candidate.get("metadata") or {}).get(META_PLAN) == str(plan.pk)
            ),
            None,
        )
        if product is not None:
            changes.append(StripeChange("product", "adopted", product.id, plan.slug))
    if product is None:
        product = stripe.Product.create(
            **wanted, **_options(idempotency_key=stripe_idempotency_key("plan", plan.pk, "product", wanted))
        )
        changes.append(StripeChange("product", "created", product.id, plan.slug))
        return product
    differences = {
        name: value
        for name, value in wanted.items()
        if (name != "metadata" and product.get(name) != value)
        or (name == "metadata" and any((product.get("metadata") or {}).get(k) != v for k, v in value.items()))
    }
    if differences:
        product = stripe.Product.modify(product.id, **differences, **_options())
        changes.append(StripeChange("product", "updated", product.id, ", ".join(sorted(differences))))
    return product


def _price_matches(price: Any, *, product_id: str, amount: int, currency: str, interval: str) -> bool:
    recurring = price.get("recurring") or {}
    return (
        price.get("product") == product_id
        and price.get("unit_amount") == amount
        and (price.get("currency") or "").lower() == currency
        and recurring.get("interval") == interval
        and int(recurring.get("interval_count") or 1) == 1
    )


def _price_ensure(
    plan: SubscriptionPlan, billing_period: str, product: Any, changes: list[StripeChange]
) -> tuple[Any, Any | None]:
    """The plan's current Price for the period, and the Price it replaces (archived), if any."""
    currency = plan.currency.lower()
    amount = stripe_amount(amount=plan.price_for(billing_period), currency=plan.currency)
    interval = INTERVALS[billing_period]
    wanted = {"product_id": product.id, "amount": amount, "currency": currency, "interval": interval}
    current = stripe_retrieve(stripe.Price, getattr(plan, PRICE_ID_FIELDS[billing_period]))
    if current is not None and _price_matches(current, **wanted):
        if not current.get("active"):
            current = stripe.Price.modify(current.id, active=True, **_options())
            changes.append(StripeChange("price", "reactivated", current.id, f"{plan.slug} {billing_period}"))
        return current, None
    # Prices are immutable: a changed amount is a new Price (or an archived one of the same amount, brought back).
    existing = [
        price
        for price in stripe.Price.list(product=product.id, limit=100, **_options()).auto_paging_iter()
        if _price_matches(price, **wanted)
    ]
    existing.sort(key=lambda price: (bool(price.get("active")), price.get("created") or 0), reverse=True)
    label = f"{plan.slug} {billing_period} {amount} {currency.upper()}"
    if existing:
        price = existing[0]
        if not price.get("active"):
            price = stripe.Price.modify(price.id, active=True, **_options())
            changes.append(StripeChange("price", "reactivated", price.id, label))
    else:
        params = {
            "product": product.id,
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": interval},
            "nickname": f"{plan.slug} {billing_period}",
            "metadata": {META_PLAN: str(plan.pk), "billing_period": billing_period},
        }
        key = stripe_idempotency_key("plan", plan.pk, f"price-{billing_period}", params)
        price = stripe.Price.create(**params, **_options(idempotency_key=key))
        changes.append(StripeChange("price", "created", price.id, label))
    replaced = None
    if current is not None and current.id != price.id and current.get("active"):
        replaced = stripe.Price.modify(current.id, active=False, **_options())
        changes.append(StripeChange("price", "archived", current.id, f"{plan.slug} {billing_period}"))
    return price, replaced


def plan_stripe_sync(*, plan: SubscriptionPlan) -> list[StripeChange]:
    """Make Stripe show the plan: one Product, a monthly and an annual Price (recurring, in the plan's currency).

    A changed price is a new Price and the old one is archived (existing subscriptions keep it); an inactive plan
    archives its Product. Idempotent: a second run finds nothing to change. Mirrored into dj-stripe's models.
    """
    changes: list[StripeChange] = []
    with stripe_errors(action=f"sync plan {plan.slug}"):
        product = _product_ensure(plan, changes)
        prices = {period: _price_ensure(plan, period, product, changes) for period in INTERVALS}
        api_key = djstripe_settings.STRIPE_SECRET_KEY
        djstripe_models.Product.sync_from_stripe_data(product, api_key=api_key)
        for price, replaced in prices.values():
            djstripe_models.Price.sync_from_stripe_data(price, api_key=api_key)
            if replaced is not None:
                djstripe_models.Price.sync_from_stripe_data(replaced, api_key=api_key)
    ids = {"stripe_product_id": product.id} | {PRICE_ID_FIELDS[p]: price.id for p, (price, _) in prices.items()}
    changed = {name: value for name, value in ids.items() if getattr(plan, name) != value}
    if changed:
        SubscriptionPlan.objects.filter(pk=plan.pk).update(**changed, updated_at=timezone.now())
        for name, value in changed.items():
            setattr(plan, name, value)
    return changes


@dataclass
class PlansStripeSyncReport:
    changes: list[StripeChange] = field(default_factory=list)
    plans: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def plans_stripe_sync(
    *, plans: list[SubscriptionPlan] | None = None, on_progress: Callable[[str], None] | None = None
) -> PlansStripeSyncReport:
    """Sync every plan (active or not: a retired plan's Product is archived) or the given ones."""
    report = PlansStripeSyncReport()
    for plan in plans if plans is not None else SubscriptionPlan.objects.order_by("display_order", "id"):
        report.changes += plan_stripe_sync(plan=plan)
        report.plans += 1
        if on_progress is not None:
            on_progress(plan.slug)
    return report


def _plan_price_id(plan: SubscriptionPlan, billing_period: str, amount: int) -> str:
    """The Stripe Price of the plan's period at `amount`, syncing the plan first when it has none (or another)."""
    price_id = getattr(plan, PRICE_ID_FIELDS[billing_period])
    price = stripe_retrieve(stripe.Price, price_id)
    if price is None or price.get("unit_amount") != amount or not price.get("active"):
        plan_stripe_sync(plan=plan)
        price_id = getattr(plan, PRICE_ID_FIELDS[billing_period])
    return str(price_id)


# --- VAT ------------------------------------------------------------------------------------------------------------


def vat_tax_rate_ensure() -> str:
    """The Stripe TaxRate of our VAT (exclusive, BILLING_VAT_RATE_BASIS_POINTS), found by its metadata or created."""
    basis_points = vat_rate_basis_points()
    for tax_rate in stripe.TaxRate.list(limit=100, **_options()).auto_paging_iter():
        metadata = tax_rate.get("metadata") or {}
        if metadata.get(META_VAT) == str(basis_points) and tax_rate.get("active") and not tax_rate.get("inclusive"):
            return str(tax_rate.id)
    params = {
        "display_name": "부가세 VAT",
        "description": "Korean VAT (부가가치세)",
        "jurisdiction": "KR",
        "inclusive": False,
        # Basis points as a decimal string (1000 -> "10"): no float.
        "percentage": str(Decimal(basis_points) / 100),
        "metadata": {META_VAT: str(basis_points)},
    }
    tax_rate = stripe.TaxRate.create(
        **params, **_options(idempotency_key=stripe_idempotency_key("vat", basis_points, "tax-rate", params))
    )
    return str(tax_rate.id)


def stripe_vat_amount(amount: int) -> int:
    """VAT as Stripe computes it for one line (rounded half up); ours truncates, and a line adjusts the difference."""
    basis_points = vat_rate_basis_points()
    quotient, remainder = divmod(abs(amount) * basis_points, 10_000)
    rounded = quotient + (1 if remainder * 2 >= 10_000 else 0)
    return -rounded if amount < 0 else rounded


# --- customers and payment methods ------------------------------------------------------------------------------------


def _livemode() -> bool:
    return bool(getattr(settings, "STRIPE_LIVE_MODE", False))


def customer_stripe_get(*, customer: Customer) -> Any:
    """The dj-stripe Customer linked to ours (subscriber = our customer's user), or None."""
    return (
        djstripe_models.Customer.objects.filter(
            subscriber_id=customer.user_id, livemode=_livemode(), date_purged__isnull=True
        )
        .order_by("created", "djstripe_id")
        .first()
    )


def customer_stripe_ensure(*, customer: Customer) -> Any:
    """Our customer's Stripe Customer, created on first need and linked through dj-stripe's Customer.

    Runs with our customer row locked, so two first needs at once create one. A Stripe Customer an earlier attempt
    created but could not record (our transaction rolled back) is found again by its metadata and adopted.
    """
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        linked = customer_stripe_get(customer=locked)
        if linked is not None:
            return linked
        metadata = {META_CUSTOMER: str(locked.pk), djstripe_settings.SUBSCRIBER_CUSTOMER_KEY: str(locked.user_id)}
        with stripe_errors(action="create the Stripe customer"):
            found = None
            if locked.email:
                found = next(
                    (
                        candidate
                        for candidate in stripe.Customer.list(email=locked.email, limit=100, **_options()).data
                        if (candidate.get("metadata") or {}).get(META_CUSTOMER) == str(locked.pk)
                    ),
                    None,
                )
            if found is None:
                params = {
                    "name": locked.display_name,
                    "email": locked.email or None,
                    "preferred_locales": [locked.preferred_language],
                    "metadata": metadata,
                }
                key = stripe_idempotency_key("customer", locked.pk, "create", params)
                found = stripe.Customer.create(**params, **_options(idempotency_key=key))
            linked = djstripe_models.Customer.sync_from_stripe_data(found, api_key=djstripe_settings.STRIPE_SECRET_KEY)
        if linked.subscriber_id != locked.user_id:
            linked.subscriber_id = locked.user_id
            linked.save(update_fields=["subscriber"])
        return linked


def payment_method_attach(*, customer: Customer, stripe_customer_id: str, payment_method_id: str) -> str:
    """Attach a card (a PaymentMethod the client created with Stripe.js) and make it the customer's default."""
    with stripe_errors(action="attach the payment method"):
        try:
            payment_method = stripe.PaymentMethod.retrieve(payment_method_id, **_options())
        except stripe.InvalidRequestError as error:
            raise ApplicationError(
                "invalid_payment_method",
                f"Stripe knows no payment method {payment_method_id!r}.",
                fields={"payment_method_id": ["Unknown payment method."]},
            ) from error
        owner = payment_method.get("customer")
        if owner and owner != stripe_customer_id:
            raise ApplicationError(
                "invalid_payment_method",
                "This payment method belongs to someone else.",
                fields={"payment_method_id": ["Not yours."]},
            )
        if not owner:
            key = stripe_idempotency_key("customer", customer.pk, f"attach-{payment_method_id}")
            stripe.PaymentMethod.attach(payment_method_id, customer=stripe_customer_id, **_options(idempotency_key=key))
        stripe.Customer.modify(
            stripe_customer_id, invoice_settings={"default_payment_method": payment_method_id}, **_options()
        )
    return payment_method_id


def _default_payment_method(stripe_customer_id: str) -> str | None:
    stripe_customer = stripe.Customer.retrieve(stripe_customer_id, **_options())
    return (stripe_customer.get("invoice_settings") or {}).get("default_payment_method")


# --- subscriptions --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StripeSubscriptionSetup:
    """What subscribe prepared in Stripe before our rows were locked for the invoice: who pays, with what, at which
    price. `customer_id` is empty when the new subscription is not paid by card (bank transfer, as with Stripe off)."""

    customer_id: str = ""
    payment_method_id: str = ""
    price_id: str = ""
    tax_rate_id: str = ""


def subscription_stripe_prepare(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    payment_method_id: str | None,
    replacing: Subscription | None,
) -> StripeSubscriptionSetup:
    """Before subscribe issues its invoice: the Stripe customer, the card, the Price and the VAT rate.

    A new subscription is paid by card when a payment method is given, or when it replaces one paid by card (the
    customer's default card then pays the new plan). Done before the invoice takes a number, so the day's number
    counter is not held while Stripe answers these calls.
    """
    card_backed = bool(payment_method_id) or bool(replacing is not None and replacing.stripe_subscription_id)
    if not card_backed:
        return StripeSubscriptionSetup()
    stripe_customer = customer_stripe_ensure(customer=customer)
    with stripe_errors(action="prepare the card subscription"):
        if payment_method_id:
            method = payment_method_attach(
                customer=customer, stripe_customer_id=stripe_customer.id, payment_method_id=payment_method_id
            )
        else:
            method = _default_payment_method(stripe_customer.id) or ""
            if not method:
                raise ApplicationError(
                    "payment_method_required",
                    "Your current plan is paid by card but no card is on file; send payment_method_id.",
                    fields={"payment_method_id": ["Required."]},
                    status_code=402,
                )
        price_id = _plan_price_id(plan, billing_period, plan.price_for(billing_period))
        tax_rate_id = vat_tax_rate_ensure()
    return StripeSubscriptionSetup(
        customer_id=stripe_customer.id, payment_method_id=method, price_id=price_id, tax_rate_id=tax_rate_id
    )


def _pending_items_sweep(stripe_customer_id: str) -> None:
    """Delete invoice items an earlier failed subscribe left pending (they would join the next invoice)."""
    for item in stripe.InvoiceItem.list(customer=stripe_customer_id, limit=100, **_options()).auto_paging_iter():
        if not item.get("invoice") and (item.get("metadata") or {}).get(META_PENDING_FOR):
            stripe.InvoiceItem.delete(item.id, **_options())


def _first_invoice_items(start: Any, setup: StripeSubscriptionSetup) -> list[dict[str, Any]]:
    """Invoice items that make Stripe's first invoice equal ours: our lines other than the plan charge (credits,
    credit balance used), and the difference between our VAT (on the subtotal, truncated) and Stripe's (on the plan
    line, rounded). Stripe adds pending items of the customer to a new subscription's first invoice."""
    invoice = start.invoice
    subscription = start.subscription
    language = invoice.language
    lines = list(invoice.lines.order_by("position", "id"))
    charge, others = lines[0], lines[1:]
    currency = invoice.currency.lower()
    metadata = {META_PENDING_FOR: str(subscription.pk), META_INVOICE: str(invoice.pk)}
    items = [
        {
            "customer": setup.customer_id,
            "amount": stripe_amount(amount=line.amount, currency=invoice.currency),
            "currency": currency,
            "description": line.description,
            "metadata": metadata | {"billing_invoice_line_id": str(line.pk)},
        }
        for line in others
        if line.amount
    ]
    adjustment = invoice.tax - stripe_vat_amount(charge.amount)
    if adjustment:
        items.append(
            {
                "customer": setup.customer_id,
                "amount": stripe_amount(amount=adjustment, currency=invoice.currency),
                "currency": currency,
                "description": VAT_ADJUSTMENT_TEXT.get(language, VAT_ADJUSTMENT_TEXT[Language.KOREAN]),
                "metadata": metadata,
            }
        )
    return items


def _stripe_cleanup(*, subscription_id: str = "", invoice_id: str = "", item_ids: tuple[str, ...] = ()) -> None:
    """Best effort: undo what we created in Stripe for a subscribe that did not happen. What cannot be undone now
    (Stripe unreachable) is logged; the resync cancels subscriptions whose `billing_subscription_id` is unknown."""
    try:
        for item_id in item_ids:
            # An item already on an invoice cannot be deleted: voiding that invoice takes it out of collection.
            with suppress(stripe.InvalidRequestError):
                stripe.InvoiceItem.delete(item_id, **_options())
        if subscription_id:
            current = stripe.Subscription.retrieve(subscription_id, **_options())
            if current.get("status") not in ("canceled", "incomplete_expired"):
                stripe.Subscription.cancel(subscription_id, **_options())
        if invoice_id:
            invoice = stripe.Invoice.retrieve(invoice_id, **_options())
            if invoice.get("status") == "open":
                stripe.Invoice.void_invoice(invoice_id, **_options())
    except stripe.StripeError as error:
        logger.error(
            "Could not undo Stripe subscription %s / invoice %s after a failed subscribe (%s); "
            "manage.py billing_sync_stripe will cancel it.",
            subscription_id,
            invoice_id,
            error,
        )


def _decline_message(stripe_invoice: Any) -> tuple[str, str]:
    """(code, message) of why the first invoice was not paid, from its payment intent when Stripe says."""
    intent = stripe_invoice.get("payment_intent")
    if isinstance(intent, str):
        intent = stripe.PaymentIntent.retrieve(intent, **_options())
    if not intent:
        return "card_declined", "The card was declined."
    if intent.get("status") == "requires_action":
        return "card_authentication_required", "The card needs authentication (3-D Secure), which this API cannot do."
    error = intent.get("last_payment_error") or {}
    return "card_declined", error.get("message") or "The card was declined."


def _payment_intent_id(stripe_invoice: Any) -> str:
    """The payment intent that paid a Stripe invoice (field of older API versions, `payments` list of newer ones)."""
    intent = stripe_invoice.get("payment_intent")
    if isinstance(intent, str):
        return intent
    if intent:
        return str(intent.get("id"))
    for payment in (stripe_invoice.get("payments") or {}).get("data", []):
        inner = (payment.get("payment") or {}).get("payment_intent")
        if inner:
            return inner if isinstance(inner, str) else str(inner.get("id"))
    return ""


def _card_payment_record(invoice: Invoice, *, amount: int, reference: str) -> str:
    """Record money Stripe collected against our invoice, once per reference; returns what happened.

    A paid subscription invoice refreshes its subscription after commit (billing.services.invoices does that)."""
    from .payments import payment_record

    if Payment.objects.filter(method=PaymentMethod.CARD, provider_reference=reference).exists():
        return f"payment {reference} already recorded"
    fresh = Invoice.objects.get(pk=invoice.pk)
    if fresh.status not in INVOICE_PAYABLE_STATUSES:
        logger.error("Stripe collected %s for invoice %s, which is %s: refund it.", amount, fresh, fresh.status)
        return f"invoice {fresh} is {fresh.status}; {amount} collected by Stripe needs a refund"
    if amount > fresh.amount_remaining:
        logger.error("Stripe collected %s for invoice %s, which asks %s.", amount, fresh, fresh.amount_remaining)
        amount = fresh.amount_remaining
    payment_record(invoice=fresh, amount=amount, method=PaymentMethod.CARD, provider_reference=reference)
    return f"invoice {fresh} paid by card ({amount} {fresh.currency})"


def subscription_stripe_start(*, start: Any, setup: StripeSubscriptionSetup) -> None:
    """After subscribe made our subscription and its first invoice (same transaction, customer locked): create the
    Stripe subscription, charge the first invoice, and cancel the replaced subscription in Stripe.

    A declined card raises 402 and leaves nothing: Stripe's half-made subscription is canceled and its invoice
    voided, and our transaction rolls back. Stripe unreachable raises 503 the same way. Stripe's first invoice must
    equal ours (our extra lines and VAT difference go with it as invoice items), else 502 and nothing is kept.
    """
    subscription, invoice = start.subscription, start.invoice
    replaced = start.replaced
    if not setup.customer_id:
        if replaced is not None and replaced.stripe_subscription_id:
            subscription_stripe_cancel_now(stripe_subscription_id=replaced.stripe_subscription_id)
        return
    created_items: list[str] = []
    stripe_subscription = None
    try:
        with stripe_errors(action="create the card subscription"):
            _pending_items_sweep(setup.customer_id)
            for index, params in enumerate(_first_invoice_items(start, setup)):
                key = stripe_idempotency_key("subscription", subscription.pk, f"item-{index}", params)
                created_items.append(stripe.InvoiceItem.create(**params, **_options(idempotency_key=key)).id)
            params = {
                "customer": setup.customer_id,
                # The card is the customer's default (payment_method_attach), which the subscription charges.
                "items": [{"price": setup.price_id, "tax_rates": [setup.tax_rate_id]}],
                "payment_behavior": "allow_incomplete",
                "metadata": {
                    META_SUBSCRIPTION: str(subscription.pk),
                    META_CUSTOMER: str(subscription.customer_id),
                    META_INVOICE: str(invoice.pk),
                },
                "expand": ["latest_invoice.payment_intent"],
            }
            stripe_subscription = stripe.Subscription.create(
                **params, **_options(idempotency_key=stripe_idempotency_key("subscription", subscription.pk, "create"))
            )
            stripe_invoice = stripe_subscription.get("latest_invoice") or {}
            if stripe_subscription.get("status") not in ("active", "trialing"):
                code, message = _decline_message(stripe_invoice)
                raise ApplicationError(code, message, fields={"payment_method_id": [code]}, status_code=402)
            if stripe_invoice.get("total") != invoice.total or (stripe_invoice.get("currency") or "").upper() != (
                invoice.currency
            ):
                logger.error(
                    "Stripe's first invoice %s is %s %s, ours %s is %s %s",
                    stripe_invoice.get("id"),
                    stripe_invoice.get("total"),
                    stripe_invoice.get("currency"),
                    invoice,
                    invoice.total,
                    invoice.currency,
                )
                raise ApplicationError(
                    "stripe_amount_mismatch",
                    "Stripe would charge another amount than the invoice; nothing was charged.",
                    status_code=502,
                )
            with transaction.atomic():
                subscription.stripe_subscription_id = stripe_subscription.id
                subscription.save(update_fields=["stripe_subscription_id", "updated_at"])
                Invoice.objects.filter(pk=invoice.pk).update(
                    stripe_invoice_id=stripe_invoice.get("id") or "",
                    stripe_hosted_invoice_url=stripe_invoice.get("hosted_invoice_url") or "",
                )
                if stripe_invoice.get("status") == "paid" and stripe_invoice.get("amount_paid"):
                    _card_payment_record(
                        invoice,
                        amount=int(stripe_invoice["amount_paid"]),
                        reference=_payment_intent_id(stripe_invoice) or str(stripe_invoice["id"]),
                    )
            if replaced is not None and replaced.stripe_subscription_id:
                subscription_stripe_cancel_now(stripe_subscription_id=replaced.stripe_subscription_id)
    except BaseException:
        invoice_id = ""
        if stripe_subscription is not None:
            latest = stripe_subscription.get("latest_invoice")
            invoice_id = latest if isinstance(latest, str) else (latest or {}).get("id", "")
        _stripe_cleanup(
            subscription_id=stripe_subscription.id if stripe_subscription is not None else "",
            invoice_id=invoice_id,
            item_ids=tuple(created_items),
        )
        raise


def subscription_stripe_cancel_now(*, stripe_subscription_id: str) -> None:
    """Cancel a Stripe subscription at once (a plan change replaced it); one already canceled is left alone."""
    with stripe_errors(action="cancel the old card subscription"):
        current = stripe_retrieve(stripe.Subscription, stripe_subscription_id)
        if current is not None and current.get("status") not in ("canceled", "incomplete_expired"):
            stripe.Subscription.cancel(stripe_subscription_id, **_options())


def subscription_stripe_cancel(*, subscription: Subscription) -> None:
    """After our subscription was canceled (now, or at period end): the same in Stripe, unless Stripe did it."""
    if not subscription.stripe_subscription_id:
        return
    if subscription.status == SubscriptionStatus.CANCELED:
        subscription_stripe_cancel_now(stripe_subscription_id=subscription.stripe_subscription_id)
        return
    if subscription.cancel_at_period_end:
        with stripe_errors(action="cancel the card subscription at the end of the period"):
            current = stripe_retrieve(stripe.Subscription, subscription.stripe_subscription_id)
            if current is not None and not current.get("cancel_at_period_end"):
                stripe.Subscription.modify(subscription.stripe_subscription_id, cancel_at_period_end=True, **_options())


def subscription_stripe_apply(*, stripe_subscription: Any) -> str:
    """Make our subscription follow the Stripe subscription as it is now: status, cancellation, renewed period.

    Runs in the caller's transaction (a webhook's or the resync's); the customer and the subscription rows are
    locked before anything is read from them. Returns what changed, for the event record and reports.
    """
    from .subscriptions import subscription_cancel, subscription_lock, subscription_renew, subscription_status_follow

    local = Subscription.objects.filter(stripe_subscription_id=stripe_subscription.id).first()
    if local is None:
        return _unknown_stripe_subscription(stripe_subscription)
    Customer.objects.select_for_update().get(pk=local.customer_id)
    locked = subscription_lock(subscription_id=local.pk)
    target = SUBSCRIPTION_STATUS_FROM_STRIPE.get(stripe_subscription.get("status") or "", "")
    done: list[str] = []
    if target == SubscriptionStatus.CANCELED:
        if locked.status != SubscriptionStatus.CANCELED:
            subscription_cancel(subscription=locked, immediately=True)
            done.append("canceled")
        return _said(locked, done)
    if stripe_subscription.get("cancel_at_period_end") and not locked.cancel_at_period_end and locked.is_live:
        subscription_cancel(subscription=locked)
        done.append("cancels at period end")
    period_start = _stripe_timestamp_date(_current_period_start(stripe_subscription))
    if period_start is not None and locked.status in LIVE_STATUSES and period_start >= locked.current_period_end:
        # Stripe renewed: our renewal issues the period's invoice (the same service the renewal run uses).
        outcome = subscription_renew(subscription=locked, as_of=period_start)
        done.append(f"renewed ({len(outcome.invoices)} invoice(s))")
        locked = subscription_lock(subscription_id=local.pk)
    if target and target != locked.status and locked.status != SubscriptionStatus.CANCELED:
        before = locked.status
        locked = subscription_status_follow(subscription=locked, status=target)
        if locked.status != before:
            done.append(f"{before} -> {locked.status}")
    return _said(locked, done)


def _said(subscription: Subscription, done: list[str]) -> str:
    return f"subscription {subscription.pk}: " + (", ".join(done) if done else f"already {subscription.status}")


def _current_period_start(stripe_subscription: Any) -> int | None:
    value = stripe_subscription.get("current_period_start")
    if value is None:  # newer API versions keep the period on the items
        items = (stripe_subscription.get("items") or {}).get("data") or []
        value = items[0].get("current_period_start") if items else None
    return value


class StripeRecordNotReady(Exception):
    """A Stripe object says it is ours but our row is not there (yet): the transaction creating it may still run."""


def _unknown_stripe_subscription(stripe_subscription: Any) -> str:
    claimed = (stripe_subscription.get("metadata") or {}).get(META_SUBSCRIPTION)
    if not claimed or not str(claimed).isdigit():
        return f"subscription {stripe_subscription.id} is not ours: nothing to do"
    if stripe_subscription.get("status") in ("canceled", "incomplete_expired"):
        return f"subscription {stripe_subscription.id} of an abandoned subscribe, already canceled"
    if Subscription.objects.filter(pk=claimed).exists():
        # Our subscription exists but is linked to another Stripe subscription: this one is a leftover.
        return f"subscription {stripe_subscription.id} is a leftover (ours {claimed} is linked elsewhere)"
    raise StripeRecordNotReady(f"subscription {stripe_subscription.id} names our subscription {claimed}, not found yet")


# --- invoices -------------------------------------------------------------------------------------------------------


def invoice_stripe_create(*, invoice: Invoice) -> Invoice:
    """The Stripe copy of one of our issued invoices, to pay on Stripe's hosted page: a `send_invoice` invoice with
    our lines and VAT as items, finalized; its id and hosted URL are stored on ours. Idempotent (same keys again)."""
    fresh = Invoice.objects.select_related("customer").get(pk=invoice.pk)
    if fresh.stripe_invoice_id or fresh.status not in INVOICE_PAYABLE_STATUSES:
        return fresh
    stripe_customer = customer_stripe_ensure(customer=fresh.customer)
    currency = fresh.currency.lower()
    with stripe_errors(action=f"create the Stripe invoice of {fresh}"):
        draft = stripe.Invoice.create(
            customer=stripe_customer.id,
            currency=currency,
            collection_method="send_invoice",
            days_until_due=max(fresh.days_until_due, 1),
            auto_advance=False,
            pending_invoice_items_behavior="exclude",
            description=f"{fresh.number} {fresh.description}".strip()[:500],
            metadata={META_INVOICE: str(fresh.pk), "billing_invoice_number": fresh.number or ""},
            **_options(idempotency_key=stripe_idempotency_key("invoice", fresh.pk, "create")),
        )
        items = [
            (f"line-{line.pk}", line.amount, line.description)
            for line in fresh.lines.order_by("position", "id")
            if line.amount
        ]
        if fresh.tax:
            items.append(("vat", fresh.tax, VAT_LINE_TEXT.get(fresh.language, VAT_LINE_TEXT[Language.KOREAN])))
        for name, amount, description in items:
            stripe.InvoiceItem.create(
                customer=stripe_customer.id,
                invoice=draft.id,
                amount=stripe_amount(amount=amount, currency=fresh.currency),
                currency=currency,
                description=description[:500],
                metadata={META_INVOICE: str(fresh.pk)},
                **_options(idempotency_key=stripe_idempotency_key("invoice", fresh.pk, name)),
            )
        finalized = stripe.Invoice.finalize_invoice(
            draft.id,
            auto_advance=False,
            **_options(idempotency_key=stripe_idempotency_key("invoice", fresh.pk, "finalize")),
        )
    if finalized.get("total") != fresh.total:
        logger.error(
            "Stripe invoice %s totals %s, ours %s totals %s", finalized.id, finalized.get("total"), fresh, fresh.total
        )
        _stripe_cleanup(invoice_id=finalized.id)
        raise ApplicationError(
            "stripe_amount_mismatch", f"Stripe's copy of {fresh} has another total.", status_code=502
        )
    Invoice.objects.filter(pk=fresh.pk, stripe_invoice_id="").update(
        stripe_invoice_id=finalized.id, stripe_hosted_invoice_url=finalized.get("hosted_invoice_url") or ""
    )
    fresh.refresh_from_db()
    return fresh


def invoice_stripe_create_after_commit(*, invoice_id: int) -> None:
    """on_commit hook of POST /api/payment/invoice: a Stripe failure leaves our invoice without `stripe_url`, and
    `manage.py billing_sync_stripe --invoice <number>` creates the Stripe copy later."""
    try:
        invoice_stripe_create(invoice=Invoice.objects.get(pk=invoice_id))
    except ApplicationError as error:
        logger.warning("Invoice %s has no Stripe copy yet: %s", invoice_id, error.message)


def invoice_stripe_schedule(*, invoice: Invoice) -> None:
    """Create the Stripe copy of `invoice` once the transaction that issued it commits (at once outside one)."""
    if stripe_enabled():
        transaction.on_commit(partial(invoice_stripe_create_after_commit, invoice_id=invoice.pk), robust=True)


def invoice_stripe_apply(*, stripe_invoice: Any) -> str:
    """Make our invoice follow the Stripe invoice as it is now (caller's transaction; customer, then invoice locked).

    paid -> the card payment is recorded (once per payment intent) and the subscription refreshed; void and
    uncollectible follow when ours can still change; open stores the hosted URL. A Stripe renewal invoice of a
    subscription of ours gets our renewal invoice (renewing it if our run did not yet) and is linked to it.
    """
    from .invoices import invoice_lock, invoice_mark_uncollectible, invoice_void

    local = Invoice.objects.filter(stripe_invoice_id=stripe_invoice.id).first()
    if local is None:
        local = _renewal_invoice_link(stripe_invoice)
        if local is None:
            return f"invoice {stripe_invoice.id} is not ours: nothing to do"
    Customer.objects.select_for_update().get(pk=local.customer_id)
    locked = invoice_lock(invoice_id=local.pk)
    status = stripe_invoice.get("status")
    if status == "paid":
        amount = int(stripe_invoice.get("amount_paid") or 0)
        if locked.status == InvoiceStatus.PAID or amount == 0:
            return f"invoice {locked}: already paid"
        reference = _payment_intent_id(stripe_invoice) or stripe_invoice.id
        return _card_payment_record(locked, amount=amount, reference=reference)
    if status == "void":
        if locked.status in INVOICE_PAYABLE_STATUSES and locked.amount_paid == 0:
            invoice_void(invoice=locked, actor=None)
            return f"invoice {locked} voided"
        return f"invoice {locked} is {locked.status}: Stripe's void not applied"
    if status == "uncollectible":
        if locked.status == InvoiceStatus.OPEN:
            invoice_mark_uncollectible(invoice=locked, actor=None)
            return f"invoice {locked} marked uncollectible"
        return f"invoice {locked}: already {locked.status}"
    if status == "open" and locked.status in (InvoiceStatus.PAID, InvoiceStatus.VOID):
        # Ours was settled another way (bank transfer, void): Stripe must not collect it too.
        with stripe_errors(action=f"void the Stripe copy of {locked}"):
            stripe.Invoice.void_invoice(stripe_invoice.id, **_options())
        return f"invoice {locked} is {locked.status}: Stripe's copy voided"
    hosted = stripe_invoice.get("hosted_invoice_url") or ""
    if hosted and locked.stripe_hosted_invoice_url != hosted:
        Invoice.objects.filter(pk=locked.pk).update(stripe_hosted_invoice_url=hosted)
        return f"invoice {locked}: hosted invoice page stored"
    return f"invoice {locked}: {locked.status}, Stripe {status}"


def _renewal_invoice_link(stripe_invoice: Any) -> Invoice | None:
    """Our invoice for the period a Stripe subscription invoice bills (issued now if our renewal has not run)."""
    from billing.models.subscriptions import SubscriptionInvoice

    from .subscriptions import subscription_renew

    stripe_subscription_id = stripe_invoice.get("subscription") or (
        ((stripe_invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )
    if not stripe_subscription_id:
        return None
    subscription = Subscription.objects.filter(stripe_subscription_id=stripe_subscription_id).first()
    if subscription is None:
        return None
    lines = (stripe_invoice.get("lines") or {}).get("data") or []
    starts = [(line.get("period") or {}).get("start") for line in lines if line.get("type") == "subscription"]
    period_start = _stripe_timestamp_date(starts[0] if starts else stripe_invoice.get("period_start"))
    if period_start is None:
        return None
    link = SubscriptionInvoice.objects.filter(subscription=subscription, period_start=period_start).first()
    if link is None and period_start >= subscription.current_period_end:
        subscription_renew(subscription=subscription, as_of=period_start)
        link = SubscriptionInvoice.objects.filter(subscription=subscription, period_start=period_start).first()
    if link is None:
        return None
    Invoice.objects.filter(pk=link.invoice_id, stripe_invoice_id="").update(
        stripe_invoice_id=stripe_invoice.id, stripe_hosted_invoice_url=stripe_invoice.get("hosted_invoice_url") or ""
    )
    return Invoice.objects.get(pk=link.invoice_id)


# --- card payments of invoices (checkout) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CardPayment:
    """How a client pays an invoice by card: confirm this PaymentIntent with Stripe.js and the publishable key."""

    payment_intent_id: str
    client_secret: str
    amount: int
    currency: str
    status: str
    publishable_key: str


def invoice_payment_intent_create(*, invoice: Invoice) -> CardPayment:
    """A PaymentIntent for what the invoice still asks, tied to it by metadata; the same again for a retry."""
    stripe_customer = customer_stripe_ensure(customer=invoice.customer)
    amount = stripe_amount(amount=invoice.amount_remaining, currency=invoice.currency)
    params = {
        "amount": amount,
        "currency": invoice.currency.lower(),
        "customer": stripe_customer.id,
        "payment_method_types": ["card"],
        "metadata": {META_INVOICE: str(invoice.pk), "billing_invoice_number": invoice.number or ""},
    }
    with stripe_errors(action="start the card payment"):
        intent = stripe.PaymentIntent.create(
            **params,
            **_options(idempotency_key=stripe_idempotency_key("invoice", invoice.pk, "payment-intent", params)),
        )
    return CardPayment(
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        amount=amount,
        currency=invoice.currency,
        status=intent.get("status") or "",
        publishable_key=getattr(settings, "STRIPE_PUBLISHABLE_KEY", ""),
    )


def payment_intent_apply(*, payment_intent: Any) -> str:
    """A checkout PaymentIntent as it is now: succeeded -> the card payment on our invoice; failed -> a failed
    payment in the history. PaymentIntents without our invoice in their metadata (Stripe's own for subscription
    invoices) are left to the invoice events."""
    invoice_id = (payment_intent.get("metadata") or {}).get(META_INVOICE)
    invoice = Invoice.objects.filter(pk=invoice_id).first() if invoice_id and invoice_id.isdigit() else None
    if invoice is None:
        return f"payment intent {payment_intent.id} pays no invoice of ours: nothing to do"
    Customer.objects.select_for_update().get(pk=invoice.customer_id)
    from .invoices import invoice_lock

    locked = invoice_lock(invoice_id=invoice.pk)
    status = payment_intent.get("status")
    if status == "succeeded":
        amount = int(payment_intent.get("amount_received") or payment_intent.get("amount") or 0)
        return _card_payment_record(locked, amount=amount, reference=payment_intent.id)
    error = payment_intent.get("last_payment_error") or {}
    if status in ("requires_payment_method", "canceled") and error:
        charge = payment_intent.get("latest_charge")
        reference = (charge if isinstance(charge, str) else (charge or {}).get("id")) or ""
        if not reference or Payment.objects.filter(method=PaymentMethod.CARD, provider_reference=reference).exists():
            return f"payment intent {payment_intent.id}: failure already recorded"
        Payment.objects.create(
            invoice=locked,
            customer_id=locked.customer_id,
            amount=int(payment_intent.get("amount") or 0),
            currency=locked.currency,
            method=PaymentMethod.CARD,
            status=PaymentStatus.FAILED,
            provider_reference=reference,
            failed_at=timezone.now(),
            failure_reason=(error.get("message") or error.get("code") or "declined")[:500],
        )
        return f"invoice {locked}: card payment failed ({error.get('code') or 'declined'})"
    return f"payment intent {payment_intent.id} is {status}: nothing to do"


def charge_refund_apply(*, charge: Any) -> str:
    """A refunded charge: the card payment it belongs to becomes refunded (in full) or says what was returned.

    Our invoice stays paid: an issued invoice never changes; a refund of an issued invoice needs a credit document.
    """
    intent = charge.get("payment_intent")
    intent_id = intent if isinstance(intent, str) else (intent or {}).get("id", "")
    references = [
        reference for reference in (intent_id, charge.get("invoice")) if isinstance(reference, str) and reference
    ]
    payment = Payment.objects.filter(
        method=PaymentMethod.CARD, provider_reference__in=references, status=PaymentStatus.SUCCEEDED
    ).first()
    if payment is None:
        return f"charge {charge.id} refunds no payment of ours: nothing to do"
    Customer.objects.select_for_update().get(pk=payment.customer_id)
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    refunded = int(charge.get("amount_refunded") or 0)
    if charge.get("refunded") or refunded >= locked.amount:
        locked.status = PaymentStatus.REFUNDED
        locked.refunded_at = timezone.now()
        locked.note = f"Refunded in Stripe ({refunded} {locked.currency})."[:500]
        locked.save(update_fields=["status", "refunded_at", "note", "updated_at"])
        return f"payment {locked.pk} refunded ({refunded} {locked.currency})"
    locked.note = f"Partially refunded in Stripe: {refunded} {locked.currency}."[:500]
    locked.save(update_fields=["note", "updated_at"])
    return f"payment {locked.pk}: {refunded} of {locked.amount} refunded"


# --- resync ---------------------------------------------------------------------------------------------------------


@dataclass
class ResyncReport:
    """What `stripe_resync` pulled and what it changed on our side."""

    pulled: dict[str, int] = field(default_factory=dict)
    changes: list[StripeChange] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _pull(report: ResyncReport, name: str, model: Any, listing: Any) -> list[Any]:
    """Every object of a Stripe list, each mirrored into dj-stripe's model; returns the Stripe objects."""
    api_key = djstripe_settings.STRIPE_SECRET_KEY
    objects = []
    for data in listing.auto_paging_iter():
        try:
            model.sync_from_stripe_data(data, api_key=api_key)
        except Exception as error:  # a mirror that fails must not stop the reconciliation of the rest
            logger.warning("dj-stripe could not mirror %s %s: %s", name, data.get("id"), error)
            report.failures.append(f"mirror {name} {data.get('id')}: {error}")
        objects.append(data)
    report.pulled[name] = len(objects)
    return objects


def stripe_resync(
    *, on_step: Callable[[str, int], None] | None = None, on_progress: Callable[[], None] | None = None
) -> ResyncReport:
    """The repair for missed webhooks: sync the plans to Stripe, pull products, prices, customers, subscriptions and
    invoices back through dj-stripe, and make our subscriptions and invoices follow them; subscriptions that a failed
    subscribe left in Stripe (their `billing_subscription_id` names no row of ours) are canceled. Each object is
    reconciled in its own transaction, so one failure does not undo the rest. Reports what changed."""
    report = ResyncReport()
    with stripe_errors(action="resync with Stripe"):
        plans = list(SubscriptionPlan.objects.order_by("display_order", "id"))
        if on_step:
            on_step("plans", len(plans))
        for plan in plans:
            try:
                report.changes += plan_stripe_sync(plan=plan)
            except ApplicationError as error:
                report.failures.append(f"plan {plan.slug}: {error.message}")
            if on_progress:
                on_progress()
        options = _options()
        _pull(report, "products", djstripe_models.Product, stripe.Product.list(limit=100, **options))
        _pull(report, "prices", djstripe_models.Price, stripe.Price.list(limit=100, **options))
        _pull(report, "customers", djstripe_models.Customer, stripe.Customer.list(limit=100, **options))
        subscriptions = _pull(
            report,
            "subscriptions",
            djstripe_models.Subscription,
            stripe.Subscription.list(status="all", limit=100, **options),
        )
        invoices = _pull(report, "invoices", djstripe_models.Invoice, stripe.Invoice.list(limit=100, **options))
    if on_step:
        on_step("reconcile", len(subscriptions) + len(invoices))
    for kind, items, apply in (
        ("subscription", subscriptions, _resync_subscription),
        ("invoice", invoices, _resync_invoice),
    ):
        for data in items:
            try:
                with transaction.atomic():
                    result = apply(data)
                if result:
                    report.changes.append(StripeChange(kind, result, data.id))
            except (ApplicationError, StripeRecordNotReady, stripe.StripeError) as error:
                report.failures.append(f"{kind} {data.id}: {getattr(error, 'message', error)}")
            if on_progress:
                on_progress()
    return report


def _resync_subscription(data: Any) -> str:
    local = Subscription.objects.filter(stripe_subscription_id=data.id).first()
    if local is None:
        claimed = (data.get("metadata") or {}).get(META_SUBSCRIPTION)
        settled = (timezone.now() - timedelta(minutes=ABANDONED_AFTER_MINUTES)).timestamp()
        if (
            claimed
            and data.get("status") not in ("canceled", "incomplete_expired")
            and data.get("created", 0) < settled
        ):
            # Ours never recorded it (a subscribe rolled back after creating it, and the clean-up failed too).
            # Young ones are left alone: their subscribe may still be committing.
            stripe.Subscription.cancel(data.id, **_options())
            return f"canceled in Stripe: left by a failed subscribe (ours {claimed} does not use it)"
        return ""
    before = (local.status, local.cancel_at_period_end, local.current_period_end)
    subscription_stripe_apply(stripe_subscription=data)
    local.refresh_from_db()
    after = (local.status, local.cancel_at_period_end, local.current_period_end)
    return (
        ""
        if before == after
        else f"ours {local.pk}: {before[0]} -> {after[0]}"
        + (", cancels at period end" if after[1] and not before[1] else "")
    )


def _resync_invoice(data: Any) -> str:
    local = Invoice.objects.filter(stripe_invoice_id=data.id).first()
    if local is None and not (data.get("subscription") or data.get("parent")):
        return ""
    before = (local.status, local.amount_paid, local.stripe_hosted_invoice_url) if local else None
    invoice_stripe_apply(stripe_invoice=data)
    local = local or Invoice.objects.filter(stripe_invoice_id=data.id).first()
    if local is None:
        return ""
    local.refresh_from_db()
    after = (local.status, local.amount_paid, local.stripe_hosted_invoice_url)
    if before == after:
        return ""
    return f"ours {local}: {before[0] if before else 'unlinked'} -> {after[0]}"
