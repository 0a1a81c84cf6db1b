"""Random sequences of subscribe / change plan / checkout / cancel / pay (in full, in part, or not) / renew keep
the billing invariants. A plan change away from a partly paid period is refused (409
`replaced_invoice_partly_paid`) exactly then, and writes nothing.

Invariants: at most one live subscription per customer; every invoice's subtotal is the sum of its lines,
its tax the truncated VAT, its total subtotal + tax; credit balances never negative and equal to the
credits granted minus the credit used; credit granted never exceeds money received, and an invoice is paid
only by money (or by credit, itself from money); invoice numbers unique and gapless per day; each
subscription's billed periods contiguous and ending where its current period ends.
"""

import itertools
import uuid
from collections import defaultdict
from datetime import date, timedelta
from fractions import Fraction

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from billing.enums import INVOICE_PAYABLE_STATUSES, InvoiceStatus, PaymentStatus
from billing.models import Customer, Invoice, InvoiceLine, Payment
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import LIVE_STATUSES, CancellationReason, Subscription
from billing.money import vat_amount
from billing.periods import billing_date
from billing.services.checkout import checkout_create
from billing.services.payments import payment_record
from billing.services.plans import plan_file_load, plans_sync
from billing.services.renewals import subscriptions_renew_all
from billing.services.subscriptions import (
    LINE_TEXT,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_invoice_paid,
)
from billing.tests.factories import CustomerFactory
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError

CUSTOMERS = 2
SLUGS = ["free", "starter", "pro", "enterprise"]
PERIODS = ["monthly", "annual"]
BALANCE_LINE_TEXTS = set(LINE_TEXT["balance"].values())


class SubscriptionMachine(RuleBasedStateMachine):
    """One Hypothesis example = one savepoint, rolled back at teardown."""

    @initialize()
    def open_books(self) -> None:
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        plans_sync(plan_file=plan_file_load())
        self.plans = {plan.slug: plan for plan in SubscriptionPlan.objects.all()}
        self.day = date(2025, 1, 31)  # a month end, so short months are exercised
        self.customers: list[Customer] = []
        run = uuid.uuid4().hex[:8]
        for index in range(CUSTOMERS):
            self.customers.append(CustomerFactory.create(user__username=f"machine-{run}-{index}"))
        self.credited: dict[int, int] = defaultdict(int)

    def teardown(self) -> None:
        if hasattr(self, "atomic"):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    @property
    def now(self):
        return seoul(self.day)

    def live(self, who: int) -> Subscription | None:
        return Subscription.objects.filter(customer=self.customers[who], status__in=LIVE_STATUSES).first()

    @staticmethod
    def partly_paid(subscription: Subscription | None) -> bool:
        """The current period's invoice has money on it and is still owed: a plan change must be refused."""
        if subscription is None:
            return False
        link = (
            subscription.period_invoices.select_related("invoice")
            .filter(period_start=subscription.current_period_start)
            .first()
        )
        if link is None:
            return False
        invoice = link.invoice
        return invoice.status in INVOICE_PAYABLE_STATUSES and 0 < invoice.amount_paid < invoice.total

    def refused_unchanged(self, who: int, before: Subscription, books: tuple) -> None:
        """A refused plan change wrote nothing: the same subscription, invoices and balance."""
        assert self.books(who) == books
        live = self.live(who)
        assert live is not None
        assert live.pk == before.pk

    def books(self, who: int) -> tuple:
        customer = self.customers[who]
        return (
            list(Subscription.objects.filter(customer=customer).order_by("pk").values_list("pk", "status", "plan")),
            list(
                Invoice.objects.filter(customer=customer)
                .order_by("pk")
                .values_list("pk", "number", "status", "amount_paid")
            ),
            Customer.objects.get(pk=customer.pk).credit_balance,
        )

    # --- rules ------------------------------------------------------------------------------------------

    @rule(who=st.integers(0, CUSTOMERS - 1), slug=st.sampled_from(SLUGS), period=st.sampled_from(PERIODS))
    def subscribe(self, who: int, slug: str, period: str) -> None:
        before = self.live(who)
        partly_paid = self.partly_paid(before)
        books = self.books(who)
        try:
            started = subscription_create(
                customer=self.customers[who], plan=self.plans[slug], billing_period=period, now=self.now
            )
        except ApplicationError as error:
            assert before is not None
            if error.code == "replaced_invoice_partly_paid":
                assert partly_paid, error
                self.refused_unchanged(who, before, books)
                return
            assert error.code == "already_subscribed", error
            assert (before.plan.slug, before.billing_period) == (slug, period)
            return
        assert not partly_paid, "a plan change away from a partly paid period must be refused"
        self.credited[self.customers[who].pk] += started.credit_to_balance
        assert (started.replaced and started.replaced.pk) == (before and before.pk)

    @rule(who=st.integers(0, CUSTOMERS - 1), slug=st.sampled_from(SLUGS), period=st.sampled_from(PERIODS))
    def change_plan(self, who: int, slug: str, period: str) -> None:
        current = self.live(who)
        if current is None:
            return
        partly_paid = self.partly_paid(current)
        books = self.books(who)
        try:
            started = subscription_change_plan(
                subscription=current, plan=self.plans[slug], billing_period=period, now=self.now
            )
        except ApplicationError as error:
            if error.code == "replaced_invoice_partly_paid":
                assert partly_paid, error
                self.refused_unchanged(who, current, books)
                return
            assert error.code == "already_subscribed", error
            assert (current.plan.slug, current.billing_period) == (slug, period)
            return
        assert not partly_paid, "a plan change away from a partly paid period must be refused"
        self.credited[self.customers[who].pk] += started.credit_to_balance

    @rule(who=st.integers(0, CUSTOMERS - 1), slug=st.sampled_from(SLUGS), period=st.sampled_from(PERIODS))
    def checkout(self, who: int, slug: str, period: str) -> None:
        try:
            checkout_create(customer=self.customers[who], plan=self.plans[slug], billing_period=period, now=self.now)
        except ApplicationError as error:
            assert error.code in {"already_subscribed", "subscription_exists", "nothing_to_pay"}

    @rule(who=st.integers(0, CUSTOMERS - 1), immediately=st.booleans())
    def cancel(self, who: int, immediately: bool) -> None:
        current = self.live(who)
        if current is not None:
            canceled = subscription_cancel(subscription=current, immediately=immediately, now=self.now)
            assert canceled.status == "canceled" or canceled.cancel_at_period_end

    @rule(who=st.integers(0, CUSTOMERS - 1))
    def pay_oldest_invoice(self, who: int) -> None:
        invoice = (
            Invoice.objects.filter(customer=self.customers[who], status__in=INVOICE_PAYABLE_STATUSES)
            .order_by("id")
            .first()
        )
        if invoice is not None:
            pay(invoice, now=self.now)
            assert Invoice.objects.get(pk=invoice.pk).status == "paid"

    @rule(who=st.integers(0, CUSTOMERS - 1), newest=st.booleans(), percent=st.sampled_from([1, 50, 99, 100]))
    def pay_part_of_a_subscription_invoice(self, who: int, newest: bool, percent: int) -> None:
        """A bank transfer for part of an invoice, or for the newest one first; the rest stays unpaid.

        A plan change away from a period whose invoice is partly paid is refused (409
        `replaced_invoice_partly_paid`) until the rest is paid. Invoices of orders (checkout) are paid only in full
        by pay_oldest_invoice: an incomplete subscription whose invoice is partly paid cannot be canceled (its
        invoice cannot be voided), a known gap.
        """
        payable = Invoice.objects.filter(
            customer=self.customers[who], status__in=INVOICE_PAYABLE_STATUSES, order__isnull=True
        ).order_by("id")
        invoice = payable.last() if newest else payable.first()
        if invoice is None:
            return
        amount = max(1, invoice.amount_remaining * percent // 100)
        payment_record(invoice=invoice, amount=amount, method="bank_transfer")
        if Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID:
            subscription_invoice_paid(invoice=invoice, now=self.now)

    @rule(days=st.integers(1, 70))
    def renew_later(self, days: int) -> None:
        self.day += timedelta(days=days)
        summary = subscriptions_renew_all(as_of=self.day, now=self.now)
        assert summary.failures == []
        again = subscriptions_renew_all(as_of=self.day, now=self.now)
        assert again.invoices == 0  # the same day twice bills nothing more

    # --- invariants -------------------------------------------------------------------------------------

    @invariant()
    def at_most_one_live_subscription_per_customer(self) -> None:
        for customer in self.customers:
            assert Subscription.objects.filter(customer=customer, status__in=LIVE_STATUSES).count() <= 1

    @invariant()
    def invoice_totals_are_the_sum_of_their_lines(self) -> None:
        for invoice in Invoice.objects.filter(customer__in=self.customers).annotate(lines_sum=Sum("lines__amount")):
            assert invoice.subtotal == invoice.lines_sum
            assert invoice.tax == vat_amount(supply_amount=invoice.subtotal)
            assert invoice.total == invoice.subtotal + invoice.tax
            assert invoice.amount_paid + invoice.amount_remaining == invoice.total

    @invariant()
    def credit_balance_is_never_negative_and_adds_up(self) -> None:
        for customer in self.customers:
            balance = Customer.objects.get(pk=customer.pk).credit_balance
            used = -(
                InvoiceLine.objects.filter(invoice__customer=customer, description__in=BALANCE_LINE_TEXTS).aggregate(
                    total=Sum("amount")
                )["total"]
                or 0
            )
            assert balance >= 0
            assert balance == self.credited[customer.pk] - used

    @invariant()
    def credit_granted_never_exceeds_money_received(self) -> None:
        """From the database alone: credit granted <= money received, per customer, at every step.

        Money received: succeeded payments. Credit granted: every credit line on an invoice (pro rata credit,
        credit given back from a voided invoice, credit balance used) plus what is left on the balance, i.e. the
        credit lines plus everything ever added to the balance. Credit a plan change hands back from credit
        applied to the period it leaves (in full from a voided invoice, else its unused days) was counted when
        first granted, so it is taken off once: granted - handed back <= money received.
        """
        for customer in self.customers:
            money = sum(
                Payment.objects.filter(customer=customer, status=PaymentStatus.SUCCEEDED).values_list(
                    "amount", flat=True
                )
            )
            credit_lines = -sum(
                InvoiceLine.objects.filter(invoice__customer=customer, amount__lt=0).values_list("amount", flat=True)
            )
            granted = credit_lines + Customer.objects.get(pk=customer.pk).credit_balance
            handed_back = Fraction(0)
            for replaced in Subscription.objects.filter(
                customer=customer, cancellation_reason=CancellationReason.REPLACED
            ):
                link = (
                    replaced.period_invoices.select_related("invoice")
                    .filter(period_start=replaced.current_period_start)
                    .first()
                )
                used = -sum(link.invoice.lines.filter(amount__lt=0).values_list("amount", flat=True)) if link else 0
                if not used:
                    continue
                assert link is not None  # `used` is 0 without a link
                if link.invoice.status == InvoiceStatus.VOID:
                    handed_back += used
                else:
                    assert replaced.ended_at is not None
                    period = replaced.current_period
                    unused = period.unused_days(on=billing_date(replaced.ended_at))
                    handed_back += Fraction(used * unused, period.days)
            assert granted - handed_back <= money, (customer.pk, granted, handed_back, money)

    @invariant()
    def an_invoice_is_paid_only_by_money_or_credit(self) -> None:
        """A paid invoice's total (what is left after its credit lines) came in as money, to the minor unit."""
        for invoice in Invoice.objects.filter(customer__in=self.customers, status=InvoiceStatus.PAID):
            received = sum(invoice.payments.filter(status=PaymentStatus.SUCCEEDED).values_list("amount", flat=True))
            assert received == invoice.total == invoice.amount_paid, invoice

    @invariant()
    def invoice_numbers_are_unique_and_gapless_per_day(self) -> None:
        numbers = list(Invoice.objects.exclude(number=None).values_list("number", flat=True))
        assert len(numbers) == len(set(numbers))
        per_day: dict[str, list[int]] = defaultdict(list)
        for number in numbers:
            assert number is not None  # excluded above
            day, sequence = number.split("-")
            per_day[day].append(int(sequence))
        for sequences in per_day.values():
            assert sorted(sequences) == list(range(1, len(sequences) + 1))

    @invariant()
    def billed_periods_are_contiguous_up_to_the_current_one(self) -> None:
        for subscription in Subscription.objects.filter(customer__in=self.customers):
            periods = list(
                subscription.period_invoices.order_by("period_start").values_list("period_start", "period_end")
            )
            assert periods, f"subscription {subscription.pk} was never invoiced"
            for (_, previous_end), (start, _) in itertools.pairwise(periods):
                assert start == previous_end
            assert periods[0][0] == subscription.billing_cycle_anchor
            assert periods[-1] == (subscription.current_period_start, subscription.current_period_end)
            if subscription.status in {"active", "past_due"} and subscription.period_invoices.count() > 1:
                assert subscription.current_period_end > self.day  # renewed up to today


@pytest.mark.slow
@pytest.mark.django_db
def test_random_subscription_histories_keep_the_billing_invariants():
    run_state_machine_as_test(
        SubscriptionMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
