"""Random sequences of invoices (charges, credits and discounts), payments (card and bank, in part or in full),
credit notes (by amount, by lines or the rest; refunded or onto the balance), card refunds succeeding, failing or
refused as refunded already in the provider's dashboard, refunds made in that dashboard, staff balance adjustments,
voids and subscriptions paid with the credit balance keep the money invariants:

- every invoice: total - credited = paid - refunded + remaining, remaining >= 0, and each of them the sum of its
  documents (payments, credit notes, refunds pending or succeeded); a payable invoice still asks something;
- refunds never exceed payments, per payment and per invoice (pending and succeeded ones counted);
- the credit notes of an invoice take back at most its supply amount and its VAT, exactly both when it is credited
  in full, and their VAT is the one cumulative proportion; each note's split adds up to its total and matches its
  refunds;
- the ledger sums to each customer's balance, every `balance_after` is the running sum and never negative, and the
  balance plus the card and bank refunds (pending or succeeded) never exceed the money the customer paid plus
  what staff gave (opening balances, positive adjustments);
- invoice and credit note numbers are gapless per day;
- (issue 17) each run draws every customer's currency (KRW, USD, EUR, JPY): everything of a customer (invoices,
  credit notes, payments, refunds, balance entries, subscriptions) is in its currency, which never changes once
  fixed; an invoice's VAT is `vat_amount(subtotal, its treatment, its rate)`; a payment (400) or an invoice (409)
  asking another currency is refused as `currency_mismatch` and changes nothing.
"""

import itertools
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.db.models import F, Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from billing.enums import (
    INVOICE_PAYABLE_STATUSES,
    BalanceEntryKind,
    CreditSettlement,
    InvoiceLineKind,
    InvoiceStatus,
    PaymentMethod,
    PaymentStatus,
    RefundMethod,
    RefundStatus,
    TaxTreatment,
)
from billing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteNumberSequence,
    Customer,
    CustomerBalanceEntry,
    Invoice,
    InvoiceNumberSequence,
    Payment,
    Refund,
)
from billing.models.plans import SubscriptionPlan
from billing.models.subscriptions import LIVE_STATUSES, Subscription
from billing.providers.base import RemoteRefund, RemoteRefundItem
from billing.selectors.customers import customer_currency_fixed
from billing.services.balance import balance_adjust
from billing.services.credit_note_amounts import credited_tax
from billing.services.credit_notes import CreditLineInput, credit_note_issue, credit_note_issue_for_provider_refund
from billing.services.invoices import (
    InvoiceLineInput,
    invoice_issue,
    invoice_issue_requested,
    invoice_mark_uncollectible,
    invoice_void,
)
from billing.services.payments import payment_record
from billing.services.plans import plan_file_load, plans_sync
from billing.services.refunds import refund_fail, refund_match_provider_refunds, refund_succeed
from billing.services.subscriptions import subscription_create
from billing.tests.factories import CustomerFactory, StaffUserFactory
from billing.tests.helpers import seoul
from billing.tests.services.machine_currencies import (
    CURRENCIES,
    CurrencyWatch,
    invoice_vat_check,
    plan_prices_make_awkward,
)
from billing_site.errors import ApplicationError

CUSTOMERS = 3
PERCENTS = [1, 7, 10, 33, 50, 99, 100]
LIVE_REFUNDS = [RefundStatus.PENDING, RefundStatus.SUCCEEDED]
line_amounts = st.integers(1, 300_000)


class MoneyMachine(RuleBasedStateMachine):
    """One Hypothesis example = one savepoint over the staff and plan the test made, rolled back at teardown."""

    customers: list[Customer] = []
    staff: Any = None
    plan: SubscriptionPlan | None = None

    @initialize(currencies=st.lists(st.sampled_from(CURRENCIES), min_size=CUSTOMERS, max_size=CUSTOMERS))
    def open_books(self, currencies: list[str]) -> None:
        """The customers, each in its currency: one new, one with an opening balance (so its currency is fixed from
        the start), one zero-rated."""
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.day = date(2026, 11, 28)
        self.references = itertools.count(1)
        self.customers = [
            CustomerFactory.create(user__username="money-0", currency=currencies[0]),
            CustomerFactory.create(user__username="money-1", currency=currencies[1], credit_balance=50_000),
            CustomerFactory.create(
                user__username="money-2", currency=currencies[2], tax_treatment=TaxTreatment.ZERO_RATED
            ),
        ]
        self.watch = CurrencyWatch()

    def teardown(self) -> None:
        if hasattr(self, "atomic"):
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    @property
    def ids(self) -> list[int]:
        return [customer.pk for customer in self.customers]

    def reference(self, prefix: str) -> str:
        return f"{prefix}-{next(self.references)}"

    @staticmethod
    def invoice_of(pick: int, **filters: Any) -> Invoice | None:
        """One of the invoices of any customer: a few invoices get several payments and credit notes."""
        invoices = list(Invoice.objects.filter(**filters).order_by("pk"))
        return invoices[pick % len(invoices)] if invoices else None

    # --- rules ------------------------------------------------------------------------------------------

    @rule(
        who=st.integers(0, CUSTOMERS - 1),
        charges=st.lists(line_amounts, min_size=1, max_size=3),
        credit_percent=st.sampled_from([0, 0, 10, 100]),
        discount_percent=st.sampled_from([0, 0, 5, 50]),
    )
    def issue_invoice(self, who: int, charges: list[int], credit_percent: int, discount_percent: int) -> None:
        lines = [InvoiceLineInput(description=f"charge {amount}", unit_amount=amount) for amount in charges]
        charged = sum(charges)
        if credit_percent:  # a negative item line (a plan change's credit), at most the charges
            lines.append(InvoiceLineInput(description="credit", unit_amount=-(charged * credit_percent // 100)))
        if discount_percent and charged * discount_percent // 100:
            lines.append(
                InvoiceLineInput(
                    description="discount",
                    unit_amount=-(charged * discount_percent // 100),
                    kind=InvoiceLineKind.DISCOUNT,
                )
            )
        if sum(line.unit_amount for line in lines) < 0:
            return
        invoice = invoice_issue(customer=self.customers[who], lines=lines, currency=self.customers[who].currency)
        assert invoice.status == (InvoiceStatus.PAID if invoice.total == 0 else InvoiceStatus.OPEN)

    @rule(pick=st.integers(0, 20), percent=st.sampled_from(PERCENTS), card=st.booleans())
    def pay(self, pick: int, percent: int, card: bool) -> None:
        invoice = self.invoice_of(pick, status__in=INVOICE_PAYABLE_STATUSES)
        if invoice is None:
            return
        amount = max(1, invoice.amount_remaining * percent // 100)
        method = PaymentMethod.CARD if card else PaymentMethod.BANK_TRANSFER
        payment_record(invoice=invoice, amount=amount, method=method, provider_reference=self.reference("pay"))

    @rule(
        pick=st.integers(0, 20),
        mode=st.sampled_from(["amount", "lines", "rest"]),
        percent=st.sampled_from(PERCENTS),
        to_balance=st.booleans(),
    )
    def credit(self, pick: int, mode: str, percent: int, to_balance: bool) -> None:
        invoice = self.invoice_of(pick, status__in=[*INVOICE_PAYABLE_STATUSES, InvoiceStatus.PAID])
        self.credit_note(invoice, mode, percent, to_balance)

    @rule(
        pick=st.integers(0, 20),
        mode=st.sampled_from(["amount", "lines", "rest"]),
        percent=st.sampled_from(PERCENTS),
        to_balance=st.booleans(),
    )
    def credit_again(self, pick: int, mode: str, percent: int, to_balance: bool) -> None:
        """Another note of an invoice credited in part: where several notes must add up."""
        invoice = self.invoice_of(pick, amount_credited__gt=0, amount_credited__lt=F("total"))
        self.credit_note(invoice, mode, percent, to_balance)

    def credit_note(self, invoice: Invoice | None, mode: str, percent: int, to_balance: bool) -> None:
        if invoice is None:
            return
        creditable = invoice.total - invoice.amount_credited
        options: dict[str, Any] = {}
        if mode == "amount":
            options["amount"] = max(1, creditable * percent // 100)
        elif mode == "lines":
            taken = _sums(CreditNoteLine.objects.filter(invoice_line__invoice=invoice), "invoice_line")
            options["lines"] = [
                CreditLineInput(invoice_line_id=line.pk, amount=max(1, (line.amount - taken[line.pk]) * percent // 100))
                for line in invoice.lines.filter(kind=InvoiceLineKind.ITEM, amount__gt=0)
                if line.amount > taken[line.pk]
            ]
            if not options["lines"]:  # every line credited (the VAT may be left), or nothing but credits
                return
        settlement = CreditSettlement.BALANCE if to_balance else CreditSettlement.REFUND
        try:
            note = credit_note_issue(
                invoice=invoice,
                reason="goodwill",
                actor=self.staff,
                settlement=settlement,
                bank_reference=self.reference("out"),
                now=seoul(self.day),
                **options,
            )
        except ApplicationError as error:
            if error.code == "nothing_to_credit":
                assert creditable == 0
            elif error.code == "invoice_not_creditable":
                # Credited in part, then voided (never paid): a void invoice takes no more notes.
                assert invoice.status == InvoiceStatus.VOID, error
            else:
                # Lines asking more than a line has left, or more supply than the invoice has left.
                assert (error.code, mode) == ("amount_exceeds_creditable", "lines"), error
            return
        assert 0 < note.total <= creditable
        if mode == "rest" or (mode == "amount" and percent == 100):
            assert Invoice.objects.get(pk=invoice.pk).amount_credited == invoice.total

    @rule(pick=st.integers(0, 20), succeed=st.booleans())
    def card_refund_ends(self, pick: int, succeed: bool) -> None:
        pending = list(Refund.objects.filter(status=RefundStatus.PENDING).order_by("pk"))
        if not pending:
            return
        refund = pending[pick % len(pending)]
        if succeed:
            refund_succeed(refund=refund, reference=self.reference("re"))
        else:
            refund_fail(refund=refund, reason="card expired")

    @rule(pick=st.integers(0, 20), matching=st.booleans())
    def card_refund_refused_as_refunded_in_the_dashboard(self, pick: int, matching: bool) -> None:
        """Staff refunded the payment in the provider's dashboard too (its event not here yet), so the provider
        refuses our pending refund: it becomes that refund when one matches, else it waits for staff."""
        pending = list(Refund.objects.filter(status=RefundStatus.PENDING).order_by("pk"))
        if not pending:
            return
        refund = pending[pick % len(pending)]
        dashboard = RemoteRefundItem(
            reference=self.reference("re_dash"),
            amount=refund.amount if matching else refund.amount - 1,
            status="succeeded",
        )
        remote = RemoteRefund(
            reference="ch_machine",
            payment_references=(),
            amount_refunded=0,
            refunded_in_full=False,
            provider_label="Stripe",
            refunds=(dashboard,) if dashboard.amount > 0 else (),
        )
        ended = refund_match_provider_refunds(refund=refund, remote=remote, refused_reason="already refunded")
        assert ended.status == (RefundStatus.SUCCEEDED if matching else RefundStatus.PENDING), ended

    @rule(pick=st.integers(0, 20), percent=st.sampled_from([*PERCENTS, 200]))
    def refund_in_the_provider_dashboard(self, pick: int, percent: int) -> None:
        payments = list(Payment.objects.filter(method=PaymentMethod.CARD).order_by("pk"))
        if not payments:
            return
        payment = payments[pick % len(payments)]
        amount = max(1, payment.amount * percent // 100)
        credit_note_issue_for_provider_refund(
            payment=payment, amount=amount, reference=self.reference("re_dash"), now=seoul(self.day)
        )

    @rule(who=st.integers(0, CUSTOMERS - 1), amount=st.integers(-200_000, 200_000).filter(bool))
    def staff_adjust_balance(self, who: int, amount: int) -> None:
        before = Customer.objects.get(pk=self.customers[who].pk).credit_balance
        try:
            balance_adjust(customer=self.customers[who], amount=amount, reason="machine", actor=self.staff)
        except ApplicationError as error:
            assert (error.code, before + amount < 0) == ("insufficient_balance", True)

    @rule(pick=st.integers(0, 20), void=st.booleans())
    def void_or_write_off(self, pick: int, void: bool) -> None:
        invoice = self.invoice_of(pick, status=InvoiceStatus.OPEN)
        if invoice is None:
            return
        if not void:
            invoice_mark_uncollectible(invoice=invoice, actor=self.staff)
            return
        try:
            invoice_void(invoice=invoice, actor=self.staff)
        except ApplicationError as error:
            assert error.code == "invoice_has_payments", error
            assert invoice.amount_paid

    @rule(who=st.integers(0, CUSTOMERS - 1))
    def subscribe_with_the_credit_balance(self, who: int) -> None:
        customer = Customer.objects.get(pk=self.customers[who].pk)
        if Subscription.objects.filter(customer=customer, status__in=LIVE_STATUSES).exists():
            return
        assert self.plan is not None
        started = subscription_create(
            customer=customer, plan=self.plan, billing_period="monthly", now=seoul(self.day), currency=customer.currency
        )
        assert started.invoice is not None
        used = -sum(started.invoice.lines.filter(kind=InvoiceLineKind.BALANCE).values_list("amount", flat=True))
        charges = sum(started.invoice.lines.filter(kind=InvoiceLineKind.ITEM).values_list("amount", flat=True))
        assert used == min(customer.credit_balance, charges)

    def books(self) -> tuple:
        return (
            list(Invoice.objects.order_by("pk").values_list("pk", "status", "amount_paid", "amount_remaining")),
            Payment.objects.count(),
            list(Customer.objects.filter(pk__in=self.ids).order_by("pk").values_list("credit_balance", "currency")),
        )

    @rule(
        who=st.integers(0, CUSTOMERS - 1),
        pick=st.integers(0, 20),
        other=st.sampled_from(CURRENCIES),
        amount=line_amounts,
    )
    def another_currency_is_refused(self, who: int, pick: int, other: str, amount: int) -> None:
        """A payment in another currency than its invoice's (400) and an invoice (POST /api/payment/invoice) in
        another currency than its customer's fixed one (409) are refused as `currency_mismatch` and change nothing."""
        books = self.books()
        invoice = self.invoice_of(pick, status__in=INVOICE_PAYABLE_STATUSES)
        if invoice is not None and other != invoice.currency:
            with pytest.raises(ApplicationError) as refused:
                payment_record(
                    invoice=invoice,
                    amount=1,
                    method=PaymentMethod.BANK_TRANSFER,
                    provider_reference=self.reference("pay"),
                    currency=other,
                )
            # 400: a request that contradicts its invoice (docs/api/payments.md), as it was before currencies.
            assert (refused.value.code, refused.value.status_code) == ("currency_mismatch", 400), refused.value
        customer = Customer.objects.get(pk=self.customers[who].pk)
        if other != customer.currency and customer_currency_fixed(customer=customer):
            with pytest.raises(ApplicationError) as refused:
                invoice_issue_requested(customer=customer, actor=self.staff, amount=amount, currency=other)
            assert (refused.value.code, refused.value.status_code) == ("currency_mismatch", 409), refused.value
        assert self.books() == books

    @rule()
    def next_day(self) -> None:
        self.day += timedelta(days=1)

    # --- invariants -------------------------------------------------------------------------------------

    @invariant()
    def everything_is_in_the_customer_currency_fixed_once(self) -> None:
        if not hasattr(self, "atomic"):
            return
        self.watch.check(self.customers)
        for invoice_currency, note_currency in CreditNote.objects.values_list("invoice__currency", "currency"):
            assert invoice_currency == note_currency
        for invoice in Invoice.objects.exclude(status=InvoiceStatus.DRAFT):
            invoice_vat_check(invoice)

    @invariant()
    def every_invoice_balances_and_is_the_sum_of_its_documents(self) -> None:
        if not hasattr(self, "atomic"):
            return
        invoices = Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        paid = _sums(Payment.objects.filter(status__in=[PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]), "invoice")
        credited = _sums(CreditNote.objects.all(), "invoice", "total")
        refunded = _sums(Refund.objects.filter(status__in=LIVE_REFUNDS), "invoice")
        notes: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for invoice_id, subtotal, tax in CreditNote.objects.values_list("invoice", "subtotal", "tax"):
            notes[invoice_id].append((subtotal, tax))
        for invoice in invoices:
            assert invoice.total - invoice.amount_credited == (
                invoice.amount_paid - invoice.amount_refunded + invoice.amount_remaining
            ), invoice
            assert invoice.amount_remaining >= 0
            assert (invoice.amount_paid, invoice.amount_credited, invoice.amount_refunded) == (
                paid[invoice.pk],
                credited[invoice.pk],
                refunded[invoice.pk],
            ), invoice
            assert invoice.amount_refunded <= invoice.amount_paid
            if invoice.status in INVOICE_PAYABLE_STATUSES:
                assert invoice.amount_remaining > 0, invoice
            if invoice.status == InvoiceStatus.VOID:
                # Never paid; credit notes on it only lowered what it asked (nothing was given back).
                assert invoice.amount_paid == invoice.amount_refunded == 0, invoice
            subtotals = sum(subtotal for subtotal, _ in notes[invoice.pk])
            taxes = sum(tax for _, tax in notes[invoice.pk])
            assert subtotals <= invoice.subtotal and taxes <= invoice.tax, invoice
            assert taxes == credited_tax(
                invoice_tax=invoice.tax, invoice_total=invoice.total, credited=invoice.amount_credited
            )
            if invoice.amount_credited == invoice.total:
                assert (subtotals, taxes) == (invoice.subtotal, invoice.tax), invoice

    @invariant()
    def refunds_never_exceed_payments(self) -> None:
        if not hasattr(self, "atomic"):
            return
        refunds = _sums(Refund.objects.filter(status__in=LIVE_REFUNDS, payment__isnull=False), "payment")
        for payment in Payment.objects.all():
            assert payment.amount_refunded == refunds[payment.pk] <= payment.amount, payment
            fully = payment.amount_refunded == payment.amount
            assert (payment.status == PaymentStatus.REFUNDED) == fully, payment

    @invariant()
    def every_note_splits_its_total_and_matches_its_refunds(self) -> None:
        if not hasattr(self, "atomic"):
            return
        given_back: dict[tuple[int, bool], int] = defaultdict(int)
        for note_id, method, amount, replacing in Refund.objects.values_list(
            "credit_note", "method", "amount", "replaces"
        ):
            if replacing is None:  # a failed card refund's replacement is counted as the card refund it replaces
                given_back[(note_id, method == RefundMethod.BALANCE)] += amount
        lines = _sums(CreditNoteLine.objects.all(), "credit_note")
        for note in CreditNote.objects.all():
            assert note.pre_payment_amount + note.refund_amount + note.balance_amount == note.total
            assert note.subtotal + note.tax == note.total and note.subtotal >= 0 and note.tax >= 0
            assert (note.refund_amount, note.balance_amount) == (
                given_back[(note.pk, False)],
                given_back[(note.pk, True)],
            ), note
            assert lines[note.pk] == note.subtotal, note  # its lines take back exactly its supply amount

    @invariant()
    def the_ledger_sums_to_the_balance_and_holds_no_more_than_was_paid_and_given(self) -> None:
        if not hasattr(self, "atomic"):
            return
        balances = dict(Customer.objects.filter(pk__in=self.ids).values_list("pk", "credit_balance"))
        received = [PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]
        money_in = _sums(Payment.objects.filter(customer__in=self.ids, status__in=received), "customer")
        # Money that left us: card and bank refunds (a pending one is as good as gone; a failed one never left).
        money_out = _sums(
            Refund.objects.filter(customer__in=self.ids, status__in=LIVE_REFUNDS).exclude(method=RefundMethod.BALANCE),
            "customer",
        )
        running: dict[int, int] = defaultdict(int)
        given: dict[int, int] = defaultdict(int)
        for customer_id, kind, amount, after in (
            CustomerBalanceEntry.objects.filter(customer__in=self.ids)
            .order_by("pk")
            .values_list("customer", "kind", "amount", "balance_after")
        ):
            running[customer_id] += amount
            assert after == running[customer_id] >= 0
            if kind == BalanceEntryKind.OPENING or (kind == BalanceEntryKind.ADJUSTMENT and amount > 0):
                given[customer_id] += amount
        for customer_id, balance in balances.items():
            assert running[customer_id] == balance
            # What a customer holds or got back never exceeds what they paid plus what staff gave: a credit given
            # twice (a failed card refund credited twice, a refund both returned and credited) breaks it.
            assert balance + money_out[customer_id] <= money_in[customer_id] + given[customer_id], (
                customer_id,
                balance,
                money_out[customer_id],
                money_in[customer_id],
                given[customer_id],
            )

    @invariant()
    def numbers_are_gapless_per_day(self) -> None:
        if not hasattr(self, "atomic"):
            return
        for model, counter, pattern in (
            (Invoice, InvoiceNumberSequence, "{day:%Y%m%d}-{n:04d}"),
            (CreditNote, CreditNoteNumberSequence, "{day:%Y%m%d}-C{n:04d}"),
        ):
            expected = {
                pattern.format(day=day, n=n)
                for day, last in counter.objects.values_list("day", "last_number")
                for n in range(1, last + 1)
            }
            assert set(model.objects.exclude(number=None).values_list("number", flat=True)) == expected, model


def _sums(queryset: Any, key: str, field: str = "amount") -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for pk, total in queryset.values(key).annotate(total=Sum(field)).values_list(key, "total"):
        totals[pk] = total
    return totals


@pytest.mark.slow
@pytest.mark.django_db
def test_random_money_histories_keep_the_money_invariants():
    plans_sync(plan_file=plan_file_load())
    plan_prices_make_awkward()  # a pro month is ₩98,999, $78.99, €71.99, ¥8,899: its VAT is truncated
    MoneyMachine.plan = SubscriptionPlan.objects.get(slug="pro")
    MoneyMachine.staff = StaffUserFactory.create(username="money-staff", group="billing staff")
    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=200,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
