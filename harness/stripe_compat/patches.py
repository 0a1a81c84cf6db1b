"""What is patched inside localstripe: where its state is kept, events in the Stripe dialect, standalone invoices."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from pathlib import Path

import localstripe.errors
import localstripe.resources
import localstripe.server

from .dialect import JSON, to_stripe_dialect


def keep_state_in(state_dir: Path) -> None:
    """Make localstripe pickle its store into `state_dir` instead of the shared /tmp/localstripe.pickle."""
    state_file = state_dir / "localstripe.pickle"

    def try_load_from_disk(store: localstripe.resources.Store) -> None:
        if state_file.exists():
            with state_file.open("rb") as source:
                saved = pickle.load(source)  # noqa: S301 (this very process wrote it)
            store.clear()
            store.update(saved)

    def dump_to_disk(store: localstripe.resources.Store) -> None:
        partial = state_file.with_suffix(".partial")
        with partial.open("wb") as target:
            pickle.dump(dict(store), target, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(state_file)

    localstripe.resources.Store.try_load_from_disk = try_load_from_disk
    localstripe.resources.Store.dump_to_disk = dump_to_disk


def webhook_payloads_in_stripe_dialect() -> None:
    """Events (webhook payloads and `/v1/events`) carry objects in the same dialect as API answers."""
    export = localstripe.resources.Event._export

    def export_in_stripe_dialect(event: localstripe.resources.Event, expand: list[str] | None = None) -> JSON:
        return to_stripe_dialect(export(event, expand=expand))

    localstripe.resources.Event._export = export_in_stripe_dialect


def booleans_parsed_on_update() -> None:
    """`active=false` on update stores False, not the string "false" (localstripe's generic update keeps strings)."""
    update = localstripe.resources.StripeObject._update

    def update_with_booleans(obj: localstripe.resources.StripeObject, **data: JSON) -> None:
        for key, value in data.items():
            if isinstance(getattr(obj, key, None), bool) and value in ("true", "false"):
                data[key] = value == "true"
        update(obj, **data)

    localstripe.resources.StripeObject._update = update_with_booleans


def invoices_as_stripe_has_them(hosted_base: str) -> None:
    """Invoices the way the product uses them, which localstripe only knows as part of a subscription.

    - `POST /v1/invoices` without `subscription` makes a standalone draft (localstripe answers 404, or bills the
      customer's subscription): `currency`, `collection_method`, `days_until_due`, `auto_advance` are kept, and
      pending invoice items join only with `pending_invoice_items_behavior=include` (Stripe's default is exclude);
    - `POST /v1/invoiceitems` with `invoice` adds a line to that draft (localstripe records the id, adds no line);
    - `POST /v1/invoices/<id>/finalize` (missing) opens a draft: `due_date` from `days_until_due`, and
      `hosted_invoice_url`/`invoice_pdf` pointing at this layer, which Stripe gives every finalized invoice.
    Subscription invoices keep localstripe's behaviour.
    """
    resources = localstripe.resources
    Invoice, InvoiceItem, InvoiceLineItem = resources.Invoice, resources.InvoiceItem, resources.InvoiceLineItem
    UserError = localstripe.errors.UserError
    create_for_subscription = Invoice._api_create.__func__

    def create(
        cls: type,
        customer: str | None = None,
        subscription: str | None = None,
        currency: str | None = None,
        collection_method: str | None = None,
        days_until_due: str | None = None,
        auto_advance: str | None = None,
        pending_invoice_items_behavior: str | None = None,
        **data: JSON,
    ) -> JSON:
        if subscription is not None:
            return create_for_subscription(
                cls, customer=customer, subscription=subscription,
                pending_invoice_items_behavior=pending_invoice_items_behavior, **data,
            )  # fmt: skip
        days = resources.try_convert_to_int(days_until_due)
        if collection_method not in (None, "charge_automatically", "send_invoice"):
            raise UserError(400, f"Invalid collection_method: {collection_method}")
        if collection_method == "send_invoice" and not (isinstance(days, int) and days >= 0):
            raise UserError(400, "Missing required param: days_until_due.")
        if pending_invoice_items_behavior not in (None, "include", "exclude"):
            raise UserError(400, f"Invalid pending_invoice_items_behavior: {pending_invoice_items_behavior}")
        if not isinstance(customer, str):
            raise UserError(400, "Missing required param: customer.")
        resources.Customer._api_retrieve(customer)
        include_pending = pending_invoice_items_behavior == "include"
        hidden = []
        if not include_pending:  # Invoice() takes every pending item of the customer: hide them for a moment
            hidden = list(InvoiceItem._api_list_all(None, customer=customer, limit=99)._list)
            for item in hidden:
                item.invoice = "in_hidden"
        try:
            invoice = Invoice(customer=customer, **data)
        finally:
            for item in hidden:
                item.invoice = None
        invoice.currency = (currency or invoice.currency).lower()
        invoice.collection_method = collection_method or "charge_automatically"
        invoice.days_until_due = days
        invoice.auto_advance = auto_advance != "false"
        invoice.due_date = None
        return invoice

    Invoice._api_create = classmethod(create)

    item_init = InvoiceItem.__init__

    def init_item(item: JSON, invoice: str | None = None, **data: JSON) -> None:
        target = Invoice._api_retrieve(invoice) if isinstance(invoice, str) else None
        if target is not None and target.status != "draft":
            raise UserError(400, f"Invoice {invoice} is finalized; items can only be added to a draft.")
        item_init(item, invoice=invoice, **data)
        if target is not None:
            if not target.lines._list:
                target.currency = item.currency
            target.lines._list.append(InvoiceLineItem(item))

    InvoiceItem.__init__ = init_item

    def finalize(id: str, auto_advance: str | None = None, **kwargs: JSON) -> JSON:
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        invoice = Invoice._api_retrieve(id)
        if invoice.status != "draft":
            raise UserError(400, "This invoice is already finalized, you can't re-finalize a non-draft invoice.")
        invoice._finalize()
        return invoice

    finalize_original = Invoice._finalize

    def finalize_and_date(invoice: JSON) -> None:
        finalize_original(invoice)
        days = getattr(invoice, "days_until_due", None)
        if getattr(invoice, "collection_method", None) == "send_invoice" and days is not None:
            invoice.due_date = invoice.status_transitions["finalized_at"] + days * 86400

    Invoice._finalize = finalize_and_date

    def hosted_invoice_url(invoice: JSON) -> str | None:
        return None if invoice.status == "draft" else f"{hosted_base}/_compat/hosted_invoices/{invoice.id}"

    def invoice_pdf(invoice: JSON) -> str | None:
        return None if invoice.status == "draft" else f"{hosted_base}/_compat/hosted_invoices/{invoice.id}?pdf=1"

    Invoice.hosted_invoice_url = property(hosted_invoice_url)
    Invoice.invoice_pdf = property(invoice_pdf)
    url = "/v1/invoices/{id}/finalize"
    localstripe.server.app.router.add_route("POST", url, localstripe.server.api_extra(finalize, url))


def invoice_attempts_counted() -> None:
    """`attempt_count` and `attempted` as Stripe keeps them: 0 and false until a payment is tried, then one more per
    try. localstripe sets 1 and true on every new invoice, which would read as a declined payment of an invoice
    nobody tried to pay (the product mails a "payment failed" per attempt). Every card try of an invoice, by
    `POST /v1/invoices/{id}/pay` or a subscription's collection, confirms a PaymentIntent that names the invoice."""
    resources = localstripe.resources
    Invoice, PaymentIntent = resources.Invoice, resources.PaymentIntent
    init_original = Invoice.__init__

    def init(invoice: JSON, *args: JSON, **kwargs: JSON) -> None:
        init_original(invoice, *args, **kwargs)
        invoice.attempt_count = 0
        invoice.attempted = False

    Invoice.__init__ = init
    confirm_original = PaymentIntent._confirm

    def confirm(intent: JSON, *args: JSON, **kwargs: JSON) -> JSON:
        if getattr(intent, "invoice", None):
            invoice = Invoice._api_retrieve(intent.invoice)
            invoice.attempt_count = (getattr(invoice, "attempt_count", 0) or 0) + 1
            invoice.attempted = True
        return confirm_original(intent, *args, **kwargs)

    PaymentIntent._confirm = confirm


def invoice_void(invoice_id: str) -> JSON:
    """Void an open invoice and send `invoice.voided`; localstripe's own void fails without a payment intent
    (every `send_invoice` invoice) and its route is bound before any patch, so the compat layer routes here."""
    resources = localstripe.resources
    invoice = resources.Invoice._api_retrieve(invoice_id)
    if invoice.payment_intent is not None or invoice.status != "open":
        invoice = resources.Invoice._api_void_invoice(invoice_id)
    else:
        invoice._draft = False
        invoice._voided = True
        invoice.status_transitions["voided_at"] = int(time.time())
        if invoice.subscription:
            resources.Subscription._api_retrieve(invoice.subscription)._on_initial_payment_voided(invoice)
    resources.schedule_webhook(resources.Event("invoice.voided", invoice))
    return invoice


def events_stripe_also_sends() -> None:
    """Events Stripe sends and localstripe does not: invoice.finalized/paid/voided, customer.subscription.updated
    (on an update call and when a payment changes the status) and charge.refunded."""
    resources = localstripe.resources

    def send(kind: str, obj: JSON) -> None:
        resources.schedule_webhook(resources.Event(kind, obj))

    def after(cls: type, name: str, kind: str, target: Callable[..., JSON] = lambda obj, *args: obj) -> None:
        original = getattr(cls, name)

        def wrapper(obj: JSON, *args: JSON, **kwargs: JSON) -> JSON:
            result = original(obj, *args, **kwargs)
            send(kind, target(obj, *args))
            return result

        setattr(cls, name, wrapper)

    Invoice, Subscription = resources.Invoice, resources.Subscription
    after(Invoice, "_finalize", "invoice.finalized")
    after(Invoice, "_on_payment_success", "invoice.paid")
    for name in ("_on_initial_payment_success", "_on_recurring_payment_failure", "_on_initial_payment_voided"):
        after(Subscription, name, "customer.subscription.updated")

    update = Subscription._api_update.__func__

    def update_and_tell(cls: type, id: str, **data: JSON) -> JSON:
        subscription = update(cls, id, **data)
        send("customer.subscription.updated", subscription)
        return subscription

    Subscription._api_update = classmethod(update_and_tell)
    refund_init = resources.Refund.__init__

    def refund_and_tell(refund: JSON, *args: JSON, **kwargs: JSON) -> None:
        refund_init(refund, *args, **kwargs)
        send("charge.refunded", resources.Charge._api_retrieve(refund.charge))

    resources.Refund.__init__ = refund_and_tell


def subscription_updates_as_stripe_has_them() -> None:
    """Subscription updates the way the product sends them (issue 14), which localstripe refuses with a 500:
    - `proration_behavior=none`: accepted, and the "Unused time" credit localstripe adds on every item change
      is taken back (Stripe adds no proration item with `none`); `create_prorations` keeps localstripe's;
    - `pause_collection` ({"behavior": ...} or "" to clear it): stored and answered as Stripe does (no effect on
      collection here: localstripe has no clock, so no renewal is ever made to void).
    """
    resources = localstripe.resources
    Subscription, InvoiceItem = resources.Subscription, resources.InvoiceItem
    update = Subscription._api_update.__func__

    def update_as_stripe(cls: type, id: str, **data: JSON) -> JSON:
        proration = data.pop("proration_behavior", None)
        pause = data.pop("pause_collection", None)
        if proration not in (None, "none", "create_prorations", "always_invoice"):
            raise localstripe.errors.UserError(400, "Bad request")
        known = set(resources.store.keys())
        subscription = Subscription._api_retrieve(id)
        if pause is not None:
            subscription.pause_collection = pause or None
        subscription = update(cls, id, **data)  # also with nothing else to change: Stripe tells the update
        if proration == "none":
            for key in [key for key in resources.store if key not in known]:
                made = resources.store[key]
                if isinstance(made, InvoiceItem) and made.proration and made.subscription == id and not made.invoice:
                    del resources.store[key]
        return subscription

    Subscription._api_update = classmethod(update_as_stripe)


def invoice_pay(invoice_id: str, payment_method: str | None = None) -> JSON:
    """`POST /v1/invoices/{id}/pay` with `payment_method` (localstripe's route takes no parameter and answers 500):
    localstripe charges the customer's default card, so only that card is accepted here (400 otherwise)."""
    resources = localstripe.resources
    invoice = resources.Invoice._api_retrieve(invoice_id)
    if payment_method is not None:
        default = resources.Customer._api_retrieve(invoice.customer)._get_default_payment_method_or_source()
        if default is None or default.id != payment_method:
            raise localstripe.errors.UserError(400, "The harness pays with the customer's default card only")
    return resources.Invoice._api_pay_invoice(invoice_id)
