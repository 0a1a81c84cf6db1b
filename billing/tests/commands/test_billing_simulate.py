"""`manage.py billing_simulate`: the timeline as a table in won, nothing written, bad arguments refused."""

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db.models import Model

from billing_site.jobs.models import Job
from billing_site.mail.models import Email

pytestmark = pytest.mark.django_db


def simulate(*args: str) -> str:
    out = StringIO()
    call_command("billing_simulate", *args, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models: list[type[Model]] = [*apps.get_app_config("billing").get_models(), Email, Job]
    return {model._meta.db_table: model._default_manager.count() for model in models}


def test_prints_each_renewal_and_payment_in_won_and_writes_nothing(pro_from_jan_31):
    before = row_counts()

    output = simulate("--customer", str(pro_from_jan_31.customer_id), "--months", "3", "--as-of", "2025-02-01")

    assert row_counts() == before
    lines = output.splitlines()
    issued = [line for line in lines if "invoice issued" in line]
    assert [line.split()[:4] for line in issued] == [
        ["2025-02-28", "invoice", "issued", "20250228-0001"],
        ["2025-03-31", "invoice", "issued", "20250331-0001"],
        ["2025-04-30", "invoice", "issued", "20250430-0001"],
    ]
    assert all("₩108,900" in line and "subtotal ₩99,000 + VAT ₩9,900" in line for line in issued)
    assert len([line for line in lines if " payment " in line and "₩108,900" in line]) == 3
    assert "At the end: subscription" in output and "active" in lines[-2]
    assert lines[-1] == "Invoiced ₩326,700 in 3 invoice(s), paid ₩326,700."
    assert "nothing was written" in lines[0]


def test_never_paying_shows_the_subscription_going_past_due(pro_from_jan_31):
    output = simulate(
        "--customer", str(pro_from_jan_31.customer_id), "--months", "2", "--as-of", "2025-02-01", "--pay", "never"
    )

    assert "active -> past_due" in output
    assert " payment " not in output
    assert "paid ₩0." in output


@pytest.mark.parametrize("months", ["0", "37"])
def test_months_outside_1_to_36_are_refused(customer, months):
    with pytest.raises(CommandError, match="--months must be from 1 to 36"):
        simulate("--customer", str(customer.pk), "--months", months)


def test_an_unknown_customer_is_refused(db):
    with pytest.raises(CommandError, match="No customer 999999"):
        simulate("--customer", "999999", "--months", "1")
