"""The shared body of subscribe and change plan: what may be done now (checked under the customer lock), the one
code path that writes a new subscription and its first invoice, and the quote of that invoice read before a charge."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from billing.enums import InvoiceLineKind, JobKind
from billing.models import Customer, Invoice
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import (
    LIVE_STATUSES,
    CancellationReason,
    Subscription,
    SubscriptionInvoiceReason,
    SubscriptionStatus,
)
from billing.periods import billing_date, first_period
from billing_site.errors import ApplicationError
from billing_site.jobs.services import job_enqueue

from ..coupons import coupon_redeem, coupon_redemptions_follow, discount_lines, promotion_code_redeemable
from ..invoices import InvoiceLineInput
from ..subscription_states import customer_lock, live_subscription_lock, subscription_lock, subscription_status_change
from ..usage_invoicing import usage_arrears_bill
from .common import (
    already_subscribed,
    billing_period_validate,
    charge_line,
    credit_balance_add,
    currency_requested_check,
    keeps_price,
    line_text,
    period_invoice_issue,
    plan_available,
    plan_line_description,
    plan_price_amount,
    subscribe_currency,
)
from .proration import (
    PeriodSettlement,
    credit_split,
    replaced_invoice_partly_paid_refuse,
    replaced_period_invoice,
    replaced_period_settle,
)
from .trials import trial_claim_write, trial_days_for


@dataclass(frozen=True)
class SubscribeRequest:
    """What a subscribe (or an admin's plan change, `subscription_id` set) asks for, and the moment it was asked."""

    customer_id: int
    plan: SubscriptionPlan
    billing_period: str | None
    payment_method_id: str | None
    moment: datetime
    subscription_id: int | None = None
    quantity: int = 1  # seats, resolved and checked by the caller (.subscribe)
    coupon: str = ""  # a promotion code to redeem for the new subscription
    currency: str | None = None  # asked for by a first subscribe; None: the default (`subscribe_currency`)


@dataclass(frozen=True)
class SubscribeChecked:
    """What subscribing may do now: the locked customer, the plan as offered now, the live subscription it
    replaces (locked), if any, and the currency it bills in (the customer's, once chosen)."""

    customer: Customer
    plan: SubscriptionPlan
    billing_period: str
    current: Subscription | None
    quantity: int = 1
    coupon: str = ""  # checked redeemable (`promotion_code_redeemable`); redeemed by the write
    currency: str = "KRW"

    @property
    def current_id(self) -> int | None:
        return None if self.current is None else self.current.pk


def subscription_paused_refuse(current: Subscription) -> None:
    """409 `subscription_paused`: a paused subscription changes neither plan nor seats (its paid days are carried to
    the resume, and a change would credit or bill them as if in service). Resumed first, it changes as usual."""
    if current.status == SubscriptionStatus.PAUSED:
        raise ApplicationError(
            "subscription_paused",
            f"Subscription {current.pk} is paused: resume it first, then change its plan.",
            status_code=409,
        )


def subscribe_check(request: SubscribeRequest) -> SubscribeChecked:
    """Lock the customer (and the subscription replaced) and refuse what cannot be done, before anything is
    written: 409 `already_subscribed`, `subscription_not_active`, `subscription_paused`,
    `replaced_invoice_partly_paid`, `currency_mismatch`, `coupon_already_redeemed`, 400 for the plan and
    `invalid_coupon`. A first subscription's currency becomes the customer's here (`subscribe_currency`).
    Run again in every step that writes, since the locks of an earlier step are gone."""
    customer = customer_lock(request.customer_id)
    if request.subscription_id is None:
        billing_period = billing_period_validate(request.billing_period or "")
        plan = plan_available(request.plan)
        current = live_subscription_lock(customer)
        if current is not None:  # another currency than the live one's says so first (two first subscribes raced)
            currency_requested_check(requested=request.currency, currency=current.currency)
        if current is not None and (current.plan_id, current.billing_period, current.quantity) == (
            plan.pk,
            billing_period,
            request.quantity,
        ):
            raise already_subscribed(current)
    else:
        current = subscription_lock(subscription_id=request.subscription_id)
        if current.status not in LIVE_STATUSES:
            raise ApplicationError(
                "subscription_not_active", f"Subscription {current.pk} is {current.status}.", status_code=409
            )
        billing_period = billing_period_validate(request.billing_period or current.billing_period)
        if (current.plan_id, current.billing_period, current.quantity) == (
            request.plan.pk,
            billing_period,
            request.quantity,
        ):
            raise already_subscribed(current)
        plan = plan_available(request.plan)
    if current is not None:
        subscription_paused_refuse(current)
        replaced_invoice_partly_paid_refuse(replaced_period_invoice(current))
    currency = subscribe_currency(customer=customer, plan=plan, current=current, requested=request.currency)
    if request.coupon:
        promotion_code_redeemable(
            code=request.coupon,
            customer=customer,
            plan=plan,
            billing_period=billing_period,
            now=request.moment,
            currency=currency,
        )
    return SubscribeChecked(
        customer=customer,
        plan=plan,
        billing_period=billing_period,
        current=current,
        quantity=request.quantity,
        coupon=request.coupon,
        currency=currency,
    )


@dataclass(frozen=True)
class SubscriptionStart:
    """What subscribing did: the new subscription, its first invoice, and what happened to the old one."""

    subscription: Subscription
    invoice: Invoice | None  # None: a trial (nothing billed yet), or a change scheduled for the period end
    replaced: Subscription | None
    scheduled: bool = False  # the change waits for the end of the period (pending_* on `subscription`)
    credit: int = 0  # made by the replaced period (`replaced_period_settle`): money-backed, never the list price
    credit_on_invoice: int = 0
    credit_to_balance: int = 0
    balance_used: int = 0
    carried: int = 0  # the voided unpaid invoice's charges for the days used, billed again on this invoice
    voided_invoice: Invoice | None = None  # the replaced period's unpaid invoice, voided


def subscription_start_write(
    *,
    customer: Customer,
    plan: SubscriptionPlan,
    billing_period: str,
    replacing: Subscription | None,
    moment: datetime,
    finalize: bool = True,
    subscription_id: int | None = None,
    quantity: int = 1,
    coupon: str = "",
) -> SubscriptionStart:
    """The shared body of subscribe and change plan; the customer (and `replacing`) are locked by the caller.

    A customer's first subscription to a plan with `trial_days` (no live one replaced) starts trialing instead:
    no invoice (`invoice` None) and its TrialClaim written; should the claim be refused (its 사업자등록번호 had a
    trial meanwhile) it starts paid as usual.
    `finalize` False leaves the first invoice a draft (no number taken): what `subscription_quote` reads.
    `subscription_id` is an id reserved for the new subscription (`subscription_id_reserve`), if any.
    `coupon`: a promotion code redeemed for the new subscription (400 `invalid_coupon`, 409
    `coupon_already_redeemed`); the coupons of `replacing` go with it. Its discount comes before the credit of the
    replaced period, which is then split against what is left to pay. The metered usage of `replacing` not billed
    yet, up to the start of today, is on the first invoice too (`usage` lines at the old plan's prices).
    The new subscription is in the currency of `replacing`, or else the customer's (chosen by `subscribe_check`),
    at the plan's price in it (409 `currency_mismatch` for a plan not sold in it).
    """
    today = billing_date(moment)
    currency = replacing.currency if replacing is not None else customer.currency
    unit_price = plan_price_amount(
        plan=plan,
        currency=currency,
        billing_period=billing_period,
        for_sale=not keeps_price(replacing, plan=plan, billing_period=billing_period),
    )
    settled = PeriodSettlement()
    usage: list[InvoiceLineInput] = []
    if replacing is not None:
        settled = replaced_period_settle(replacing, on=today)
        # The replaced plan's metered usage so far, in whole days before today (today's is the new plan's).
        usage = usage_arrears_bill(
            subscription=replacing, customer=customer, end=today, language=customer.preferred_language
        ).lines
        subscription_status_change(
            replacing, SubscriptionStatus.CANCELED, moment=moment, reason=CancellationReason.REPLACED
        )

    fields: dict[str, Any] = {
        "pk": subscription_id,
        "customer": customer,
        "plan": plan,
        "billing_period": billing_period,
        "currency": currency,
        "price_amount": unit_price * quantity,
        "quantity": quantity,
        "billing_cycle_anchor": today,
        "replaces": replacing,
        "created_at": moment,
    }
    trial_days = trial_days_for(customer=customer, plan=plan, replacing=replacing)
    if trial_days:
        trial_end = today + timedelta(days=trial_days)
        try:
            with transaction.atomic():
                # While trialing the current period is the trial; nothing is invoiced until trial_end.
                trial = Subscription.objects.create(
                    **fields,
                    status=SubscriptionStatus.TRIALING,
                    trial_start=today,
                    trial_end=trial_end,
                    current_period_start=today,
                    current_period_end=trial_end,
                )
                trial_claim_write(customer=customer, subscription=trial)
        except IntegrityError:
            pass  # its 사업자등록번호 got a trial under another login meanwhile: no trial, it pays as usual
        else:
            if coupon:
                coupon_redeem(code=coupon, customer=customer, subscription=trial, moment=moment)
            return SubscriptionStart(subscription=trial, invoice=None, replaced=None)

    period = first_period(anchor=today, billing_period=billing_period)
    subscription = Subscription.objects.create(
        **fields,
        # Service starts now: a bank transfer pays the invoice within its terms (a card through the provider at once).
        status=SubscriptionStatus.ACTIVE,
        current_period_start=period.start,
        current_period_end=period.end,
    )
    if replacing is not None:
        coupon_redemptions_follow(replaced=replacing, subscription=subscription)
    if coupon:
        coupon_redeem(code=coupon, customer=customer, subscription=subscription, moment=moment)
    language = customer.preferred_language
    lines = [charge_line(subscription, period, language)]
    days_until_due = None
    voided_number = (settled.voided.number or "") if settled.voided is not None else ""
    if settled.carried and replacing is not None:
        last_used = min(today, replacing.current_period_end) - timedelta(days=1)
        used = last_used >= replacing.current_period_start
        lines.append(
            InvoiceLineInput(
                description=plan_line_description(
                    plan=replacing.plan,
                    billing_period=replacing.billing_period,
                    language=language,
                    key="carried",
                    number=voided_number,
                ),
                unit_amount=settled.carried,
                period_start=replacing.current_period_start if used else None,
                period_end=last_used if used else None,
            )
        )
        if settled.voided is not None and settled.voided.due_date is not None:
            # Moving a debt onto a new invoice does not postpone it.
            days_until_due = min(settings.BILLING_INVOICE_DUE_DAYS, max(0, (settled.voided.due_date - today).days))
    lines.extend(usage)
    lines.extend(discount_lines(subscription=subscription, lines=lines, moment=moment, language=language))
    split = credit_split(credit=settled.credit, charges=sum(line.quantity * line.unit_amount for line in lines))
    if split.on_invoice and replacing is not None:
        if settled.voided is not None:
            credit_line = InvoiceLineInput(
                description=line_text("released", language, number=voided_number), unit_amount=-split.on_invoice
            )
        else:
            credit_line = InvoiceLineInput(
                description=plan_line_description(
                    plan=replacing.plan, billing_period=replacing.billing_period, language=language, key="credit"
                ),
                unit_amount=-split.on_invoice,
                period_start=today,
                period_end=replacing.current_period.last_day,
            )
        lines.append(credit_line)
    if split.to_balance:
        credit_balance_add(customer, split.to_balance, currency=subscription.currency)
    invoice = period_invoice_issue(
        customer=customer,
        subscription=subscription,
        period=period,
        lines=lines,
        reason=SubscriptionInvoiceReason.CREATE,
        moment=moment,
        days_until_due=days_until_due,
        finalize=finalize,
        discounted=True,
    )
    balance_used = -sum(line.quantity * line.unit_amount for line in lines if line.kind == InvoiceLineKind.BALANCE)
    return SubscriptionStart(
        subscription=subscription,
        invoice=invoice,
        replaced=replacing,
        credit=settled.credit,
        credit_on_invoice=split.on_invoice,
        credit_to_balance=split.to_balance,
        balance_used=balance_used,
        carried=settled.carried,
        voided_invoice=settled.voided,
    )


class _Quoted(Exception):
    def __init__(self, quote: dict[str, Any]) -> None:
        super().__init__("quoted")
        self.quote = quote


def invoice_quote(invoice: Invoice, *, language: str) -> dict[str, Any]:
    """What a first invoice says, as the provider must charge it: its lines, subtotal, VAT and total."""
    return {
        "lines": [
            {"description": line.description, "amount": line.amount}
            for line in invoice.lines.order_by("position", "id")
        ],
        "subtotal": invoice.subtotal,
        "tax": invoice.tax,
        "total": invoice.total,
        "currency": invoice.currency,
        "language": language,
    }


def subscription_quote(checked: SubscribeChecked, *, moment: datetime) -> dict[str, Any]:
    """The first invoice subscribing would issue now (`invoice_quote`), with nothing written.

    It is `subscription_start_write` itself, run in a savepoint that is always rolled back (its invoice left a
    draft, so no number is taken): the quote cannot drift from what the write makes later, which is compared with
    it before it is kept. Callers hold the customer lock (`subscribe_check`).
    """
    try:
        with transaction.atomic():
            started = subscription_start_write(
                customer=checked.customer,
                plan=checked.plan,
                billing_period=checked.billing_period,
                replacing=checked.current,
                moment=moment,
                finalize=False,
                quantity=checked.quantity,
                coupon=checked.coupon,
            )
            if started.invoice is None:
                # A trial applies now (the live subscription ended since the subscribe was routed): nothing to charge.
                raise _trial_now_applies()
            raise _Quoted(invoice_quote(started.invoice, language=checked.customer.preferred_language))
    except _Quoted as quoted:
        return quoted.quote
    finally:
        # The rolled-back writes changed these instances in memory (credit balance, status): read them again.
        checked.customer.refresh_from_db()
        if checked.current is not None:
            checked.current.refresh_from_db()


def _trial_now_applies() -> ApplicationError:
    return ApplicationError(
        "subscription_changed",
        "Your subscription changed meanwhile and a free trial now applies; nothing was charged. Try again.",
        status_code=409,
    )


class _NoTrial(Exception):
    pass


def subscription_trial_start(request: SubscribeRequest) -> SubscriptionStart | None:
    """Subscribe as a free trial, if one applies (`trial_days_for`, under the customer lock): written in one
    transaction, the payment provider never asked (nothing is charged; a card sent is not used until the first
    invoice). None: no trial, the subscribe goes on as usual (also when the trial's claim lost a race)."""
    if request.subscription_id is not None or request.plan.trial_days <= 0:
        return None  # a plan change is never a trial; the plan is read again under the lock below
    try:
        with transaction.atomic():
            checked = subscribe_check(request)
            if checked.current is not None or not trial_days_for(
                customer=checked.customer, plan=checked.plan, replacing=None
            ):
                return None
            started = subscription_start_write(
                customer=checked.customer,
                plan=checked.plan,
                billing_period=checked.billing_period,
                replacing=None,
                moment=request.moment,
                quantity=checked.quantity,
                coupon=checked.coupon,
            )
            if started.invoice is not None:
                raise _NoTrial  # undo the bank-transfer subscription: the usual path decides how it is paid
            return started
    except _NoTrial:
        return None


def subscription_id_reserve() -> int | None:
    """An id for a subscription not written yet (PostgreSQL: the table's own sequence, so no one else takes it);
    None on other databases."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Subscription._meta.db_table])
        return int(cursor.fetchone()[0])


def provider_follow_enqueue(started: SubscriptionStart) -> None:
    """After subscribing (same transaction): the provider's copies follow ours once it commits. The new
    subscription's copy names it; the replaced one's is canceled."""
    if started.subscription.stripe_subscription_id:
        subscription_provider_link_enqueue(started.subscription)
    if started.replaced is not None:
        subscription_provider_follow_enqueue(started.replaced)


def subscription_provider_follow_enqueue(subscription: Subscription) -> None:
    """The provider's copy of a subscription follows ours (ended now or at period end, a cancel undone, its
    quantity), by a job after commit that reads ours as it then is.

    One job per revision of the row (its `updated_at`): cancel, resume and cancel again are three jobs, while
    asking twice for the same state (nothing saved in between) is one.
    """
    if not subscription.stripe_subscription_id:
        return
    revision = int(subscription.updated_at.timestamp() * 1_000_000)
    job_enqueue(
        kind=JobKind.SUBSCRIPTION_PROVIDER_CANCEL,
        key=f"subscription_provider_cancel:{subscription.pk}:{subscription.status}:{revision}",
        payload={"subscription_id": subscription.pk},
    )


def subscription_provider_link_enqueue(subscription: Subscription) -> None:
    job_enqueue(
        kind=JobKind.SUBSCRIPTION_PROVIDER_LINK,
        key=f"subscription_provider_link:{subscription.pk}:{subscription.stripe_subscription_id}",
        payload={"subscription_id": subscription.pk},
    )
