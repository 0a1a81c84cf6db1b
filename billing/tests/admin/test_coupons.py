"""Coupons in the admin: created through the service (with a first code), codes added, counts shown, deactivated,
given to a customer; redemptions read-only; support only looks."""

from typing import Any

import pytest
from django.urls import reverse

from billing.enums import CouponDuration, JobKind
from billing.models import Customer
from billing.models.coupons import Coupon, CouponRedemption, PromotionCode
from billing.services.coupons import coupon_create, promotion_code_create
from billing_site.jobs.models import Job

pytestmark = pytest.mark.django_db

ADD = {
    "name": "봄맞이 할인",
    "percent_off": "15",
    "amount_off": "",
    "currency": "",
    "duration": "repeating",
    "duration_in_months": "3",
    "max_redemptions": "100",
    "redeem_by_0": "",
    "redeem_by_1": "",
    "applies_to_billing_periods": ["monthly"],
    "code": "spring25",
    "promotion_codes-TOTAL_FORMS": "0",
    "promotion_codes-INITIAL_FORMS": "0",
}


@pytest.fixture
def spring(db: None) -> Coupon:
    coupon = coupon_create(
        actor=None, name="Spring", duration=CouponDuration.FOREVER, percent_off=10, max_redemptions=5
    )
    promotion_code_create(actor=None, coupon=coupon, code="SPRING")
    Coupon.objects.filter(pk=coupon.pk).update(times_redeemed=2)
    return coupon


def test_billing_staff_create_a_coupon_and_its_first_code_through_the_service(billing_staff_admin_client: Any) -> None:
    response = billing_staff_admin_client.post(reverse("admin:billing_coupon_add"), ADD)

    assert response.status_code == 302, response.content.decode()[:3000]
    coupon = Coupon.objects.get()
    assert (coupon.name, coupon.percent_off, coupon.duration, coupon.duration_in_months, coupon.max_redemptions) == (
        "봄맞이 할인",
        15,
        "repeating",
        3,
        100,
    )
    assert coupon.applies_to_billing_periods == ["monthly"]
    assert list(coupon.promotion_codes.values_list("code", flat=True)) == ["SPRING25"]
    assert Job.objects.filter(kind=JobKind.COUPON_MIRROR, key=f"coupon_mirror:{coupon.pk}").count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"percent_off": "", "amount_off": "1000"}, "currency", "A fixed amount needs its currency."),
        ({"duration_in_months": ""}, "duration_in_months", "A repeating coupon needs duration_in_months."),
        ({"code": "no spaces"}, "code", "코드는 영문자, 숫자, '-' 또는 '_'로 된 3~40자입니다."),  # the admin is Korean
    ],
)
def test_a_refused_coupon_shows_the_services_reason_on_its_field(
    billing_staff_admin_client: Any, changes: dict[str, str], field: str, message: str
) -> None:
    response = billing_staff_admin_client.post(reverse("admin:billing_coupon_add"), {**ADD, **changes})

    assert response.status_code == 200
    assert message in response.context["adminform"].form.errors[field]
    assert not Coupon.objects.exists()
    assert not Job.objects.filter(kind=JobKind.COUPON_MIRROR).exists()


def test_the_list_shows_redemptions_of_the_maximum_and_whether_active(
    billing_staff_admin_client: Any, spring: Coupon
) -> None:
    page = billing_staff_admin_client.get(reverse("admin:billing_coupon_changelist")).content.decode()

    assert "Spring" in page and "2 / 5" in page and "10%" in page


def test_a_code_is_added_on_the_coupons_page_and_its_terms_stay_as_they_were(
    billing_staff_admin_client: Any, spring: Coupon
) -> None:
    url = reverse("admin:billing_coupon_change", args=[spring.pk])
    assert billing_staff_admin_client.get(url).status_code == 200

    response = billing_staff_admin_client.post(
        url,
        {
            "name": "Changed",
            "percent_off": "99",
            "promotion_codes-TOTAL_FORMS": "2",
            "promotion_codes-INITIAL_FORMS": "1",
            "promotion_codes-0-id": str(PromotionCode.objects.get().pk),
            "promotion_codes-0-coupon": str(spring.pk),
            "promotion_codes-1-code": "summer-vip",
            "promotion_codes-1-max_redemptions": "3",
            "promotion_codes-1-coupon": str(spring.pk),
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    spring.refresh_from_db()
    assert (spring.name, spring.percent_off) == ("Spring", 10)
    assert sorted(spring.promotion_codes.values_list("code", "max_redemptions")) == [
        ("SPRING", None),
        ("SUMMER-VIP", 3),
    ]


def test_the_deactivate_action(billing_staff_admin_client: Any, spring: Coupon) -> None:
    response = billing_staff_admin_client.post(
        reverse("admin:billing_coupon_changelist"),
        {"action": "deactivate_selected", "_selected_action": [str(spring.pk)]},
        follow=True,
    )

    assert "Spring: 비활성화되었습니다." in response.content.decode()  # "Spring: deactivated." in Korean
    spring.refresh_from_db()
    assert spring.is_active is False


def test_billing_staff_give_a_coupon_to_a_customer(
    billing_staff_admin_client: Any, billing_staff_user: Any, customer: Customer, spring: Coupon
) -> None:
    url = reverse("admin:billing_couponredemption_add")

    response = billing_staff_admin_client.post(url, {"customer": str(customer.pk), "coupon": str(spring.pk)})

    assert response.status_code == 302, response.content.decode()[:3000]
    redemption = CouponRedemption.objects.get()
    assert (redemption.customer, redemption.subscription, redemption.created_by) == (
        customer,
        None,
        billing_staff_user,
    )
    spring.refresh_from_db()
    assert spring.times_redeemed == 3
    again = billing_staff_admin_client.post(url, {"customer": str(customer.pk), "coupon": str(spring.pk)})
    assert again.status_code == 200
    assert CouponRedemption.objects.count() == 1
    listing = billing_staff_admin_client.get(reverse("admin:billing_couponredemption_changelist"))
    assert listing.status_code == 200 and "Spring" in listing.content.decode()
    detail = billing_staff_admin_client.get(reverse("admin:billing_couponredemption_change", args=[redemption.pk]))
    assert detail.status_code == 200 and 'name="coupon"' not in detail.content.decode()


def test_support_only_looks(support_admin_client: Any, spring: Coupon, customer: Customer) -> None:
    assert support_admin_client.get(reverse("admin:billing_coupon_changelist")).status_code == 200
    assert support_admin_client.get(reverse("admin:billing_coupon_add")).status_code == 403
    assert support_admin_client.get(reverse("admin:billing_couponredemption_add")).status_code == 403
    assert support_admin_client.post(reverse("admin:billing_coupon_add"), ADD).status_code == 403
    assert Coupon.objects.count() == 1
