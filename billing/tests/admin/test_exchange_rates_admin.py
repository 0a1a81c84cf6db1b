"""Exchange rates in the admin (issue 17): billing staff add, change and import rates through the services; a
read-only staff member only looks; support do not see them; the list charts each currency's rate per month; the
import page is bounded, all or nothing, and CSRF-protected."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import ExchangeRate
from billing.periods import add_months, billing_date
from billing.services.exchange_rate_csv import MAX_IMPORT_BYTES
from billing.services.exchange_rates import exchange_rate_set

from ..factories import StaffUserFactory

pytestmark = pytest.mark.django_db

JUNE = date(2026, 6, 1)
CHANGELIST = "admin:billing_exchangerate_changelist"
IMPORT = "admin:billing_exchangerate_import"


@pytest.fixture
def viewer_client(client: Client) -> Client:
    """A staff member who may only view rates."""
    viewer = StaffUserFactory.create(username="rates-viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_exchangerate"))
    client.force_login(viewer)
    return client


def csv_upload(content: bytes, name: str = "rates.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_billing_staff_add_a_rate_through_the_service(
    billing_staff_admin_client: Client, billing_staff_user: Any
) -> None:
    response = billing_staff_admin_client.post(
        reverse("admin:billing_exchangerate_add"),
        {"month": "2026-06-01", "currency": "USD", "krw_per_unit": "1380.25", "source": "한국은행"},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    rate = ExchangeRate.objects.get()
    assert (rate.month, rate.currency, rate.krw_per_unit, rate.source, rate.created_by) == (
        JUNE,
        "USD",
        Decimal("1380.25"),
        "한국은행",
        billing_staff_user,
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"month": "2026-06-15"}, "month", "give its first day (2026-06-01)"),
        ({"currency": "KRW"}, "currency", ""),  # not offered (Django's own message, in the admin's language)
        ({"krw_per_unit": "0"}, "krw_per_unit", "Must be greater than zero."),
        ({"krw_per_unit": "-5"}, "krw_per_unit", "Must be greater than zero."),
        ({"source": "=HYPERLINK(1)"}, "source", "formula"),
    ],
)
def test_a_wrong_rate_shows_on_its_field(
    billing_staff_admin_client: Client, data: dict[str, str], field: str, message: str
) -> None:
    form = {"month": "2026-06-01", "currency": "USD", "krw_per_unit": "1380.25", "source": "", **data}

    response = billing_staff_admin_client.post(reverse("admin:billing_exchangerate_add"), form)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert not ExchangeRate.objects.exists()


def test_a_second_rate_for_a_month_is_refused_on_add(billing_staff_admin_client: Client) -> None:
    exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)
    response = billing_staff_admin_client.post(
        reverse("admin:billing_exchangerate_add"),
        {"month": "2026-06-01", "currency": "USD", "krw_per_unit": "1", "source": ""},
    )
    assert response.status_code == 200
    assert ExchangeRate.objects.get().krw_per_unit == Decimal("1380.25")


def test_billing_staff_change_the_rate_not_its_month_or_currency(
    billing_staff_admin_client: Client, billing_staff_user: Any
) -> None:
    rate = exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)
    url = reverse("admin:billing_exchangerate_change", args=[rate.pk])
    page = billing_staff_admin_client.get(url).content.decode()
    assert 'name="krw_per_unit"' in page and 'name="month"' not in page and 'name="currency"' not in page

    response = billing_staff_admin_client.post(
        url, {"krw_per_unit": "1391.5", "source": "정정", "month": "2030-01-01", "currency": "EUR"}
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    rate.refresh_from_db()
    assert (rate.month, rate.currency, rate.krw_per_unit, rate.source) == (JUNE, "USD", Decimal("1391.5"), "정정")
    change = LogEntry.objects.get_for_object(rate).get(action=LogEntry.Action.UPDATE)
    assert change.actor == billing_staff_user  # who changed it, and from what
    assert [Decimal(value) for value in change.changes_dict["krw_per_unit"]] == [Decimal("1380.25"), Decimal("1391.5")]
    assert billing_staff_admin_client.get(url).status_code == 200


def test_a_read_only_staff_member_sees_rates_but_cannot_add_or_change_them(viewer_client: Client) -> None:
    rate = exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)
    change_url = reverse("admin:billing_exchangerate_change", args=[rate.pk])

    listing = viewer_client.get(reverse(CHANGELIST))
    assert listing.status_code == 200 and "1,380.25" in listing.content.decode()
    assert reverse(IMPORT) not in listing.content.decode()
    assert 'name="_save"' not in viewer_client.get(change_url).content.decode()
    assert viewer_client.get(reverse("admin:billing_exchangerate_add")).status_code == 403
    assert viewer_client.post(reverse("admin:billing_exchangerate_add"), {"month": "2026-07-01"}).status_code == 403
    assert viewer_client.post(change_url, {"krw_per_unit": "1", "source": ""}).status_code == 403
    assert viewer_client.get(reverse(IMPORT)).status_code == 403
    upload = csv_upload(b"month,currency,krw_per_unit\n2026-07,USD,1\n")
    assert viewer_client.post(reverse(IMPORT), {"file": upload}).status_code == 403
    assert list(ExchangeRate.objects.values_list("month", "krw_per_unit")) == [(JUNE, Decimal("1380.25"))]


def test_support_cannot_see_rates(support_admin_client: Client) -> None:
    rate = exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)
    for url in (
        reverse(CHANGELIST),
        reverse("admin:billing_exchangerate_change", args=[rate.pk]),
        reverse("admin:billing_exchangerate_add"),
        reverse(IMPORT),
    ):
        assert support_admin_client.get(url).status_code == 403, url
    assert "exchangerate" not in support_admin_client.get(reverse("admin:index")).content.decode()


def test_nobody_deletes_a_rate(admin_client: Client) -> None:
    rate = exchange_rate_set(month=JUNE, currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)
    assert admin_client.get(reverse("admin:billing_exchangerate_delete", args=[rate.pk])).status_code == 403
    assert ExchangeRate.objects.exists()


def test_the_list_charts_each_currency_rate_per_month(billing_staff_admin_client: Client) -> None:
    this_month = billing_date(timezone.now()).replace(day=1)
    for offset, rate in ((-2, "1350"), (-1, "1380.25"), (0, "1391.5")):
        exchange_rate_set(month=add_months(this_month, offset), currency="USD", krw_per_unit=Decimal(rate), actor=None)
    exchange_rate_set(month=this_month, currency="JPY", krw_per_unit=Decimal("9.1234"), actor=None)
    exchange_rate_set(month=add_months(this_month, -30), currency="EUR", krw_per_unit=Decimal("1495"), actor=None)

    body = billing_staff_admin_client.get(reverse(CHANGELIST)).content.decode()

    assert body.count('class="billing-chart exchange-rate-chart"') == 2  # EUR's only rate is older than 24 months
    assert 'data-currency="USD"' in body and 'data-currency="JPY"' in body
    assert body.count("<circle") == 4
    assert f"{this_month:%Y-%m} USD: ₩1,391.5" in body and "USD: ₩1,380.25" in body
    assert body.count("<polyline") == 1  # USD's three months joined; JPY has one point
    assert reverse(IMPORT) in body  # billing staff may import


def test_a_gap_month_breaks_the_line(billing_staff_admin_client: Client) -> None:
    this_month = billing_date(timezone.now()).replace(day=1)
    for offset in (-4, -3, -1, 0):  # nothing two months ago
        exchange_rate_set(
            month=add_months(this_month, offset), currency="USD", krw_per_unit=Decimal("1380"), actor=None
        )
    body = billing_staff_admin_client.get(reverse(CHANGELIST)).content.decode()
    assert body.count("<polyline") == 2


def test_import_page_imports_a_file(billing_staff_admin_client: Client, billing_staff_user: Any) -> None:
    assert billing_staff_admin_client.get(reverse(IMPORT)).status_code == 200
    upload = csv_upload("month,currency,krw_per_unit,source\n2026-06,USD,1380.25,한국은행\n".encode())

    response = billing_staff_admin_client.post(reverse(IMPORT), {"file": upload}, follow=True)

    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert "환율 1건을 가져왔습니다: 새로 1건, 변경 0건, 그대로 0건." in response.content.decode()
    assert ExchangeRate.objects.get().created_by == billing_staff_user


def test_import_page_lists_the_problems_and_imports_nothing(billing_staff_admin_client: Client) -> None:
    content = b"month,currency,krw_per_unit\n2026-06,USD,1380\n2026-07,USD,=1+1\n"

    response = billing_staff_admin_client.post(reverse(IMPORT), {"file": csv_upload(content)})

    assert response.status_code == 200
    assert response.context["problems"] == [
        "The file has 1 problem(s); nothing was imported.",
        "Line 3, krw_per_unit: Looks like a spreadsheet formula; refused.",
    ]
    assert 'id="import-problems"' in response.content.decode()
    assert not ExchangeRate.objects.exists()


def test_import_page_refuses_a_file_above_the_limit_unread(
    billing_staff_admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unread(*args: Any) -> bytes:
        raise AssertionError("a body declared too large was read")

    monkeypatch.setattr("billing.admin.exchange_rates.ImportSizeLimitHandler.receive_data_chunk", unread)
    huge = csv_upload(b"month,currency,krw_per_unit\n" + b"2026-06,USD,1380\n" * (2 * MAX_IMPORT_BYTES // 17))

    response = billing_staff_admin_client.post(reverse(IMPORT), {"file": huge})

    assert response.status_code == 200
    assert len(response.context["problems"]) == 1 and "256" in response.context["problems"][0]
    assert not ExchangeRate.objects.exists()


def test_import_page_refuses_a_file_growing_past_the_limit_while_it_streams(
    billing_staff_admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body whose declared length passes, whose file still grows past the limit: reading stops there."""
    monkeypatch.setattr("billing.admin.exchange_rates.MULTIPART_OVERHEAD_BYTES", 10 * MAX_IMPORT_BYTES)
    content = b"month,currency,krw_per_unit\n" + b"2026-06,USD,1380\n" * (MAX_IMPORT_BYTES // 17 + 100)

    response = billing_staff_admin_client.post(reverse(IMPORT), {"file": csv_upload(content)})

    assert response.status_code == 200
    assert "256" in response.context["problems"][0]
    assert not ExchangeRate.objects.exists()


def test_import_needs_the_csrf_token(billing_staff_user: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(billing_staff_user)
    upload = csv_upload(b"month,currency,krw_per_unit\n2026-06,USD,1380\n")

    response = browser.post(reverse(IMPORT), {"file": upload})

    assert response.status_code == 403
    assert not ExchangeRate.objects.exists()
    page = browser.get(reverse(IMPORT))
    token = page.context["csrf_token"]
    upload = csv_upload(b"month,currency,krw_per_unit\n2026-06,USD,1380\n")
    assert browser.post(reverse(IMPORT), {"file": upload, "csrfmiddlewaretoken": token}).status_code == 302
    assert ExchangeRate.objects.count() == 1
