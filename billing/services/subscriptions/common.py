"""What every subscription write shares: line texts, input checks, the currency and price of a subscribe, credit
balance and the invoice of a period."""

from datetime import datetime

from django.db import IntegrityError, transaction

from billing.enums import BalanceEntryKind, InvoiceLineKind, Language
from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import Subscription, SubscriptionInvoice
from billing.periods import BillingPeriod, ServicePeriod
from billing.selectors.customers import customer_currency_fixed
from billing.selectors.plans import plan_price_in
from billing_site.errors import ApplicationError

from ..balance import balance_entry_write
from ..coupons import discount_lines
from ..customers import customer_currency_choose
from ..invoices import InvoiceLineInput, invoice_draft_create, invoice_finalize
from ..subscription_states import subscription_invoice_paid_after_commit

PERIOD_LABELS: dict[str, dict[str, str]] = {
    BillingPeriod.MONTHLY: {Language.KOREAN: "월간", Language.ENGLISH: "monthly"},
    BillingPeriod.ANNUAL: {Language.KOREAN: "연간", Language.ENGLISH: "annual"},
}
LINE_TEXT: dict[str, dict[str, str]] = {
    "plan": {Language.KOREAN: "{plan} 플랜 ({period})", Language.ENGLISH: "{plan} plan ({period})"},
    "credit": {
        Language.KOREAN: "미사용 기간 크레딧: {plan} 플랜 ({period})",
        Language.ENGLISH: "Unused time on {plan} plan ({period})",
    },
    "balance": {Language.KOREAN: "크레딧 잔액 사용", Language.ENGLISH: "Credit balance applied"},
    # A plan change voided the unpaid invoice of the period it left: what that invoice asked for the days used.
    "carried": {
        Language.KOREAN: "미납 청구서 {number} 취소분 중 사용 기간: {plan} 플랜 ({period})",
        Language.ENGLISH: "Used time on {plan} plan ({period}) from unpaid invoice {number}, voided",
    },
    # ...and the credit that invoice had used, given back.
    "released": {
        Language.KOREAN: "취소된 청구서 {number}에 사용된 크레딧 반환",
        Language.ENGLISH: "Credit used by voided invoice {number}, returned",
    },
    # More seats during a period: the added seats for the days left, on an invoice of their own.
    "seats": {
        Language.KOREAN: "좌석 {count}개 추가: {plan} 플랜 ({period})",
        Language.ENGLISH: "{count} seat(s) added: {plan} plan ({period})",
    },
    "invoice": {
        Language.KOREAN: "{plan} 플랜 구독 ({period})",
        Language.ENGLISH: "{plan} plan subscription ({period})",
    },
}


def line_text(key: str, language: str, **values: str) -> str:
    templates = LINE_TEXT[key]
    return templates.get(language, templates[Language.KOREAN]).format(**values)


def plan_line_description(
    *, plan: SubscriptionPlan, billing_period: str, language: str, key: str = "plan", **values: str
) -> str:
    labels = PERIOD_LABELS[billing_period]
    return line_text(
        key,
        language,
        plan=plan.display_name(language),
        period=labels.get(language, labels[Language.KOREAN]),
        **values,
    )


def billing_period_validate(billing_period: str) -> str:
    if billing_period not in BillingPeriod.values:
        raise ApplicationError(
            "invalid_billing_period",
            f"billing_period must be one of {', '.join(BillingPeriod.values)}.",
            fields={"billing_period": ["Unknown billing period."]},
        )
    return billing_period


# Seats of one subscription (a plan priced per seat).
MAX_SEATS = 10_000
# When a plan change takes effect: "auto" (an upgrade now, anything else at the end of the period), "now", or
# "period_end".
WHEN_CHOICES = ("auto", "now", "period_end")


def when_validate(when: str) -> str:
    if when not in WHEN_CHOICES:
        raise ApplicationError(
            "invalid_when",
            f"when must be one of {', '.join(WHEN_CHOICES)}.",
            fields={"when": ["Unknown value."]},
        )
    return when


def quantity_validate(quantity: object, *, plan: SubscriptionPlan) -> int:
    """Seats asked for: an integer from 1 to MAX_SEATS (400 `invalid_quantity`), more than one only on a plan
    priced per seat (400 `plan_not_per_seat`)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_SEATS:
        raise ApplicationError(
            "invalid_quantity",
            f"quantity must be an integer from 1 to {MAX_SEATS}.",
            fields={"quantity": ["Out of range."]},
        )
    if quantity > 1 and not plan.per_seat:
        raise ApplicationError(
            "plan_not_per_seat",
            f"The {plan.slug} plan is not priced per seat: its quantity is 1.",
            fields={"quantity": ["This plan has no seats."]},
        )
    return quantity


def plan_available(plan: SubscriptionPlan) -> SubscriptionPlan:
    fresh = SubscriptionPlan.objects.filter(pk=plan.pk, is_active=True).first()
    if fresh is None:
        raise ApplicationError(
            "plan_not_available",
            f"Plan {plan.slug!r} is not offered any more.",
            fields={"plan": ["Unknown or retired plan."]},
        )
    return fresh


def plan_price_amount(*, plan: SubscriptionPlan, currency: str, billing_period: str, for_sale: bool = True) -> int:
    """One seat of `plan` for one period in `currency`, minor units: in the plan's default currency its own price
    (seed_plans keeps its PlanPrice row equal), in another its PlanPrice row; a plan not sold in `currency` (or no
    longer: `for_sale` False accepts that, for what a subscription already bought) is 409 `currency_mismatch`
    (plan_price_in)."""
    if currency == plan.currency:
        return plan.price_for(billing_period)
    return plan_price_in(plan=plan, currency=currency, for_sale=for_sale).price_for(billing_period)


def keeps_price(current: Subscription | None, *, plan: SubscriptionPlan, billing_period: str) -> bool:
    """Whether a subscribe or change keeps the plan and billing period `current` has: it buys no new price (seats
    come and go at the price it pays), so a price no longer sold in its currency still serves it, as a retired plan
    does (`for_sale` False)."""
    return current is not None and (current.plan_id, current.billing_period) == (plan.pk, billing_period)


def subscribe_currency(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    current: Subscription | None,
    requested: str | None,
    choose: bool = True,
) -> str:
    """The currency a subscribe bills in (the customer locked by the caller): a plan change keeps its subscription's;
    a customer whose currency is fixed (customer_currency_fixed) pays in it; otherwise the `requested` one, by
    default the customer's own when the plan is sold in it (KRW, or what staff chose), else the plan's default.

    409 `currency_mismatch` for a `requested` currency other than that, or a plan not sold in it. A first
    subscription's currency becomes the customer's (customer_currency_choose, with its foreign tax default) before
    anything is priced, so the payment provider, asked next, prices it in the customer's currency (`choose` False:
    only read, for a check before the locks)."""
    fixed = current is not None or customer_currency_fixed(customer=customer)
    if current is not None:
        currency = current.currency
    elif fixed:
        currency = customer.currency
    else:
        own_price = plan.price_in(customer.currency)
        sold_in_own = customer.currency == plan.currency or (own_price is not None and own_price.active)
        currency = requested or (customer.currency if sold_in_own else plan.currency)
    currency_requested_check(requested=requested, currency=currency)
    if currency != plan.currency:
        # Its own plan is checked for sale by the price of the period it asks (plan_price_amount, keeps_price).
        keeps_plan = current is not None and current.plan_id == plan.pk
        plan_price_in(plan=plan, currency=currency, for_sale=not keeps_plan)
    if choose and not fixed:
        customer_currency_choose(customer=customer, currency=currency)
    return currency


def currency_requested_check(*, requested: str | None, currency: str) -> None:
    """409 `currency_mismatch` for a subscribe asking another currency than the one it is billed in."""
    if requested is not None and requested != currency:
        raise ApplicationError(
            "currency_mismatch",
            f"You are billed in {currency}: subscribe in {currency}, or leave the currency out.",
            fields={"currency": [f"Must be {currency}."]},
            status_code=409,
        )


def already_subscribed(current: Subscription) -> ApplicationError:
    return ApplicationError(
        "already_subscribed",
        f"You are already subscribed to {current.plan.slug} ({current.billing_period}).",
        fields={"subscription_id": [str(current.pk)]},
        status_code=409,
    )


def credit_balance_apply(customer: Customer, lines: list[InvoiceLineInput], *, currency: str) -> int:
    """Use the locked customer's credit balance against the lines' charges: a `balance` line, which takes the
    amount off the balance (a ledger entry) when the invoice is created from them (invoice_draft_create)."""
    remaining = sum(line.quantity * line.unit_amount for line in lines)
    if customer.currency != currency or customer.credit_balance <= 0 or remaining <= 0:
        return 0
    used = min(customer.credit_balance, remaining)
    lines.append(
        InvoiceLineInput(
            description=line_text("balance", customer.preferred_language),
            unit_amount=-used,
            kind=InvoiceLineKind.BALANCE,
        )
    )
    return used


def credit_balance_add(customer: Customer, amount: int, *, currency: str) -> None:
    """A plan change's credit for unused time that its new invoice could not take goes on the balance."""
    balance_entry_write(customer=customer, amount=amount, kind=BalanceEntryKind.PRORATION_CREDIT, currency=currency)


def period_invoice_issue(
    *,
    customer: Customer,
    subscription: Subscription,
    period: ServicePeriod,
    lines: list[InvoiceLineInput],
    reason: str,
    moment: datetime,
    days_until_due: int | None = None,
    finalize: bool = True,
    discounted: bool = False,
) -> Invoice:
    """Draft, link to the period (the unique constraint refuses a second one) and only then finalize (unless
    `finalize` is False: the draft is returned, numberless, for a quote that is rolled back).

    `lines` are the charges (and credits); appended to them, in this order: the coupons' `discount` lines (unless
    `discounted`: the caller added them, before a credit of its own) and then the credit balance's `balance` line,
    so VAT is on the discounted supply and the balance pays what is left. The customer is locked by the caller."""
    if not discounted:
        lines.extend(
            discount_lines(subscription=subscription, lines=lines, moment=moment, language=customer.preferred_language)
        )
    credit_balance_apply(customer, lines, currency=subscription.currency)
    draft = invoice_draft_create(
        customer=customer,
        lines=lines,
        currency=subscription.currency,
        days_until_due=days_until_due,
        now=moment,  # priced at the VAT rate of the day it is issued (a preview: the day it would be)
        description=plan_line_description(
            plan=subscription.plan,
            billing_period=subscription.billing_period,
            language=customer.preferred_language,
            key="invoice",
        ),
    )
    try:
        with transaction.atomic():
            SubscriptionInvoice.objects.create(
                subscription=subscription,
                invoice=draft,
                reason=reason,
                period_start=period.start,
                period_end=period.end,
            )
    except IntegrityError as error:
        raise ApplicationError(
            "period_already_invoiced",
            f"Subscription {subscription.pk} already has an invoice for the period starting {period.start}.",
            status_code=409,
        ) from error
    if not finalize:
        return draft
    if draft.total == 0:
        # Finalizing marks a zero total paid at once: its subscription is refreshed after commit, as for a payment.
        subscription_invoice_paid_after_commit(invoice_id=draft.pk)
    return invoice_finalize(invoice=draft, now=moment)


def charge_line(subscription: Subscription, period: ServicePeriod, language: str) -> InvoiceLineInput:
    """One period of the subscription: its seats times the price of one (`price_amount` in all)."""
    return InvoiceLineInput(
        description=plan_line_description(
            plan=subscription.plan, billing_period=subscription.billing_period, language=language
        ),
        quantity=subscription.quantity,
        unit_amount=subscription.unit_amount,
        period_start=period.start,
        period_end=period.last_day,
    )
