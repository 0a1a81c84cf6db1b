"""factory-boy factories of the billing tests. Money is in integer minor units (KRW has none: 99_000 is ₩99,000).

Drafts are plain rows; everything past draft goes through the real services, because database triggers
guard issued invoices: `InvoiceFactory(status=InvoiceStatus.OPEN)` finalizes the draft with
`invoice_finalize` (number, dates, buyer snapshot), PAID pays it by bank transfer with `payment_record`,
VOID and UNCOLLECTIBLE use `invoice_void` / `invoice_mark_uncollectible`. A succeeded `PaymentFactory`
payment is recorded by `payment_record` (or `payment_record_bank_transfer` when `recorded_by` is given).
"""

from datetime import timedelta
from typing import Any

import factory
from django.conf import settings
from django.utils import timezone
from djstripe import models as djstripe_models
from factory.django import DjangoModelFactory

from billing.enums import (
    BalanceEntryKind,
    ChargeModel,
    InvoiceStatus,
    Language,
    MetricAggregation,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    TaxTreatment,
)
from billing.models import (
    BillableMetric,
    Customer,
    CustomerBalanceEntry,
    IdempotencyKey,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    Order,
    OrderItem,
    Payment,
    PlanCharge,
    PlanPrice,
    StripeWebhookEvent,
    SubscribeAttempt,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPlan,
    UsageRollup,
)
from billing.models.subscriptions import SubscriptionInvoiceReason
from billing.money import vat_amount
from billing.periods import add_months, billing_date
from billing.services.invoices import invoice_finalize, invoice_mark_uncollectible, invoice_void
from billing.services.numbering import billing_today
from billing.services.payments import payment_record, payment_record_bank_transfer
from billing.tax import vat_rate_now
from billing_site.jobs.models import Job
from storage.tests.factories import UserFactory

from .helpers import staff_group

__all__ = [
    "BillableMetricFactory",
    "CustomerFactory",
    "IdempotencyKeyFactory",
    "InvoiceFactory",
    "InvoiceLineFactory",
    "InvoiceNumberSequenceFactory",
    "OrderFactory",
    "OrderItemFactory",
    "PaymentFactory",
    "PlanChargeFactory",
    "StaffUserFactory",
    "StripeWebhookEventFactory",
    "SubscriptionFactory",
    "SubscriptionInvoiceFactory",
    "SubscriptionPlanFactory",
    "UsageRollupFactory",
    "UserFactory",
    "WebhookEventTriggerFactory",
]


class CustomerFactory(DjangoModelFactory[Customer]):
    """The billing profile of a new user, as `customer_get_or_create` makes it; `business=True`: a Korean company."""

    class Meta:
        model = Customer
        skip_postgeneration_save = True

    class Params:
        business = factory.Trait(
            display_name="주식회사 테스트상사",
            business_registration_number="2208162517",
            address="서울특별시 중구 세종대로 110",
        )

    user = factory.SubFactory(UserFactory)
    display_name = factory.LazyAttribute(lambda o: o.user.get_full_name() or o.user.get_username())
    email = factory.LazyAttribute(lambda o: o.user.email)
    preferred_language = Language.KOREAN
    currency = "KRW"
    tax_treatment = TaxTreatment.TAXABLE
    credit_balance = 0

    @factory.post_generation
    def opening_entry(obj: Customer, create: bool, extracted: Any, **kwargs: Any) -> None:
        """A credit balance given to the factory is an `opening` ledger entry, so the ledger sums to it (the
        database checks that at commit)."""
        if create and obj.credit_balance:
            CustomerBalanceEntry.objects.create(
                customer=obj,
                currency=obj.currency,
                amount=obj.credit_balance,
                balance_after=obj.credit_balance,
                kind=BalanceEntryKind.OPENING,
            )


class StaffUserFactory(UserFactory):
    """A staff member (admin login) in a group made by the migrations: `group="support"` or `"billing staff"`.

    What staff may do is their group's permissions, not `is_staff`; `is_staff=False` keeps the permissions
    without the admin login.
    """

    is_staff = True

    @factory.post_generation
    def group(obj: Any, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if extracted:
            obj.groups.add(staff_group(extracted))


def _vat(o: Any) -> int:
    treatment = o.customer.tax_treatment
    return vat_amount(
        supply_amount=o.subtotal, tax_treatment=treatment, rate_basis_points=vat_rate_now(tax_treatment=treatment)
    )


class OrderFactory(DjangoModelFactory[Order]):
    """A pending order of one item; VAT from the customer's tax treatment, as `order_create` computes it.

    `item=None` leaves the item out (add OrderItemFactory rows that sum to `subtotal` yourself).
    """

    class Meta:
        model = Order
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    status = OrderStatus.PENDING
    currency = factory.SelfAttribute("customer.currency")
    description = factory.Sequence(lambda n: f"주문 {n}")
    subtotal = 99_000
    tax = factory.LazyAttribute(_vat)
    total = factory.LazyAttribute(lambda o: o.subtotal + o.tax)
    item = factory.RelatedFactory("billing.tests.factories.OrderItemFactory", factory_related_name="order")


class OrderItemFactory(DjangoModelFactory[OrderItem]):
    """One item of an order, by default the whole subtotal of a new order."""

    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory, item=None)
    position = 0
    description = factory.Sequence(lambda n: f"상품 {n}")
    quantity = 1
    unit_amount = factory.LazyAttribute(lambda o: o.order.subtotal // o.quantity)
    amount = factory.LazyAttribute(lambda o: o.quantity * o.unit_amount)


class InvoiceFactory(DjangoModelFactory[Invoice]):
    """A draft invoice of one line (`line=None`: none); pass `status=` to have the services move it on.

    `status=InvoiceStatus.OPEN` (or PAID, VOID, UNCOLLECTIBLE) needs create(), not build();
    `status__now=<aware datetime>` is the finalization moment (its Asia/Seoul day dates and numbers it).
    """

    class Meta:
        model = Invoice
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    currency = factory.SelfAttribute("customer.currency")
    description = ""
    subtotal = 99_000
    tax = factory.LazyAttribute(_vat)
    total = factory.LazyAttribute(lambda o: o.subtotal + o.tax)
    # Priced as invoice_draft_create prices a draft: the customer's treatment at today's rate (billing.tax).
    tax_treatment = factory.SelfAttribute("customer.tax_treatment")
    vat_rate_basis_points = factory.LazyAttribute(lambda o: vat_rate_now(tax_treatment=o.tax_treatment))
    amount_paid = 0
    amount_remaining = factory.LazyAttribute(lambda o: o.total - o.amount_paid)
    days_until_due = factory.LazyFunction(lambda: settings.BILLING_INVOICE_DUE_DAYS)
    # Declared before `status`: post-generation runs in declaration order, and finalizing needs the line.
    line = factory.RelatedFactory("billing.tests.factories.InvoiceLineFactory", factory_related_name="invoice")

    @factory.post_generation
    def status(obj: Invoice, create: bool, extracted: str | None, **kwargs: Any) -> None:
        target = extracted or InvoiceStatus.DRAFT
        if target == InvoiceStatus.DRAFT:
            return
        if not create:
            raise ValueError("Only a saved invoice can be issued: use InvoiceFactory.create(status=...).")
        invoice_finalize(invoice=obj, now=kwargs.get("now"))
        obj.refresh_from_db()
        if target == InvoiceStatus.PAID and obj.status != InvoiceStatus.PAID:
            payment_record(invoice=obj, amount=obj.amount_remaining, method=PaymentMethod.BANK_TRANSFER)
        elif target == InvoiceStatus.VOID:
            invoice_void(invoice=obj, actor=None)
        elif target == InvoiceStatus.UNCOLLECTIBLE:
            invoice_mark_uncollectible(invoice=obj, actor=None)
        elif target != InvoiceStatus.OPEN:
            raise ValueError(f"InvoiceFactory cannot make a {target!r} invoice.")
        obj.refresh_from_db()


class InvoiceLineFactory(DjangoModelFactory[InvoiceLine]):
    """One line of a draft invoice, by default the whole subtotal of a new draft (lines of issued ones are frozen)."""

    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory, line=None)
    position = 0
    description = factory.Sequence(lambda n: f"Pro 플랜 (월간) {n}")
    quantity = 1
    unit_amount = factory.LazyAttribute(lambda o: o.invoice.subtotal // o.quantity)
    amount = factory.LazyAttribute(lambda o: o.quantity * o.unit_amount)


class InvoiceNumberSequenceFactory(DjangoModelFactory[InvoiceNumberSequence]):
    """The numbering counter of a Seoul day (today by default) after `last_number` invoices were issued on it."""

    class Meta:
        model = InvoiceNumberSequence

    day = factory.LazyFunction(billing_today)
    last_number = 0


class PaymentFactory(DjangoModelFactory[Payment]):
    """A succeeded bank transfer paying the rest of a new open invoice, recorded through the payment service.

    `recorded_by=<staff user>` goes through `payment_record_bank_transfer` (which checks billing.add_payment).
    `succeeded_at=<aware datetime>` dates the recorded payment back (the service stamps the present moment).
    Any other `status` (pending, failed, ...) is a plain row: no money moves, the invoice is untouched.
    """

    class Meta:
        model = Payment

    invoice = factory.SubFactory(InvoiceFactory, status=InvoiceStatus.OPEN)
    customer = factory.SelfAttribute("invoice.customer")
    amount = factory.LazyAttribute(lambda o: o.invoice.amount_remaining)
    currency = factory.SelfAttribute("invoice.currency")
    method = PaymentMethod.BANK_TRANSFER
    status = PaymentStatus.SUCCEEDED
    provider_reference = factory.Sequence(lambda n: f"TRX-{n:06d}")
    note = ""
    recorded_by = None
    received_at = None
    succeeded_at = None

    @classmethod
    def _create(cls, model_class: type[Payment], *args: Any, **kwargs: Any) -> Payment:
        if kwargs["status"] != PaymentStatus.SUCCEEDED:
            return super()._create(model_class, *args, **kwargs)
        succeeded_at = kwargs.pop("succeeded_at")
        invoice: Invoice = kwargs["invoice"]
        if kwargs["customer"].pk != invoice.customer_id:
            raise ValueError("A payment's customer is its invoice's customer.")
        money = {"invoice": invoice, "amount": kwargs["amount"], "currency": kwargs["currency"]}
        details = {"note": kwargs["note"], "received_at": kwargs["received_at"]}
        if kwargs["recorded_by"] is not None and kwargs["method"] == PaymentMethod.BANK_TRANSFER:
            payment = payment_record_bank_transfer(
                **money, **details, actor=kwargs["recorded_by"], reference=kwargs["provider_reference"]
            )
        else:
            payment = payment_record(
                **money,
                **details,
                method=kwargs["method"],
                provider_reference=kwargs["provider_reference"],
                recorded_by=kwargs["recorded_by"],
            )
        invoice.refresh_from_db()  # the service changed the invoice's paid amounts (and maybe its status)
        if succeeded_at is not None:
            Payment.objects.filter(pk=payment.pk).update(succeeded_at=succeeded_at)
            payment.refresh_from_db()
        return payment


class SubscriptionPlanFactory(DjangoModelFactory[SubscriptionPlan]):
    """An active monthly/annual plan like those of billing/plans.yaml (annual = 10 x monthly, VAT excluded)."""

    class Meta:
        model = SubscriptionPlan
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"플랜 {n}")
    name_en = factory.Sequence(lambda n: f"Plan {n}")
    currency = "KRW"
    monthly_price = 29_000
    annual_price = factory.LazyAttribute(lambda o: o.monthly_price * 10)
    features = factory.LazyFunction(lambda: ["프로젝트 5개", "저장 공간 10GB"])
    features_en = factory.LazyFunction(lambda: ["5 projects", "10 GB storage"])
    max_projects = 5
    is_active = True
    display_order = factory.Sequence(lambda n: n)

    @factory.post_generation
    def prices(
        obj: SubscriptionPlan, create: bool, extracted: dict[str, tuple[int, int]] | None, **kwargs: Any
    ) -> None:
        """The plan's default price as its PlanPrice row (seed_plans and the admin always keep one), plus any
        `prices={"USD": (7_900, 79_000)}` given: (monthly, annual) minor units per currency."""
        if not create:
            return
        wanted = {obj.currency: (obj.monthly_price, obj.annual_price), **(extracted or {})}
        for currency, (monthly, annual) in wanted.items():
            PlanPrice.objects.update_or_create(
                plan=obj, currency=currency, defaults={"monthly_price": monthly, "annual_price": annual}
            )


class SubscriptionFactory(DjangoModelFactory[Subscription]):
    """A subscription row in any state, its period from `started` (a date), for data the services made long ago.

    Use `subscription_create` for a subscription a test talks about as a new one; this factory writes the row
    as it would look later (`status="canceled"`, `canceled_at`/`ended_at`, `replaces=`...), with no invoices.
    """

    class Meta:
        model = Subscription
        exclude = ("started",)

    customer = factory.SubFactory(CustomerFactory)
    plan = factory.SubFactory(SubscriptionPlanFactory)
    billing_period = "monthly"
    status = "active"
    currency = factory.SelfAttribute("plan.currency")
    price_amount = factory.LazyAttribute(
        lambda o: o.plan.monthly_price if o.billing_period == "monthly" else o.plan.annual_price
    )
    started = factory.LazyFunction(lambda: billing_date(timezone.now()))
    billing_cycle_anchor = factory.SelfAttribute("started")
    current_period_start = factory.SelfAttribute("started")
    current_period_end = factory.LazyAttribute(
        lambda o: add_months(o.started, 1 if o.billing_period == "monthly" else 12)
    )


class IdempotencyKeyFactory(DjangoModelFactory[IdempotencyKey]):
    """A stored Idempotency-Key of a POST, in progress unless `state="completed"` with a response."""

    class Meta:
        model = IdempotencyKey

    user = factory.SubFactory(UserFactory)
    key = factory.Sequence(lambda n: f"key-{n}")
    request_method = "POST"
    request_path = "/api/payment/invoice"
    request_fingerprint = "0" * 64
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=24))


class StripeWebhookEventFactory(DjangoModelFactory[StripeWebhookEvent]):
    """A verified Stripe webhook delivery as the webhook view stores it, not processed yet."""

    class Meta:
        model = StripeWebhookEvent

    stripe_event_id = factory.Sequence(lambda n: f"evt_test_{n:06d}")
    event_type = "invoice.paid"
    stripe_created_at = factory.LazyFunction(timezone.now)
    payload = factory.LazyFunction(dict)


class JobFactory(DjangoModelFactory[Job]):
    """A background job that failed its every attempt (an invoice PDF that never rendered): what staff retry."""

    class Meta:
        model = Job

    kind = "billing.invoice_pdf_render"
    key = factory.Sequence(lambda n: f"invoice_pdf:0:{n}")
    payload = factory.LazyFunction(lambda: {"invoice_id": 0})
    status = "failed"
    attempts = 10


class SubscribeAttemptFactory(DjangoModelFactory[SubscribeAttempt]):
    """A card subscribe that ended compensated (the Stripe side undone): what the admin lists."""

    class Meta:
        model = SubscribeAttempt

    customer = factory.SubFactory(CustomerFactory)
    plan = factory.SubFactory(SubscriptionPlanFactory)
    billing_period = "monthly"
    provider = "stripe"
    status = "compensated"
    currency = "KRW"
    total = 108_900


class SubscriptionInvoiceFactory(DjangoModelFactory[SubscriptionInvoice]):
    """The link billing one period of a subscription to an invoice, as the services write it (a renewal by default).

    The invoice is a new draft of the subscription's customer; the period is the subscription's current one.
    """

    class Meta:
        model = SubscriptionInvoice

    subscription = factory.SubFactory(SubscriptionFactory)
    invoice = factory.SubFactory(InvoiceFactory, customer=factory.SelfAttribute("..subscription.customer"))
    reason = SubscriptionInvoiceReason.CYCLE
    period_start = factory.SelfAttribute("subscription.current_period_start")
    period_end = factory.SelfAttribute("subscription.current_period_end")


class WebhookEventTriggerFactory(DjangoModelFactory[djstripe_models.WebhookEventTrigger]):
    """A webhook delivery as dj-stripe records it (its `WebhookEventTrigger`), verified unless `valid=False`."""

    class Meta:
        model = djstripe_models.WebhookEventTrigger

    remote_ip = "127.0.0.1"
    headers = factory.LazyFunction(lambda: {"Content-Type": "application/json"})
    body = "{}"
    valid = True


class BillableMetricFactory(DjangoModelFactory[BillableMetric]):
    """A metered metric like those of billing/plans.yaml: counted API calls unless `aggregation=` says otherwise."""

    class Meta:
        model = BillableMetric
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"metric_{n}")
    name = factory.Sequence(lambda n: f"지표 {n}")
    name_en = factory.Sequence(lambda n: f"Metric {n}")
    unit = "건"
    unit_en = "calls"
    aggregation = MetricAggregation.COUNT
    is_active = True


class PlanChargeFactory(DjangoModelFactory[PlanCharge]):
    """What a plan charges for a metric: ₩10 per unit over 1,000 included unless told otherwise."""

    class Meta:
        model = PlanCharge

    plan = factory.SubFactory(SubscriptionPlanFactory)
    metric = factory.SubFactory(BillableMetricFactory)
    charge_model = ChargeModel.PER_UNIT
    included_quantity = 1_000
    unit_amount = 10
    package_size = 1
    tiers = factory.LazyFunction(list)
    display_order = factory.Sequence(lambda n: n)


class UsageRollupFactory(DjangoModelFactory[UsageRollup]):
    """One hour of a customer's usage of a metric as ingestion leaves it, written directly (no events behind it):
    `event_count` events summing to `value_sum`, the largest and latest value `value_max`, at the start of the
    current UTC hour unless `hour=` (a whole UTC hour) is given."""

    class Meta:
        model = UsageRollup

    customer = factory.SubFactory(CustomerFactory)
    metric = factory.SubFactory(BillableMetricFactory)
    hour = factory.LazyFunction(lambda: timezone.now().replace(minute=0, second=0, microsecond=0))
    event_count = 1
    value_sum = factory.SelfAttribute("event_count")
    value_max = 1
    latest_value = factory.SelfAttribute("value_max")
    latest_at = factory.SelfAttribute("hour")
    updated_at = factory.LazyFunction(timezone.now)
