"""A plan's prices per currency in the admin: read-only rows on the plan page, the default one following the plan's
own price when staff edit it."""

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from billing.models.plans import PlanPrice, SubscriptionPlan

pytestmark = pytest.mark.django_db


def plan_page(client: Client, plan: SubscriptionPlan) -> str:
    response = client.get(reverse("admin:billing_subscriptionplan_change", args=[plan.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("who", ["billing_staff_admin_client", "support_admin_client"])
def test_the_plan_page_lists_its_price_in_every_currency(request: Any, who: str, plans: dict[str, SubscriptionPlan]):
    page = plan_page(request.getfixturevalue(who), plans["pro"])

    for shown in ("₩99,000", "₩990,000", "US$79.00", "US$790.00", "€72.00", "JP¥8,900", "JP¥89,000"):
        assert shown in page, shown


def test_the_price_rows_are_shown_not_edited(admin_client: Client, plans: dict[str, SubscriptionPlan]):
    page = plan_page(admin_client, plans["pro"])

    assert 'id="prices-group"' in page
    assert 'name="prices-0-currency"' not in page and 'name="prices-0-DELETE"' not in page  # text, not inputs


def test_saving_the_plans_own_price_brings_its_currencys_row_along(
    admin_client: Client, plans: dict[str, SubscriptionPlan]
):
    pro = plans["pro"]
    url = reverse("admin:billing_subscriptionplan_change", args=[pro.pk])

    response = admin_client.post(
        url,
        {
            "name": "프로",
            "name_en": "Pro",
            "is_active": "on",
            "display_order": "30",
            "monthly_price": "109000",
            "annual_price": "1090000",
            "max_projects": "20",
            "trial_days": "0",
            "features": "[]",
            "features_en": "[]",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    krw = PlanPrice.objects.get(plan=pro, currency="KRW")
    assert (krw.monthly_price, krw.annual_price) == (109_000, 1_090_000)
    assert PlanPrice.objects.get(plan=pro, currency="USD").monthly_price == 7_900  # the file's, untouched


def test_a_plan_added_in_the_admin_gets_its_default_price_row(admin_client: Client, db: None):
    response = admin_client.post(
        reverse("admin:billing_subscriptionplan_add"),
        {
            "slug": "handmade",
            "name": "수제",
            "name_en": "",
            "is_active": "on",
            "display_order": "5",
            "currency": "USD",
            "monthly_price": "1500",
            "annual_price": "15000",
            "trial_days": "0",
            "features": "[]",
            "features_en": "[]",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    plan = SubscriptionPlan.objects.get(slug="handmade")
    assert list(plan.prices.values_list("currency", "monthly_price", "annual_price")) == [("USD", 1_500, 15_000)]


def test_a_price_no_longer_sold_is_flagged_on_the_plan_page_not_editable(
    admin_client: Client, plans: dict[str, SubscriptionPlan]
):
    PlanPrice.objects.filter(plan=plans["pro"], currency="JPY").update(active=False)

    page = plan_page(admin_client, plans["pro"])

    inline = page[page.index('id="prices-group"') :]
    inline = inline[: inline.index("</fieldset>")]
    assert 'class="column-active"' in inline
    # Rows by currency (EUR, JPY, KRW, USD): one readonly "no" icon, for JPY; no input for the flag.
    assert inline.count('alt="False"') == 1 and inline.count('alt="True"') == 3
    assert 'name="prices-1-active"' not in page


def test_the_price_list_filters_by_sold(admin_client: Client, plans: dict[str, SubscriptionPlan]):
    PlanPrice.objects.filter(plan=plans["pro"], currency="JPY").update(active=False)

    response = admin_client.get(reverse("admin:billing_planprice_changelist"), {"active__exact": "0"})

    assert response.status_code == 200
    assert [str(row) for row in response.context["cl"].result_list] == [f"{plans['pro'].pk} JPY"]
