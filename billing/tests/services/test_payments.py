"""Payments: partial and full, refused when not payable or too much, staff-only transfers, paid once in races."""

import pytest
from django.db import IntegrityError, transaction

from billing.models import Invoice, Payment
from billing.services.payments import payment_record, payment_record_bank_transfer
from billing_site.errors import ApplicationError

from ..helpers import run_concurrently

pytestmark = pytest.mark.django_db


def test_partial_then_full_payment_makes_the_invoice_paid(issue, billing_staff_user):
    invoice = issue(99_000)  # total 108,900
    first = payment_record_bank_transfer(invoice=invoice, amount=100_000, actor=billing_staff_user, reference="KB-0001")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("open", 100_000, 8_900)
    assert (first.method, first.status, first.recorded_by, first.customer_id) == (
        "bank_transfer",
        "succeeded",
        billing_staff_user,
        invoice.customer_id,
    )

    payment_record_bank_transfer(invoice=invoice, amount=8_900, actor=billing_staff_user, reference="KB-0002")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", 108_900, 0)
    assert invoice.paid_at is not None


def test_an_uncollectible_invoice_can_still_be_paid(issue, billing_staff_user):
    from billing.services.invoices import invoice_mark_uncollectible

    invoice = invoice_mark_uncollectible(invoice=issue(1_000), actor=billing_staff_user)
    payment_record_bank_transfer(invoice=invoice, amount=invoice.total, actor=billing_staff_user)
    invoice.refresh_from_db()
    assert invoice.status == "paid"


@pytest.mark.parametrize(
    ("amount", "code"),
    [(0, "invalid_amount"), (-5, "invalid_amount"), (108_901, "amount_exceeds_remaining"), (1.5, "invalid_amount")],
)
def test_bad_amounts_are_refused(issue, billing_staff_user, amount, code):
    invoice = issue(99_000)
    with pytest.raises(ApplicationError) as refused:
        payment_record_bank_transfer(invoice=invoice, amount=amount, actor=billing_staff_user)
    assert refused.value.code == code
    assert not Payment.objects.exists()


def test_currency_must_match_the_invoice(issue, billing_staff_user):
    invoice = issue(1_000)
    with pytest.raises(ApplicationError) as refused:
        payment_record_bank_transfer(invoice=invoice, amount=100, currency="USD", actor=billing_staff_user)
    assert refused.value.code == "currency_mismatch"


def test_a_bank_reference_is_recorded_once(issue, billing_staff_user):
    invoice = issue(99_000)
    payment_record_bank_transfer(invoice=invoice, amount=1_000, actor=billing_staff_user, reference="KB-7")
    with pytest.raises(ApplicationError) as refused:
        payment_record_bank_transfer(invoice=invoice, amount=1_000, actor=billing_staff_user, reference="KB-7")
    assert refused.value.code == "duplicate_payment_reference"
    invoice.refresh_from_db()
    assert invoice.amount_paid == 1_000


def test_bank_transfers_are_staff_only(issue, customer):
    invoice = issue(1_000)
    for actor in (customer.user, None):
        with pytest.raises(ApplicationError) as refused:
            payment_record_bank_transfer(invoice=invoice, amount=invoice.total, actor=actor)
        assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    assert not Payment.objects.exists()


def test_paid_and_void_invoices_take_no_payment(issue, billing_staff_user):
    from billing.services.invoices import invoice_void

    paid = issue(1_000)
    payment_record(invoice=paid, amount=paid.total, method="card", provider_reference="pi_1")
    void = invoice_void(invoice=issue(1_000), actor=billing_staff_user)
    for invoice in (paid, void):
        with pytest.raises(ApplicationError) as refused:
            payment_record(invoice=invoice, amount=1, method="card")
        assert (refused.value.code, refused.value.status_code) == ("invoice_not_payable", 409)


def test_database_refuses_non_positive_payments(issue):
    invoice = issue(1_000)
    payment = payment_record(invoice=invoice, amount=100, method="other")
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(amount=0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_concurrent_payments_of_the_whole_amount_pay_once(postgresql, issue, billing_staff_user):
    invoice = issue(99_000)
    workers = 6

    def pay(index: int) -> Payment:
        return payment_record_bank_transfer(
            invoice=invoice, amount=invoice.total, actor=billing_staff_user, reference=f"KB-{index}"
        )

    results = run_concurrently(pay, workers)
    succeeded = [result for result in results if isinstance(result, Payment)]
    refused = [result for result in results if isinstance(result, ApplicationError)]
    assert len(succeeded) == 1, results
    assert len(refused) == workers - 1
    assert {error.code for error in refused} == {"invoice_not_payable"}
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert (invoice.status, invoice.amount_paid, invoice.amount_remaining) == ("paid", 108_900, 0)
    assert Payment.objects.filter(invoice=invoice).count() == 1
