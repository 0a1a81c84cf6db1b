"""End to end in a real browser: headless Chromium (Debian's) driven by Playwright against a live server.

A billing staff member logs in, finds a customer's open invoice by its number, records a bank transfer,
sees the invoice paid, opens its PDF link and looks at the dashboard. Screenshots go to test-output/screenshots/.

Playwright's sync API runs an event loop, so Django's "no sync DB calls inside an event loop" guard is lifted
for this module only (DJANGO_ALLOW_ASYNC_UNSAFE), and the browser is started and stopped inside the module, so
no loop is left running for the tests that follow.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billing.enums import InvoiceStatus, PaymentMethod
from billing.models import Invoice, Payment
from billing.tests.factories import InvoiceFactory
from storage.tests.factories import DEFAULT_PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(os.environ.get("TEST_OUTPUT_DIR", "test-output")) / "screenshots"

pytestmark = [
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed (apt-get install chromium)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            yield launched
            launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, locale="ko-KR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_staff_records_a_bank_transfer_and_checks_the_dashboard(
    page: Any, billing_staff_user: Any, customer: Any, other_customer: Any
) -> None:
    staff = billing_staff_user
    InvoiceFactory.create(
        customer=other_customer, subtotal=10_000, line__description="베이직 플랜 (월간)", status=InvoiceStatus.OPEN
    )
    invoice = InvoiceFactory.create(
        customer=customer, subtotal=99_000, line__description="프로 플랜 (월간)", status=InvoiceStatus.OPEN
    )
    assert invoice.status == InvoiceStatus.OPEN

    page.goto("/admin/login/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    # Find the open invoice by its number.
    page.goto("/admin/billing/invoice/")
    page.fill("#searchbar", invoice.number)
    page.press("#searchbar", "Enter")
    page.wait_for_selector(f"#result_list a:text('{invoice.number}')")
    assert page.locator("#result_list tbody tr").count() == 1
    shot(page, "01-invoice-search")
    page.click(f"#result_list a:text('{invoice.number}')")
    page.wait_for_selector("a.billing-record-payment")
    assert "₩108,900" in page.content()

    # Record the bank transfer (the whole remaining amount) with the bank's reference.
    page.click("a.billing-record-payment")
    page.wait_for_selector("#record-payment-form")
    page.fill("input[name=reference]", "KB-E2E-0001")
    page.fill("input[name=note]", "국민은행 입금 확인")
    shot(page, "02-record-payment-form")
    page.click("#record-payment-form input[type=submit]")
    page.wait_for_selector("ul.messagelist")
    messages = page.inner_text("ul.messagelist")
    assert invoice.number in messages and "₩108,900" in messages and "결제 완료" in messages
    assert "결제 완료" in page.inner_text("fieldset")  # the status field
    shot(page, "03-invoice-paid")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.method, payment.provider_reference, payment.recorded_by_id) == (
        PaymentMethod.BANK_TRANSFER,
        "KB-E2E-0001",
        staff.pk,
    )

    # The PDF link signs a short-lived URL when clicked; the browser's session fetches the PDF through it.
    href = page.get_attribute("a.billing-open-pdf", "href")
    response = page.request.get(href)
    assert response.ok, response.status
    assert response.body().startswith(b"%PDF")
    assert Invoice.objects.get(pk=invoice.pk).pdf_status == "ready"

    # The dashboard, from the admin index.
    page.goto("/admin/")
    page.click("#billing-dashboard-link a")
    page.wait_for_selector("svg.billing-chart")
    assert page.locator("svg.billing-chart").count() == 2
    assert "₩11,000" in page.inner_text("#open-KRW")  # the other customer's invoice is still open
    assert page.locator('svg.billing-chart rect[data-value="108900"]').count() == 1  # this month's revenue bar
    shot(page, "04-dashboard")
