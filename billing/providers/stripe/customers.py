"""Our customers in Stripe (linked through dj-stripe's Customer.subscriber) and their cards."""

from typing import Any

import stripe
from django.conf import settings
from djstripe import models as djstripe_models
from djstripe.settings import djstripe_settings

from billing.models import Customer
from billing_site.errors import ApplicationError

from .client import META_CUSTOMER, stripe_errors, stripe_idempotency_key, stripe_options


def _livemode() -> bool:
    return bool(getattr(settings, "STRIPE_LIVE_MODE", False))


def _customers_by_email(email: str) -> list[Any]:
    listing: Any = stripe.Customer.list(email=email, limit=100, **stripe_options())
    return list(listing.data)


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

    No row of ours is locked while Stripe answers. Two first needs at once send the same idempotency key (the
    customer and its details) and so get one Stripe Customer; a Stripe Customer an earlier attempt created but
    could not record is found again by its metadata and adopted. Should two still be linked (details changed in
    between), the oldest link is the one used, every time.
    """
    current = Customer.objects.get(pk=customer.pk)
    linked = customer_stripe_get(customer=current)
    if linked is not None:
        return linked
    metadata = {META_CUSTOMER: str(current.pk), djstripe_settings.SUBSCRIBER_CUSTOMER_KEY: str(current.user_id)}
    with stripe_errors(action="create the Stripe customer"):
        found: Any = None
        if current.email:
            found = next(
                (
                    candidate
                    for candidate in _customers_by_email(current.email)
                    if (candidate.get("metadata") or {}).get(META_CUSTOMER) == str(current.pk)
                ),
                None,
            )
        if found is None:
            params: dict[str, Any] = {
                "name": current.display_name,
                "email": current.email or None,
                "preferred_locales": [current.preferred_language],
                "metadata": metadata,
            }
            key = stripe_idempotency_key("customer", current.pk, "create", params)
            found = stripe.Customer.create(**params, **stripe_options(idempotency_key=key))
        synced = djstripe_models.Customer.sync_from_stripe_data(found, api_key=djstripe_settings.STRIPE_SECRET_KEY)
    if synced.subscriber_id != current.user_id:
        synced.subscriber_id = current.user_id
        synced.save(update_fields=["subscriber"])
    return customer_stripe_get(customer=current) or synced


def payment_method_attach(*, customer: Customer, stripe_customer_id: str, payment_method_id: str) -> str:
    """Attach a card (a PaymentMethod the client created with Stripe.js) and make it the customer's default."""
    with stripe_errors(action="attach the payment method"):
        try:
            payment_method: Any = stripe.PaymentMethod.retrieve(payment_method_id, **stripe_options())
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
            stripe.PaymentMethod.attach(
                payment_method_id, customer=stripe_customer_id, **stripe_options(idempotency_key=key)
            )
        stripe.Customer.modify(
            stripe_customer_id, invoice_settings={"default_payment_method": payment_method_id}, **stripe_options()
        )
    return payment_method_id


def default_payment_method(stripe_customer_id: str) -> str | None:
    """The card a customer's subscriptions and invoices are charged to, if any."""
    stripe_customer: Any = stripe.Customer.retrieve(stripe_customer_id, **stripe_options())
    method = (stripe_customer.get("invoice_settings") or {}).get("default_payment_method")
    return str(method) if method else None
