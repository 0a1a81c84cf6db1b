"""Invoice writes: drafts, finalization with a gapless number, and every status change (lock, re-check, change).

The allowed status changes are billing.enums.INVOICE_TRANSITIONS; each service here locks the invoice row,
re-checks its status against that table and only then changes it. An issued invoice's money, lines, buyer
and number never change: corrections are credit notes (billing.services.credit_notes), or a void of an
invoice nothing was paid or credited on, plus a new invoice. Line checks and totals: billing.services.invoice_lines.
"""

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.enums import (
    BalanceEntryKind,
    InvoiceLineKind,
    InvoicePdfStatus,
    InvoiceStatus,
    JobKind,
    OrderStatus,
    TaxTreatment,
    invoice_transition_allowed,
)
from billing.models import Customer, Invoice, Order
from billing.money import amount_validate, currency_normalize
from billing.providers import payment_provider
from billing.tax import tax_basis_text, vat_on, vat_rate_for
from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue
from billing_site.permissions import permission_require

from .balance import balance_entry_write
from .customers import customer_currency_choose
from .invoice_emails import invoice_issued_email_queue
from .invoice_lines import (
    InvoiceLineInput,
    days_until_due_validate,
    lines_validate,
    lines_write,
    totals_compute,
)
from .numbering import billing_today, invoice_number_allocate
from .orders import customer_prices_allowed, order_lock, order_status_change

logger = logging.getLogger(__name__)


def invoice_lock(*, invoice_id: int) -> Invoice:
    """The invoice row, locked until the surrounding transaction ends."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_lock must run inside a transaction.")
    try:
        return Invoice.objects.select_for_update().get(pk=invoice_id)
    except Invoice.DoesNotExist as error:
        raise ApplicationError("not_found", "Not found.", status_code=404) from error


def _transition_check(invoice: Invoice, target: str) -> None:
    if not invoice_transition_allowed(invoice.status, target):
        raise ApplicationError(
            "invalid_invoice_transition",
            f"Invoice {invoice} is {invoice.status}; it cannot become {target}.",
            status_code=409,
        )


@transaction.atomic
def invoice_draft_create(
    *,
    customer: Customer,
    lines: Sequence[InvoiceLineInput],
    currency: str | None = None,
    tax: int | None = None,
    order: Order | None = None,
    days_until_due: int | None = None,
    description: str = "",
    now: datetime | None = None,
) -> Invoice:
    """A draft with its lines and totals; VAT is that of the customer's tax treatment at the rate of the Seoul day
    of `now` (default today; billing.tax), truncated, and a `tax` given must equal it (400 `tax_mismatch`). The
    draft keeps the treatment, rate and basis it was priced with (invoice_finalize takes its issue day's rate).

    A `balance` line takes its amount from the customer's credit balance (a ledger entry naming this invoice):
    `customer` must then be the locked instance the caller keeps using.
    """
    checked = lines_validate(lines)
    code = currency_normalize(currency)
    if order is not None and (order.customer_id != customer.pk or order.currency != code):
        raise ApplicationError("order_mismatch", "The order belongs to another customer or currency.")
    invoice = Invoice.objects.create(
        customer=customer,
        order=order,
        currency=code,
        description=description.strip()[:500],
        days_until_due=days_until_due_validate(days_until_due),
        **_tax_snapshot(customer, day=billing_today(now=now)),
    )
    amounts = lines_write(invoice, checked)
    invoice.subtotal, invoice.tax, invoice.total = totals_compute(
        amounts, tax=tax, tax_treatment=invoice.tax_treatment, rate_basis_points=invoice.vat_rate_basis_points
    )
    invoice.amount_paid, invoice.amount_remaining = 0, invoice.total
    invoice.save(update_fields=["subtotal", "tax", "total", "amount_paid", "amount_remaining", "updated_at"])
    balance_used = -sum(line.quantity * line.unit_amount for line in checked if line.kind == InvoiceLineKind.BALANCE)
    if balance_used:
        balance_entry_write(
            customer=customer,
            amount=-balance_used,
            kind=BalanceEntryKind.APPLIED_TO_INVOICE,
            currency=code,
            invoice=invoice,
        )
    return invoice


def _tax_snapshot(customer: Customer, *, day: date) -> dict[str, Any]:
    """The VAT a draft is priced with: the customer's treatment now, its rate on `day`, the basis it would print."""
    return {
        "tax_treatment": customer.tax_treatment,
        "vat_rate_basis_points": vat_rate_for(tax_treatment=customer.tax_treatment, day=day),
        "tax_basis": tax_basis_text(
            treatment=customer.tax_treatment, basis=customer.tax_basis, language=customer.preferred_language
        ),
    }


def _issue_day_rate_apply(locked: Invoice, *, day: date) -> None:
    """A draft priced at another rate than its issue day's (a scheduled change came in between) takes that day's
    rate: its supply amount stays, its VAT and total follow. An order's invoice must keep its order's VAT, so the
    order must be priced again (409 `order_tax_outdated`)."""
    rate = vat_rate_for(tax_treatment=locked.tax_treatment, day=day)
    if rate == locked.vat_rate_basis_points:
        return
    if locked.order_id is not None:
        raise ApplicationError(
            "order_tax_outdated",
            f"The VAT rate changed since order {locked.order_id} was priced; cancel it and order again.",
            status_code=409,
        )
    locked.vat_rate_basis_points = rate
    locked.subtotal, locked.tax, locked.total = totals_compute(
        [locked.subtotal], tax=None, tax_treatment=locked.tax_treatment, rate_basis_points=rate
    )
    locked.amount_remaining = locked.total - locked.amount_paid


@transaction.atomic
def invoice_draft_lines_replace(
    *, invoice: Invoice, lines: Sequence[InvoiceLineInput], tax: int | None = None
) -> Invoice:
    """Replace a draft's lines and recompute its totals, with the customer's treatment and today's rate; an issued
    invoice is refused."""
    locked = invoice_lock(invoice_id=invoice.pk)
    if locked.status != InvoiceStatus.DRAFT:
        raise ApplicationError(
            "invoice_not_editable", f"Invoice {locked} is issued; void it and issue a new one.", status_code=409
        )
    checked = lines_validate(lines)
    if any(line.kind == InvoiceLineKind.BALANCE for line in checked):
        raise ApplicationError("invalid_line", "The credit balance is applied when an invoice is created.")
    locked.lines.all().delete()
    amounts = lines_write(locked, checked)
    snapshot = _tax_snapshot(Customer.objects.get(pk=locked.customer_id), day=billing_today())
    for name, value in snapshot.items():
        setattr(locked, name, value)
    locked.subtotal, locked.tax, locked.total = totals_compute(
        amounts, tax=tax, tax_treatment=locked.tax_treatment, rate_basis_points=locked.vat_rate_basis_points
    )
    locked.amount_paid, locked.amount_remaining = 0, locked.total
    locked.save(update_fields=["subtotal", "tax", "total", "amount_paid", "amount_remaining", *snapshot, "updated_at"])
    return locked


@transaction.atomic
def invoice_draft_delete(*, invoice: Invoice, actor: Any = None) -> None:
    """Delete a draft (an issued invoice is voided instead). `actor` None is the system; a user needs delete_invoice."""
    permission_require(actor=actor, permission="billing.delete_invoice")
    locked = invoice_lock(invoice_id=invoice.pk)
    if locked.status != InvoiceStatus.DRAFT:
        raise ApplicationError(
            "invoice_not_editable", f"Invoice {locked} is issued; it can only be voided.", status_code=409
        )
    locked.delete()


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, now: datetime | None = None, actor: Any = None) -> Invoice:
    """draft -> open: number it (YYYYMMDD-NNNN, Asia/Seoul), date it, freeze it, and render its PDF after commit.

    The invoice keeps the tax treatment it was drafted with, at the VAT rate of its issue day (a draft priced at
    another rate is recomputed), and the legal basis of a 0 % VAT in its language. A zero-total invoice (fully
    credited) is paid at once, as Stripe does. `actor` None is the system (the services that issue invoices); a
    user needs billing.change_invoice.
    """
    permission_require(actor=actor, permission="billing.change_invoice")
    locked = invoice_lock(invoice_id=invoice.pk)
    _transition_check(locked, InvoiceStatus.OPEN)
    if not locked.lines.exists():
        raise ApplicationError("invoice_has_no_lines", "An invoice needs at least one line.")
    if locked.order_id is not None:
        # Locked before the day's number counter, like every path that touches an order, so no deadlock.
        order = order_lock(order_id=locked.order_id)
        if order.status != OrderStatus.PENDING:
            raise ApplicationError(
                "order_not_invoiceable", f"Order {order.pk} is {order.status}; it cannot be invoiced.", status_code=409
            )
        order_status_change(order_id=order.pk, target=OrderStatus.INVOICED)
    customer = Customer.objects.get(pk=locked.customer_id)
    moment = now or timezone.now()
    day = billing_today(now=moment)
    locked.buyer_name = customer.display_name
    locked.buyer_email = customer.email
    locked.buyer_business_number = customer.business_registration_number
    locked.buyer_address = customer.address
    locked.buyer_representative = customer.representative_name
    locked.buyer_business_type = customer.business_type
    locked.buyer_business_item = customer.business_item
    locked.language = customer.preferred_language
    _issue_day_rate_apply(locked, day=day)
    locked.tax_basis = tax_basis_text(
        treatment=locked.tax_treatment, basis=customer.tax_basis, language=locked.language
    )
    locked.issue_date = day
    locked.due_date = day + timedelta(days=locked.days_until_due)
    locked.finalized_at = moment
    locked.status = InvoiceStatus.OPEN
    if locked.total == 0:
        invoice_paid_set(locked, moment)
    # Last step before saving: the day's counter stays locked only for the rest of this transaction.
    locked.number = invoice_number_allocate(day=day)
    invoice_pdf_outdated(locked)
    locked.save()
    invoice_issued_email_queue(invoice=locked, customer=customer)  # a row and its job; rendered and sent after commit
    return locked


@transaction.atomic
def invoice_issue(
    *,
    customer: Customer,
    lines: Sequence[InvoiceLineInput],
    currency: str | None = None,
    tax: int | None = None,
    days_until_due: int | None = None,
    description: str = "",
) -> Invoice:
    """Create and finalize an invoice in one transaction (POST /api/payment/invoice without an order)."""
    draft = invoice_draft_create(
        customer=customer,
        lines=lines,
        currency=currency,
        tax=tax,
        days_until_due=days_until_due,
        description=description,
    )
    return invoice_finalize(invoice=draft)


@transaction.atomic
def invoice_issue_for_order(
    *, order: Order, days_until_due: int | None = None, description: str = "", actor: Any = None
) -> Invoice:
    """Invoice a pending order: its items become the lines, its totals the invoice's.

    `actor` None is the system or a customer's own request already scoped to their order; staff acting on
    any order (the admin) need billing.add_invoice.
    """
    permission_require(actor=actor, permission="billing.add_invoice")
    locked_order = order_lock(order_id=order.pk)
    if locked_order.status != OrderStatus.PENDING:
        raise ApplicationError(
            "order_not_invoiceable",
            f"Order {locked_order.pk} is {locked_order.status}; it cannot be invoiced.",
            status_code=409,
        )
    customer = Customer.objects.get(pk=locked_order.customer_id)
    if locked_order.currency != customer.currency:  # the order's currency is chosen, or else 409 (a fixed one)
        customer = customer_currency_choose(
            customer=Customer.objects.select_for_update().get(pk=customer.pk),
            currency=locked_order.currency,
            tax_default=False,
        )
    expected_tax = vat_on(
        supply_amount=locked_order.subtotal, tax_treatment=customer.tax_treatment, day=billing_today()
    )
    if locked_order.tax != expected_tax:
        raise ApplicationError(
            "order_tax_outdated",
            f"Order {locked_order.pk} was priced with VAT {locked_order.tax}, but the customer is now "
            f"{TaxTreatment(customer.tax_treatment).label} (VAT {expected_tax}); cancel it and order again.",
            status_code=409,
        )
    lines = [
        InvoiceLineInput(description=item.description, unit_amount=item.unit_amount, quantity=item.quantity)
        for item in locked_order.items.all()
    ]
    draft = invoice_draft_create(
        customer=customer,
        lines=lines,
        currency=locked_order.currency,
        tax=locked_order.tax,
        order=locked_order,
        days_until_due=days_until_due,
        description=description or locked_order.description,
    )
    if draft.subtotal != locked_order.subtotal or draft.total != locked_order.total:  # pragma: no cover - invariant
        raise RuntimeError(f"Order {locked_order.pk} totals disagree with its items.")
    return invoice_finalize(invoice=draft)


@transaction.atomic
def invoice_void(*, invoice: Invoice, actor: Any, now: datetime | None = None) -> Invoice:
    """open | uncollectible -> void (staff). An invoice with payments must be refunded first. Credit notes that
    only lowered what an unpaid invoice asks do not stop it (a plan change, a canceled or expired checkout void
    such invoices): they stay, numbered and accounted for against the voided invoice."""
    permission_require(actor=actor, permission="billing.change_invoice")
    locked = invoice_lock(invoice_id=invoice.pk)
    _transition_check(locked, InvoiceStatus.VOID)
    if locked.amount_paid > 0:
        raise ApplicationError(
            "invoice_has_payments", f"Invoice {locked} has payments; refund them before voiding.", status_code=409
        )
    if locked.order_id is not None:
        order_status_change(order_id=locked.order_id, target=OrderStatus.PENDING)  # invoiceable again
    locked.status = InvoiceStatus.VOID
    locked.voided_at = now or timezone.now()
    invoice_pdf_outdated(locked)
    locked.save()
    return locked


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice, actor: Any, now: datetime | None = None) -> Invoice:
    """open -> uncollectible (staff): the debt is written off but can still be paid or voided later."""
    permission_require(actor=actor, permission="billing.change_invoice")
    locked = invoice_lock(invoice_id=invoice.pk)
    _transition_check(locked, InvoiceStatus.UNCOLLECTIBLE)
    locked.status = InvoiceStatus.UNCOLLECTIBLE
    locked.marked_uncollectible_at = now or timezone.now()
    invoice_pdf_outdated(locked)
    locked.save()
    return locked


def invoice_amount_apply(*, locked: Invoice, amount: int, now: datetime) -> Invoice:
    """Add a succeeded payment to a locked payable invoice; fully paid means open|uncollectible -> paid."""
    locked.amount_paid += amount
    locked.amount_remaining -= amount
    if locked.amount_remaining == 0:
        _transition_check(locked, InvoiceStatus.PAID)
        invoice_paid_set(locked, now)
    invoice_pdf_outdated(locked)
    locked.save()
    return locked


def invoice_paid_set(locked: Invoice, moment: datetime) -> None:
    """A locked invoice that asks nothing more is paid (or settled by credit notes); its caller saves it."""
    locked.status = InvoiceStatus.PAID
    locked.paid_at = moment
    if locked.order_id is not None:
        order_status_change(order_id=locked.order_id, target=OrderStatus.PAID)
    # A paid subscription invoice may reactivate its subscription: whoever pays it (billing.services.payments,
    # the subscription services for a zero total) schedules that through subscription_states, which sits above us.


@transaction.atomic
def invoice_pdf_regenerate(*, invoice: Invoice, actor: Any = None) -> Invoice:
    """Render an issued invoice's PDF again (a changed template, a lost object): a new revision, after commit."""
    permission_require(actor=actor, permission="billing.change_invoice")
    locked = invoice_lock(invoice_id=invoice.pk)
    if locked.status == InvoiceStatus.DRAFT:
        raise ApplicationError("invoice_is_draft", "A draft has no PDF; finalize it first.", status_code=409)
    invoice_pdf_outdated(locked)
    locked.save(update_fields=["pdf_revision", "pdf_status", "updated_at"])
    return locked


def invoice_pdf_outdated(locked: Invoice) -> None:
    """The PDF must show this change: bump the revision; a worker renders it once the transaction commits."""
    locked.pdf_revision += 1
    locked.pdf_status = InvoicePdfStatus.PENDING
    job_enqueue(
        kind=JobKind.INVOICE_PDF_RENDER,
        key=f"invoice_pdf:{locked.pk}:{locked.pdf_revision}",
        payload={"invoice_id": locked.pk},
    )


DEFAULT_LINE_DESCRIPTION = {"ko": "서비스 이용료", "en": "Services"}


def customer_invoice_policy_check(*, customer: Customer, actor: Any, order: Order | None) -> None:
    """settings.BILLING_CUSTOMER_INVOICES: `any` (the seed) lets customers invoice themselves any amount;
    `orders_only` only their own orders. Staff billing a customer are not self-service (their permission is
    checked elsewhere); an unknown value counts as the stricter `orders_only` (and fails check billing.E004)."""
    self_service = actor is not None and getattr(actor, "pk", None) == customer.user_id
    if not self_service or order is not None:
        return
    if customer_prices_allowed():
        return
    raise ApplicationError(
        "customer_invoices_orders_only",
        "Invoices can only be created from your own orders: place an order and send its order_id.",
        status_code=403,
        fields={"order_id": ["Required: free amounts are not accepted."]},
    )


def invoice_issue_requested(
    *,
    customer: Customer,
    actor: Any,
    amount: int | None = None,
    tax: int | None = None,
    currency: str | None = None,
    days_until_due: int | None = None,
    order: Order | None = None,
    description: str = "",
) -> Invoice:
    """POST /api/payment/invoice: an invoice of one supply amount, or of an order (whose amounts win).

    `actor` is the user asking; a customer billing themselves is bound by BILLING_CUSTOMER_INVOICES. With an
    order, amounts the caller also sends must agree with the order's (400 `amount_mismatch`). In the customer's
    currency by default; a first invoice chooses it, and another than a fixed one is 409 `currency_mismatch`.
    """
    if days_until_due is not None and not 1 <= days_until_due <= 365:
        raise ApplicationError(
            "invalid_due_days", "due_days must be from 1 to 365.", fields={"due_days": ["From 1 to 365."]}
        )
    if order is not None and order.customer_id != customer.pk:
        raise ApplicationError("not_found", "Not found.", status_code=404)
    if actor is not None and getattr(actor, "pk", None) != customer.user_id:
        permission_require(actor=actor, permission="billing.add_invoice")  # billing someone else
    customer_invoice_policy_check(customer=customer, actor=actor, order=order)
    if order is not None:
        mismatched = {
            field: f"The order's {field} is {expected}."
            for field, given, expected in (
                ("amount", amount, order.subtotal),
                ("tax", tax, order.tax),
                ("currency", currency and currency_normalize(currency), order.currency),
            )
            if given is not None and given != expected
        }
        if mismatched:
            raise ApplicationError(
                "amount_mismatch",
                "The amounts sent contradict the order's; leave them out to invoice the order as it is.",
                fields={field: [message] for field, message in mismatched.items()},
            )
        issued = invoice_issue_for_order(order=order, days_until_due=days_until_due, description=description)
        payment_provider().invoice_mirror_schedule(invoice=issued)  # Stripe: its copy and hosted page, after commit
        return issued
    if amount is None:
        raise ApplicationError("validation_error", "amount_krw is required.", fields={"amount_krw": ["Required."]})
    amount_validate(amount, field="amount")
    line_description = description.strip() or DEFAULT_LINE_DESCRIPTION.get(customer.preferred_language, "Services")
    with transaction.atomic():
        # In the customer's currency (by default), which a first invoice chooses; a fixed one another: 409.
        billed = customer_currency_choose(
            customer=Customer.objects.select_for_update().get(pk=customer.pk),
            currency=currency_normalize(currency) if currency else customer.currency,
            tax_default=False,
        )
        issued = invoice_issue(
            customer=billed,
            lines=[InvoiceLineInput(description=line_description[:500], unit_amount=amount)],
            currency=billed.currency,
            tax=tax,
            days_until_due=days_until_due,
            description=description,
        )
    payment_provider().invoice_mirror_schedule(invoice=issued)  # Stripe: its copy and hosted page, after commit
    return issued
