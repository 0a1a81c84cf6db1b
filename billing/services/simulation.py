"""What the billing rules will do to one customer over the coming months: the real daily services, run day by day
in a transaction that is always rolled back (`manage.py billing_simulate`).

Each simulated day runs what the schedules run in production, limited to the customer and stamped with the simulated
moment: the renewal run (renewals, trial conversions, scheduled resumes, pending changes; 00:05 Seoul), dunning
(00:06), the daily notices (10:00) and, with `pay="on_time"`, a bank transfer of every invoice issued that day
(12:00, through the real payment service, then the refresh a committed payment triggers). What changed is read back
after each day: invoices issued and their later statuses, payments, subscription changes, dunning steps and emails
queued. Then everything is rolled back, invoice numbers and their day counters included: nothing is written, no
email or job leaves (they are sent only after a commit), and only this customer's rows are locked meanwhile (with
the day counter of an invoice the simulation issues today: other invoices finalized today wait for the simulation).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from billing.enums import INVOICE_PAYABLE_STATUSES, PaymentMethod
from billing.models import Customer, Invoice, Payment
from billing.models.subscriptions import DunningStep, Subscription, SubscriptionInvoice
from billing.periods import BILLING_TIME_ZONE, add_months, billing_date
from billing_site.errors import ApplicationError
from billing_site.mail.models import Email

from .dunning import invoice_dunning_step, invoices_to_dun
from .payments import payment_record
from .renewals import subscriptions_to_process
from .subscription_emails import renewal_notices_queue
from .subscription_states import subscription_invoice_paid
from .subscriptions import subscription_renew

MAX_MONTHS = 36
PAY_CHOICES = ("on_time", "never")
# When each daily run happens on a simulated day (Asia/Seoul), as in settings.CELERY_BEAT_SCHEDULE.
RENEWALS_AT = time(0, 5)
DUNNING_AT = time(0, 6)
NOTICES_AT = time(10, 0)
PAYMENT_AT = time(12, 0)


class EventKind:
    """What a timeline event is about."""

    INVOICE_ISSUED = "invoice_issued"
    PAYMENT = "payment"
    INVOICE_STATUS = "invoice_status"  # voided, marked uncollectible (paid shows as a payment)
    SUBSCRIPTION_STATUS = "subscription_status"
    SUBSCRIPTION_CHANGE = "subscription_change"  # cancel at period end set or undone, plan, seats, period
    DUNNING_STEP = "dunning_step"
    EMAIL = "email"
    FAILURE = "failure"


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened on a simulated day; the fields that do not apply to its kind stay empty."""

    day: date
    kind: str
    subscription_id: int | None = None
    invoice_number: str = ""
    amount: int = 0  # an invoice's subtotal (VAT excluded), a payment's amount
    tax: int = 0
    total: int = 0
    currency: str = ""
    before: str = ""  # a status (or value) before and after
    after: str = ""
    email_kind: str = ""
    detail: str = ""


@dataclass(frozen=True)
class SimulatedInvoice:
    """An invoice the simulation issued, as it stands at the end of the simulation."""

    number: str
    issue_date: date
    due_date: date | None
    period_start: date | None
    period_end: date | None  # excluded
    reason: str
    subtotal: int
    tax: int
    total: int
    currency: str
    status: str
    amount_paid: int


@dataclass(frozen=True)
class SimulatedSubscription:
    """A subscription of the customer as it stands at the end of the simulation."""

    id: int
    plan: str
    billing_period: str
    status: str
    quantity: int
    price_amount: int
    current_period_start: date
    current_period_end: date
    cancel_at_period_end: bool
    cancellation_reason: str


@dataclass
class SimulationTimeline:
    """What `billing_simulate` predicts: the events day by day and the state at the end (nothing of it exists)."""

    customer_id: int
    as_of: date
    until: date  # the first day not simulated
    pay: str
    events: list[TimelineEvent] = field(default_factory=list)
    invoices: list[SimulatedInvoice] = field(default_factory=list)
    subscriptions: list[SimulatedSubscription] = field(default_factory=list)

    @property
    def subscription(self) -> SimulatedSubscription | None:
        """The customer's latest subscription at the end (the live one, if any)."""
        return self.subscriptions[-1] if self.subscriptions else None

    @property
    def final_status(self) -> str:
        return self.subscription.status if self.subscription is not None else ""

    def of_kind(self, kind: str) -> list[TimelineEvent]:
        return [event for event in self.events if event.kind == kind]


class _RolledBack(Exception):
    """Raised at the end of a simulation so that its transaction is rolled back, carrying what it found."""

    def __init__(self, timeline: SimulationTimeline) -> None:
        super().__init__("simulation rolled back")
        self.timeline = timeline


def billing_simulate(
    *, customer_id: int, months: int, as_of: date | None = None, pay: str = "on_time"
) -> SimulationTimeline:
    """Simulate `months` months of the customer's billing from the Asia/Seoul day `as_of` (today by default) up to
    the same day `months` later (excluded); nothing is written. 400 `invalid_months` outside 1..MAX_MONTHS,
    400 `invalid_pay` for a mode other than "on_time" or "never", 404 `not_found` for an unknown customer.

    Reads and locks only the customer's rows; needs no permission (it changes nothing).
    """
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ApplicationError(
            "invalid_months",
            f"months must be a whole number from 1 to {MAX_MONTHS}.",
            fields={"months": [f"From 1 to {MAX_MONTHS}."]},
        )
    if pay not in PAY_CHOICES:
        raise ApplicationError(
            "invalid_pay", f"pay must be one of {', '.join(PAY_CHOICES)}.", fields={"pay": ["Unknown value."]}
        )
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise ApplicationError("not_found", f"No customer {customer_id}.", status_code=404)
    start = as_of or billing_date(timezone.now())
    timeline = SimulationTimeline(customer_id=customer.pk, as_of=start, until=add_months(start, months), pay=pay)
    try:
        with transaction.atomic():
            _simulate(customer, timeline)
            raise _RolledBack(timeline)
    except _RolledBack as rolled_back:
        return rolled_back.timeline


def _moment(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=BILLING_TIME_ZONE)


def _simulate(customer: Customer, timeline: SimulationTimeline) -> None:
    seen = _Seen.of(customer)
    day = timeline.as_of
    while day < timeline.until:
        issued = _renewals(customer, day, timeline)
        _dunning(customer, day, timeline)
        renewal_notices_queue(as_of=day, customer_id=customer.pk)
        if timeline.pay == "on_time":
            _pay(issued, day)
        timeline.events.extend(seen.changes(day))
        day += timedelta(days=1)
    timeline.invoices = seen.invoices_now()
    timeline.subscriptions = [
        SimulatedSubscription(
            id=subscription.pk,
            plan=subscription.plan.slug,
            billing_period=subscription.billing_period,
            status=subscription.status,
            quantity=subscription.quantity,
            price_amount=subscription.price_amount,
            current_period_start=subscription.current_period_start,
            current_period_end=subscription.current_period_end,
            cancel_at_period_end=subscription.cancel_at_period_end,
            cancellation_reason=subscription.cancellation_reason,
        )
        for subscription in Subscription.objects.filter(customer=customer).select_related("plan").order_by("id")
    ]


def _failure(timeline: SimulationTimeline, day: date, error: Exception) -> None:
    message = f"{error.code}: {error.message}" if isinstance(error, ApplicationError) else repr(error)
    timeline.events.append(TimelineEvent(day=day, kind=EventKind.FAILURE, detail=message))


def _renewals(customer: Customer, day: date, timeline: SimulationTimeline) -> list[Invoice]:
    """The renewal run of `day` for this customer (billing.services.renewals, one savepoint per subscription)."""
    issued: list[Invoice] = []
    for subscription in subscriptions_to_process(as_of=day).filter(customer=customer):
        try:
            outcome = subscription_renew(subscription=subscription, as_of=day, now=_moment(day, RENEWALS_AT))
        except Exception as error:  # the production run goes on too; the timeline says what failed
            _failure(timeline, day, error)
        else:
            issued.extend(outcome.invoices)
    return issued


def _dunning(customer: Customer, day: date, timeline: SimulationTimeline) -> None:
    """The dunning run of `day` for this customer (billing.services.dunning.dunning_run, one invoice at a time)."""
    for invoice in invoices_to_dun(as_of=day).filter(customer=customer):
        try:
            invoice_dunning_step(invoice=invoice, as_of=day, now=_moment(day, DUNNING_AT))
        except Exception as error:
            _failure(timeline, day, error)


def _pay(issued: list[Invoice], day: date) -> None:
    """The customer transfers what each invoice issued today asks, the same day."""
    moment = _moment(day, PAYMENT_AT)
    for invoice in issued:
        fresh = Invoice.objects.get(pk=invoice.pk)
        if fresh.status not in INVOICE_PAYABLE_STATUSES or fresh.amount_remaining <= 0:
            continue
        payment_record(
            invoice=fresh,
            amount=fresh.amount_remaining,
            method=PaymentMethod.BANK_TRANSFER,
            note="simulated",
            received_at=moment,
            now=moment,
        )
        # What the payment's commit would trigger (billing.services.subscription_states): run here, as nothing
        # commits in a simulation.
        subscription_invoice_paid(invoice=fresh, now=moment)


@dataclass
class _Seen:
    """The customer's billing rows as last read, to tell what a simulated day changed."""

    customer: Customer
    invoices: dict[int, str]
    payments: set[int]
    subscriptions: dict[int, tuple[str, bool, str, str, int, date]]
    steps: set[int]
    emails: set[int]
    first_email: int
    invoices_before: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, customer: Customer) -> "_Seen":
        last_email = Email.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        seen = cls(customer, {}, set(), {}, set(), set(), last_email)
        seen.changes(date.min)  # the starting state: no events
        seen.invoices_before = set(seen.invoices)
        return seen

    def changes(self, day: date) -> list[TimelineEvent]:
        """What changed since the last read, as events of `day` (and remember the new state)."""
        events = self._invoices(day) + self._payments(day) + self._subscriptions(day) + self._steps(day)
        return events + self._emails(day)

    def _invoices(self, day: date) -> list[TimelineEvent]:
        events: list[TimelineEvent] = []
        rows = Invoice.objects.filter(customer=self.customer).filter(issue_date__isnull=False).order_by("id")
        for invoice in rows.select_related("subscription_link"):
            before = self.invoices.get(invoice.pk)
            self.invoices[invoice.pk] = invoice.status
            link = getattr(invoice, "subscription_link", None)
            if before is None:
                events.append(
                    TimelineEvent(
                        day=day,
                        kind=EventKind.INVOICE_ISSUED,
                        subscription_id=link.subscription_id if link else None,
                        invoice_number=invoice.number or "",
                        amount=invoice.subtotal,
                        tax=invoice.tax,
                        total=invoice.total,
                        currency=invoice.currency,
                        after=invoice.status,
                        detail=_period_text(link),
                    )
                )
            elif before != invoice.status and invoice.amount_remaining > 0:
                events.append(
                    TimelineEvent(
                        day=day,
                        kind=EventKind.INVOICE_STATUS,
                        invoice_number=invoice.number or "",
                        total=invoice.total,
                        currency=invoice.currency,
                        before=before,
                        after=invoice.status,
                    )
                )
        return events

    def _payments(self, day: date) -> list[TimelineEvent]:
        events: list[TimelineEvent] = []
        for payment in Payment.objects.filter(customer=self.customer).select_related("invoice").order_by("id"):
            if payment.pk in self.payments:
                continue
            self.payments.add(payment.pk)
            events.append(
                TimelineEvent(
                    day=day,
                    kind=EventKind.PAYMENT,
                    invoice_number=payment.invoice.number or "",
                    amount=payment.amount,
                    currency=payment.currency,
                    after=payment.status,
                    detail=payment.method,
                )
            )
        return events

    def _subscriptions(self, day: date) -> list[TimelineEvent]:
        events: list[TimelineEvent] = []
        for subscription in Subscription.objects.filter(customer=self.customer).select_related("plan").order_by("id"):
            now = (
                subscription.status,
                subscription.cancel_at_period_end,
                subscription.plan.slug,
                subscription.billing_period,
                subscription.quantity,
                subscription.current_period_end,
            )
            before = self.subscriptions.get(subscription.pk)
            self.subscriptions[subscription.pk] = now
            if before is None or before == now:
                continue
            if before[0] != now[0]:
                events.append(
                    TimelineEvent(
                        day=day,
                        kind=EventKind.SUBSCRIPTION_STATUS,
                        subscription_id=subscription.pk,
                        before=before[0],
                        after=now[0],
                        detail=subscription.cancellation_reason if now[0] == "canceled" else "",
                    )
                )
            names = ("status", "cancel_at_period_end", "plan", "billing_period", "quantity", "current_period_end")
            for name, old, new in list(zip(names, before, now, strict=True))[1:]:
                if old != new:
                    events.append(
                        TimelineEvent(
                            day=day,
                            kind=EventKind.SUBSCRIPTION_CHANGE,
                            subscription_id=subscription.pk,
                            before=str(old),
                            after=str(new),
                            detail=name,
                        )
                    )
        return events

    def _steps(self, day: date) -> list[TimelineEvent]:
        events: list[TimelineEvent] = []
        steps = DunningStep.objects.filter(invoice__customer=self.customer).select_related("invoice").order_by("id")
        for step in steps:
            if step.pk in self.steps:
                continue
            self.steps.add(step.pk)
            events.append(
                TimelineEvent(
                    day=day,
                    kind=EventKind.DUNNING_STEP,
                    subscription_id=step.subscription_id,
                    invoice_number=step.invoice.number or "",
                    total=step.invoice.amount_remaining,
                    currency=step.invoice.currency,
                    after=step.action,
                    detail=f"step {step.step}, {step.days_after_due} days after due"
                    + (", card charged again" if step.provider_retry else ""),
                )
            )
        return events

    def _emails(self, day: date) -> list[TimelineEvent]:
        events: list[TimelineEvent] = []
        emails = Email.objects.filter(user_id=self.customer.user_id, pk__gt=self.first_email).order_by("id")
        grouped: dict[tuple[str, str, str, str], list[str]] = {}
        for email in emails:
            if email.pk in self.emails:
                continue
            self.emails.add(email.pk)
            key = (email.kind, email.object_type, email.object_id, email.occurrence)
            grouped.setdefault(key, []).append(email.to_address)
        for (kind, object_type, object_id, _occurrence), recipients in grouped.items():
            events.append(
                TimelineEvent(
                    day=day,
                    kind=EventKind.EMAIL,
                    email_kind=kind,
                    detail=f"{object_type} {object_id} to {', '.join(recipients)}",
                )
            )
        return events

    def invoices_now(self) -> list[SimulatedInvoice]:
        """Every invoice issued during the simulation (those the customer had before are left out)."""
        found = []
        rows = (
            Invoice.objects.filter(customer=self.customer)
            .filter(issue_date__isnull=False)
            .exclude(pk__in=self.invoices_before)
        )
        for invoice in rows.select_related("subscription_link").order_by("issue_date", "id"):
            link: SubscriptionInvoice | None = getattr(invoice, "subscription_link", None)
            if invoice.issue_date is None:
                continue
            found.append(
                SimulatedInvoice(
                    number=invoice.number or "",
                    issue_date=invoice.issue_date,
                    due_date=invoice.due_date,
                    period_start=link.period_start if link else None,
                    period_end=link.period_end if link else None,
                    reason=link.reason if link else "",
                    subtotal=invoice.subtotal,
                    tax=invoice.tax,
                    total=invoice.total,
                    currency=invoice.currency,
                    status=invoice.status,
                    amount_paid=invoice.amount_paid,
                )
            )
        return found


def _period_text(link: SubscriptionInvoice | None) -> str:
    if link is None:
        return ""
    return f"{link.reason} {link.period_start} – {link.period_end - timedelta(days=1)}"
