"""What the Hypothesis state machines share for issue 17: the currencies a run draws, plan prices whose minor units
make rounding matter, and the invariants of a customer's currency and of an invoice's VAT."""

from typing import Any

from django.db.models import F

from billing.enums import TaxTreatment
from billing.models import CreditNote, Customer, CustomerBalanceEntry, Invoice, Order, Payment, Refund
from billing.models.plans import PlanPrice, SubscriptionPlan
from billing.models.provider_operations import SubscribeAttempt
from billing.models.subscriptions import Subscription
from billing.money import vat_amount
from billing.selectors.customers import customer_currency_fixed
from billing.tax import vat_rate_for

CURRENCIES = ["KRW", "USD", "EUR", "JPY"]
# Valid 사업자등록번호 (checksum), one per customer of a run: a trial is once per number, so they must differ.
BUSINESS_NUMBERS = ["2208162517", "1208147521", "1048137225"]


def plan_prices_make_awkward() -> None:
    """Every non-zero plan price one minor unit lower (₩98,999, $78.99, €71.99, ¥8,899): 10 % VAT is then never a
    whole minor unit, so its truncation (and pro rata rounding) is exercised in every currency. The plan's own
    default price follows its row, as seed_plans keeps them."""
    PlanPrice.objects.filter(monthly_price__gt=0).update(monthly_price=F("monthly_price") - 1)
    PlanPrice.objects.filter(annual_price__gt=0).update(annual_price=F("annual_price") - 1)
    for price in PlanPrice.objects.filter(currency=F("plan__currency")):
        SubscriptionPlan.objects.filter(pk=price.plan_id).update(
            monthly_price=price.monthly_price, annual_price=price.annual_price
        )


def treatment_expected(*, currency: str, chosen: str, business: bool) -> str:
    """The treatment a customer has once its currency is fixed: the foreign default (non-KRW, no 사업자등록번호, still
    the taxable default) is zero-rated; anything staff chose stays."""
    if currency != "KRW" and not business and chosen == TaxTreatment.TAXABLE:
        return TaxTreatment.ZERO_RATED
    return chosen


def invoice_vat_check(invoice: Invoice) -> None:
    """An invoice's VAT is money.vat_amount of its supply amount under the treatment and rate it carries; that rate
    is the treatment's on its issue day (a draft: the day it was priced, not checked); untaxed means 0 and 0."""
    assert invoice.tax == vat_amount(
        supply_amount=invoice.subtotal,
        tax_treatment=invoice.tax_treatment,
        rate_basis_points=invoice.vat_rate_basis_points,
    ), invoice
    if invoice.tax_treatment != TaxTreatment.TAXABLE:
        assert invoice.tax == invoice.vat_rate_basis_points == 0, invoice
    if invoice.issue_date is not None:
        expected = vat_rate_for(tax_treatment=invoice.tax_treatment, day=invoice.issue_date)
        assert invoice.vat_rate_basis_points == expected, (invoice, invoice.vat_rate_basis_points, expected)


class CurrencyWatch:
    """Everything of a customer is in the customer's currency, which never changes once fixed."""

    def __init__(self) -> None:
        self.fixed: dict[int, str] = {}

    def check(self, customers: list[Customer]) -> None:
        ids = [customer.pk for customer in customers]
        owned: list[tuple[Any, str]] = [
            (Subscription, "customer"),
            (Invoice, "customer"),
            (CustomerBalanceEntry, "customer"),
            (CreditNote, "customer"),
            (CreditNote, "invoice__customer"),
            (Payment, "customer"),
            (Payment, "invoice__customer"),
            (Refund, "customer"),
            (Order, "customer"),
            (SubscribeAttempt, "customer"),
        ]
        for model, owner in owned:
            others = list(
                model.objects.filter(**{f"{owner}__in": ids})
                .exclude(currency=F(f"{owner}__currency"))
                .values_list(owner, "currency")[:5]
            )
            assert not others, (model.__name__, owner, others)
        for customer in Customer.objects.filter(pk__in=ids):
            fixed = customer_currency_fixed(customer=customer)
            if customer.pk in self.fixed:
                assert fixed, customer  # nothing that fixes it is ever deleted
                assert customer.currency == self.fixed[customer.pk], (customer.pk, self.fixed[customer.pk])
            elif fixed:
                self.fixed[customer.pk] = customer.currency
