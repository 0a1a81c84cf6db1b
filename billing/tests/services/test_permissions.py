"""Staff services check the acting user's Django permission themselves (issue 10, finding 4).

`is_staff` grants nothing: a support member (view permissions only) and a staff user without groups are refused
with 403 `permission_denied` and nothing changes; a user holding the permission may act, staff or not; the
system (`actor` None) always may. The API, the admin and commands all reach these same checks.
"""

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

import pytest

from billing.models import Customer, Invoice, Order, Payment, Subscription
from billing.services.customers import customer_update
from billing.services.invoices import (
    InvoiceLineInput,
    invoice_draft_create,
    invoice_draft_delete,
    invoice_finalize,
    invoice_issue_for_order,
    invoice_issue_requested,
    invoice_mark_uncollectible,
    invoice_pdf_regenerate,
    invoice_void,
)
from billing.services.orders import OrderItemInput, order_cancel, order_create
from billing.services.payments import payment_record_bank_transfer
from billing.services.subscriptions import subscription_cancel, subscription_create, subscription_renew
from billing.tests.factories import StaffUserFactory, SubscriptionPlanFactory
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

pytestmark = pytest.mark.django_db
LINE = InvoiceLineInput(description="Pro 플랜 (월간)", unit_amount=99_000)


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    support = StaffUserFactory.create(username="support-1", group="support")
    # the permissions, without admin access
    accountant = StaffUserFactory.create(username="accountant-api", group="billing staff", is_staff=False)
    return {
        "support": support,
        "staff without groups": StaffUserFactory.create(username="bare-staff"),
        "billing staff (not is_staff)": accountant,
    }


@pytest.fixture
def subscription(customer: Customer) -> Subscription:
    plan = SubscriptionPlanFactory.create(slug="basic", name="베이직", monthly_price=10_000, annual_price=100_000)
    return subscription_create(customer=customer, plan=plan, billing_period="monthly").subscription


def _issued(customer: Customer) -> Invoice:
    return invoice_finalize(invoice=invoice_draft_create(customer=customer, lines=[LINE]))


def _order(customer: Customer) -> Order:
    return order_create(customer=customer, items=[OrderItemInput("설치비", 50_000, 1)])


# Each staff operation with the objects it needs already made (by the system), waiting for `actor=`.
PREPARE: dict[str, Callable[[Customer, Subscription], Callable[..., Any]]] = {
    "void": lambda customer, _: partial(invoice_void, invoice=_issued(customer)),
    "mark uncollectible": lambda customer, _: partial(invoice_mark_uncollectible, invoice=_issued(customer)),
    "record a bank transfer": lambda customer, _: partial(
        payment_record_bank_transfer, invoice=_issued(customer), amount=1_000
    ),
    "finalize": lambda customer, _: partial(
        invoice_finalize, invoice=invoice_draft_create(customer=customer, lines=[LINE])
    ),
    "delete a draft": lambda customer, _: partial(
        invoice_draft_delete, invoice=invoice_draft_create(customer=customer, lines=[LINE])
    ),
    "regenerate a PDF": lambda customer, _: partial(invoice_pdf_regenerate, invoice=_issued(customer)),
    "invoice an order": lambda customer, _: partial(invoice_issue_for_order, order=_order(customer)),
    "bill another customer": lambda customer, _: partial(invoice_issue_requested, customer=customer, amount=5_000),
    "cancel an order": lambda customer, _: partial(order_cancel, order=_order(customer)),
    "cancel a subscription": lambda _, subscription: partial(subscription_cancel, subscription=subscription),
    "renew a subscription": lambda _, subscription: partial(
        subscription_renew, subscription=subscription, as_of=date(2000, 1, 1)
    ),
    "edit a customer": lambda customer, _: partial(customer_update, customer=customer, address="부산광역시"),
}


def _state() -> list[Any]:
    return [list(model.objects.order_by("pk").values()) for model in (Invoice, Payment, Order, Subscription, Customer)]


@pytest.mark.parametrize("operation", list(PREPARE))
@pytest.mark.parametrize("who", ["support", "staff without groups"])
def test_staff_without_the_permission_are_refused_and_nothing_changes(customer, subscription, people, operation, who):
    act = PREPARE[operation](customer, subscription)
    before = _state()
    with pytest.raises(ApplicationError) as refused:
        act(actor=people[who])
    assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    assert _state() == before


@pytest.mark.parametrize("operation", list(PREPARE))
def test_the_permission_decides_not_is_staff(customer, subscription, people, operation):
    PREPARE[operation](customer, subscription)(actor=people["billing staff (not is_staff)"])


@pytest.mark.parametrize("operation", [name for name in PREPARE if name != "record a bank transfer"])
def test_the_system_may(customer, subscription, operation):
    PREPARE[operation](customer, subscription)(actor=None)


def test_a_bank_transfer_always_names_a_person(customer):
    with pytest.raises(ApplicationError) as refused:
        payment_record_bank_transfer(invoice=_issued(customer), amount=1_000, actor=None)
    assert refused.value.code == "permission_denied"


def test_customers_act_on_their_own_subscription_and_profile_only(customer, other_customer, subscription):
    with pytest.raises(ApplicationError) as refused:
        subscription_cancel(subscription=subscription, actor=other_customer.user)
    assert refused.value.code == "permission_denied"
    with pytest.raises(ApplicationError) as refused:
        customer_update(customer=customer, address="남의 주소", actor=other_customer.user)
    assert refused.value.code == "permission_denied"
    assert subscription_cancel(subscription=subscription, actor=customer.user).cancel_at_period_end
    assert customer_update(customer=customer, address="내 주소", actor=customer.user).address == "내 주소"


def test_an_inactive_user_holds_no_permission(people):
    accountant = people["billing staff (not is_staff)"]
    permission_require(actor=accountant, permission="billing.change_invoice")
    accountant.is_active = False
    accountant.save()
    with pytest.raises(ApplicationError):
        permission_require(actor=accountant, permission="billing.change_invoice")
