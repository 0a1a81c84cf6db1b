"""manage.py billing_bench_seed (PostgreSQL): the rows the history benchmark reads, valid under every constraint."""

import io

import pytest
from django.core.management import call_command

from billing.models import Customer, Invoice, Payment
from billing_site.tests.helpers import jwt_client


@pytest.mark.django_db
def test_seeds_invoices_and_payments_that_the_history_reads(postgresql):
    call_command("billing_bench_seed", "--rows=500", "--customers=5", "--no-progress", stdout=io.StringIO())
    invoices = Invoice.objects.filter(number__startswith="BENCH-")
    assert (invoices.count(), Payment.objects.count(), Customer.objects.count()) == (300, 200, 5)
    assert set(invoices.values_list("status", flat=True)) == {"open", "paid"}

    customer = Customer.objects.order_by("id").first()
    body = jwt_client(customer.user).get("/api/payment/history?limit=100").json()
    expected = invoices.filter(customer=customer).count() + Payment.objects.filter(customer=customer).count()
    assert body["total"] == expected == 100
    dates = [row["date"] for row in body["history"]]
    assert dates == sorted(dates, reverse=True)

    out = io.StringIO()
    call_command("billing_bench_seed", "--rows=500", "--customers=5", "--no-progress", stdout=out)
    assert "nothing to do" in out.getvalue()
    call_command("billing_bench_seed", "--rows=100", "--customers=5", "--reset", "--no-progress", stdout=io.StringIO())
    assert Invoice.objects.count() == 60 and Payment.objects.count() == 40
