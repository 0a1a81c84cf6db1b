"""billing_simulate: the real daily services run day by day and rolled back; what it predicts is what happens."""

from datetime import date, timedelta

import pytest
from django.apps import apps
from django.db.models import Model

from billing.models import Invoice, InvoiceNumberSequence
from billing.models.subscriptions import Subscription
from billing.services.dunning import dunning_run
from billing.services.renewals import subscriptions_renew_all
from billing.services.simulation import EventKind, billing_simulate
from billing.services.subscription_emails import renewal_notices_queue
from billing.tests.helpers import seoul
from billing.tests.subscription_support import pay
from billing_site.errors import ApplicationError
from billing_site.jobs.models import Job
from billing_site.mail.models import Email

pytestmark = pytest.mark.django_db

PRO_MONTHLY_TOTAL = 108_900  # ₩99,000 + 10 % VAT


def table_rows() -> dict[str, object]:
    """Every row of every billing table (and the emails and jobs), to compare before and after."""
    models: list[type[Model]] = [*apps.get_app_config("billing").get_models(), Email, Job]
    return {model._meta.db_table: sorted(model._default_manager.values_list()) for model in models}


def test_a_monthly_subscriber_renews_three_times_in_three_months(pro_from_jan_31):
    timeline = billing_simulate(
        customer_id=pro_from_jan_31.customer_id, months=3, as_of=date(2025, 2, 1), pay="on_time"
    )

    assert (timeline.as_of, timeline.until) == (date(2025, 2, 1), date(2025, 5, 1))
    issued = timeline.of_kind(EventKind.INVOICE_ISSUED)
    assert [(event.day, event.amount, event.tax, event.total) for event in issued] == [
        (date(2025, 2, 28), 99_000, 9_900, PRO_MONTHLY_TOTAL),
        (date(2025, 3, 31), 99_000, 9_900, PRO_MONTHLY_TOTAL),
        (date(2025, 4, 30), 99_000, 9_900, PRO_MONTHLY_TOTAL),
    ]
    assert [event.invoice_number for event in issued] == ["20250228-0001", "20250331-0001", "20250430-0001"]
    payments = timeline.of_kind(EventKind.PAYMENT)
    assert [(event.day, event.amount, event.invoice_number) for event in payments] == [
        (event.day, PRO_MONTHLY_TOTAL, event.invoice_number) for event in issued
    ]
    assert [(invoice.period_start, invoice.period_end, invoice.status) for invoice in timeline.invoices] == [
        (date(2025, 2, 28), date(2025, 3, 31), "paid"),
        (date(2025, 3, 31), date(2025, 4, 30), "paid"),
        (date(2025, 4, 30), date(2025, 5, 31), "paid"),
    ]
    assert timeline.of_kind(EventKind.SUBSCRIPTION_STATUS) == []
    assert timeline.of_kind(EventKind.FAILURE) == []
    final = timeline.subscription
    assert final is not None
    assert (final.status, final.current_period_start, final.current_period_end) == (
        "active",
        date(2025, 4, 30),
        date(2025, 5, 31),
    )
    emails = [(event.day, event.email_kind) for event in timeline.of_kind(EventKind.EMAIL)]
    for invoice in issued:
        assert (invoice.day, "billing.invoice_issued") in emails
        assert (invoice.day, "billing.payment_received") in emails


def test_the_simulation_writes_nothing_and_takes_no_invoice_number(pro_from_jan_31):
    before = table_rows()
    sequences = list(InvoiceNumberSequence.objects.order_by("day").values_list("day", "last_number"))

    timeline = billing_simulate(customer_id=pro_from_jan_31.customer_id, months=3, as_of=date(2025, 2, 1))

    assert len(timeline.of_kind(EventKind.INVOICE_ISSUED)) == 3
    assert list(InvoiceNumberSequence.objects.order_by("day").values_list("day", "last_number")) == sequences
    assert table_rows() == before


def test_never_paying_goes_past_due_through_the_reminders_to_the_final_action(pro_from_jan_31, settings):
    settings.BILLING_DUNNING_SCHEDULE = [1, 3, 7]
    settings.BILLING_DUNNING_FINAL_DAYS = 14
    settings.BILLING_DUNNING_FINAL_ACTION = "cancel"

    timeline = billing_simulate(customer_id=pro_from_jan_31.customer_id, months=3, as_of=date(2025, 2, 1), pay="never")

    (first, *_) = timeline.invoices
    due = first.due_date
    assert due is not None and first.issue_date == date(2025, 2, 28)
    statuses = [(event.day, event.before, event.after) for event in timeline.of_kind(EventKind.SUBSCRIPTION_STATUS)]
    assert statuses == [
        (due + timedelta(days=1), "active", "past_due"),
        (due + timedelta(days=14), "past_due", "canceled"),
    ]
    steps = [
        (event.day, event.after, event.invoice_number)
        for event in timeline.of_kind(EventKind.DUNNING_STEP)
        if event.invoice_number == first.number
    ]
    assert steps == [
        (due + timedelta(days=1), "reminder", first.number),
        (due + timedelta(days=3), "reminder", first.number),
        (due + timedelta(days=7), "reminder", first.number),
        (due + timedelta(days=14), "cancel", first.number),
    ]
    emails = [(event.day, event.email_kind) for event in timeline.of_kind(EventKind.EMAIL)]
    assert [day for day, kind in emails if kind == "billing.invoice_overdue"] == [
        due + timedelta(days=1),
        due + timedelta(days=3),
        due + timedelta(days=7),
    ]
    assert (due + timedelta(days=14), "billing.subscription_ended") in emails
    assert timeline.of_kind(EventKind.PAYMENT) == []
    assert (timeline.final_status, timeline.subscription.cancellation_reason) == ("canceled", "unpaid")
    # Canceled on 13 April: the renewal of 30 April does not happen.
    assert [invoice.issue_date for invoice in timeline.invoices] == [date(2025, 2, 28), date(2025, 3, 31)]
    assert Subscription.objects.get(pk=pro_from_jan_31.pk).status == "active"


def run_for_real(customer, as_of: date, until: date, *, pays: bool) -> None:
    """The same days with the real daily services, committed as production runs them (each day's payments by
    transfer the day an invoice is issued, then the refresh the payment's commit triggers)."""
    day = as_of
    while day < until:
        subscriptions_renew_all(as_of=day, now=seoul(day, 0, 5))
        dunning_run(as_of=day, now=seoul(day, 0, 6))
        renewal_notices_queue(as_of=day)
        if pays:
            for invoice in Invoice.objects.filter(customer=customer, issue_date=day, status="open"):
                pay(invoice, now=seoul(day, 12))
        day += timedelta(days=1)


def state(customer) -> tuple[list[tuple], tuple]:
    invoices = [
        (
            invoice.number,
            invoice.issue_date,
            invoice.due_date,
            invoice.subtotal,
            invoice.tax,
            invoice.total,
            invoice.status,
            invoice.amount_paid,
        )
        for invoice in Invoice.objects.filter(customer=customer, issue_date__gte=date(2025, 2, 1)).order_by("id")
    ]
    subscription = Subscription.objects.filter(customer=customer).order_by("-id").first()
    assert subscription is not None
    return invoices, (
        subscription.status,
        subscription.current_period_start,
        subscription.current_period_end,
        subscription.cancel_at_period_end,
    )


@pytest.mark.parametrize("pays", ["on_time", "never"])
def test_running_the_same_days_for_real_ends_where_the_simulation_said(pro_from_jan_31, pays):
    customer = pro_from_jan_31.customer
    timeline = billing_simulate(customer_id=customer.pk, months=3, as_of=date(2025, 2, 1), pay=pays)

    run_for_real(customer, timeline.as_of, timeline.until, pays=pays == "on_time")

    invoices, subscription = state(customer)
    predicted = [
        (
            invoice.number,
            invoice.issue_date,
            invoice.due_date,
            invoice.subtotal,
            invoice.tax,
            invoice.total,
            invoice.status,
            invoice.amount_paid,
        )
        for invoice in timeline.invoices
    ]
    final = timeline.subscription
    assert final is not None
    assert invoices == predicted
    assert subscription == (
        final.status,
        final.current_period_start,
        final.current_period_end,
        final.cancel_at_period_end,
    )


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"months": 0}, "invalid_months"),
        ({"months": 37}, "invalid_months"),
        ({"months": 1, "pay": "sometimes"}, "invalid_pay"),
    ],
)
def test_bad_arguments_are_refused(customer, options, code):
    with pytest.raises(ApplicationError) as error:
        billing_simulate(customer_id=customer.pk, as_of=date(2025, 2, 1), **options)

    assert error.value.code == code


def test_an_unknown_customer_is_not_found(db):
    with pytest.raises(ApplicationError) as error:
        billing_simulate(customer_id=999_999, months=1)

    assert (error.value.code, error.value.status_code) == ("not_found", 404)
