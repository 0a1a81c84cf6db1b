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

from billing.models import Customer, Invoice, Order, Payment, Subscription, SubscriptionPlan
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
from billing.tests.helpers import staff_group
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

pytestmark = pytest.mark.django_db
LINE = InvoiceLineInput(description="Pro 플랜 (월간)", unit_amount=99_000)


@pytest.fixture
def people(make_billing_user: Callable[..., Any]) -> dict[str, Any]:
    support = make_billing_user("support-1", is_staff=True)
    support.groups.add(staff_group("support"))
    accountant = make_billing_user("accountant-api", is_staff=False)  # the permissions, without admin access
    accountant.groups.add(staff_group("billing staff"))
    return {
        "support": support,
        "staff without groups": make_billing_user("bare-staff", is_staff=True),
        "billing staff (not is_staff)": accountant,
    }


@pytest.fixture
def subscription(buyer: Customer) -> Subscription:
    plan = SubscriptionPlan.objects.create(slug="basic", name="베이직", monthly_price=10_000, annual_price=100_000)
    return subscription_create(customer=buyer, plan=plan, billing_period="monthly").subscription


def _issued(buyer: Customer) -> Invoice:
    return invoice_finalize(invoice=invoice_draft_create(customer=buyer, lines=[LINE]))


def _order(buyer: Customer) -> Order:
    return order_create(customer=buyer, items=[OrderItemInput("설치비", 50_000, 1)])


# Each staff operation with the objects it needs already made (by the system), waiting for `actor=`.
PREPARE: dict[str, Callable[[Customer, Subscription], Callable[..., Any]]] = {
    "void": lambda buyer, _: partial(invoice_void, invoice=_issued(buyer)),
    "mark uncollectible": lambda buyer, _: partial(invoice_mark_uncollectible, invoice=_issued(buyer)),
    "record a bank transfer": lambda buyer, _: partial(
        payment_record_bank_transfer, invoice=_issued(buyer), amount=1_000
    ),
    "finalize": lambda buyer, _: partial(invoice_finalize, invoice=invoice_draft_create(customer=buyer, lines=[LINE])),
    "delete a draft": lambda buyer, _: partial(
        invoice_draft_delete, invoice=invoice_draft_create(customer=buyer, lines=[LINE])
    ),
    "regenerate a PDF": lambda buyer, _: partial(invoice_pdf_regenerate, invoice=_issued(buyer)),
    "invoice an order": lambda buyer, _: partial(invoice_issue_for_order, order=_order(buyer)),
    "bill another customer": lambda buyer, _: partial(invoice_issue_requested, customer=buyer, amount=5_000),
    "cancel an order": lambda buyer, _: partial(order_cancel, order=_order(buyer)),
    "cancel a subscription": lambda _, subscription: partial(subscription_cancel, subscription=subscription),
    "renew a subscription": lambda _, subscription: partial(
        subscription_renew, subscription=subscription, as_of=date(2000, 1, 1)
    ),
    "edit a customer": lambda buyer, _: partial(customer_update, customer=buyer, address="부산광역시"),
}


def _state() -> list[Any]:
    return [list(model.objects.order_by("pk").values()) for model in (Invoice, Payment, Order, Subscription, Customer)]


@pytest.mark.parametrize("operation", list(PREPARE))
@pytest.mark.parametrize("who", ["support", "staff without groups"])
def test_staff_without_the_permission_are_refused_and_nothing_changes(buyer, subscription, people, operation, who):
    act = PREPARE[operation](buyer, subscription)
    before = _state()
    with pytest.raises(ApplicationError) as refused:
        act(actor=people[who])
    assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
    assert _state() == before


@pytest.mark.parametrize("operation", list(PREPARE))
def test_the_permission_decides_not_is_staff(buyer, subscription, people, operation):
    PREPARE[operation](buyer, subscription)(actor=people["billing staff (not is_staff)"])


@pytest.mark.parametrize("operation", [name for name in PREPARE if name != "record a bank transfer"])
def test_the_system_may(buyer, subscription, operation):
    PREPARE[operation](buyer, subscription)(actor=None)


def test_a_bank_transfer_always_names_a_person(buyer):
    with pytest.raises(ApplicationError) as refused:
        payment_record_bank_transfer(invoice=_issued(buyer), amount=1_000, actor=None)
    assert refused.value.code == "permission_denied"


def test_customers_act_on_their_own_subscription_and_profile_only(buyer, intruder, subscription):
    with pytest.raises(ApplicationError) as refused:
        subscription_cancel(subscription=subscription, actor=intruder.user)
    assert refused.value.code == "permission_denied"
    with pytest.raises(ApplicationError) as refused:
        customer_update(customer=buyer, address="남의 주소", actor=intruder.user)
    assert refused.value.code == "permission_denied"
    assert subscription_cancel(subscription=subscription, actor=buyer.user).cancel_at_period_end
    assert customer_update(customer=buyer, address="내 주소", actor=buyer.user).address == "내 주소"


def test_an_inactive_user_holds_no_permission(people):
    accountant = people["billing staff (not is_staff)"]
    permission_require(actor=accountant, permission="billing.change_invoice")
    accountant.is_active = False
    accountant.save()
    with pytest.raises(ApplicationError):
        permission_require(actor=accountant, permission="billing.change_invoice")
