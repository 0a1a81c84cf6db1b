"""Project-wide test fixtures: the people of every test (users, their billing `Customer`s, their clients) and plans.

Who is who (each fixture is a new row per test, built with the factories of billing/tests/factories.py):

=====================  =================================================================================
``customer_user``      a customer's login (`User` "buyer", no staff flag, no groups)
``customer``           that user's billing profile (`Customer`): a Korean company (상호, 사업자등록번호, 주소)
``other_customer_user``  another customer's login (`User`), who must never see the first one's documents
``other_customer``     that user's billing profile (`Customer`)
``support_user``       staff (admin login) in the "support" group (migrations 0004 and 0007; docs/security.md)
``billing_staff_user`` staff in the "billing staff" group: may issue, void, record bank transfers, ...
``superuser``          is_staff and is_superuser: every permission
=====================  =================================================================================

Clients: ``api_client`` is anonymous; ``customer_client``, ``other_customer_client``, ``support_client``,
``billing_staff_client`` and ``superuser_client`` are DRF API clients with a real JWT access token of that user
(`billing_site.tests.helpers.jwt_client(user)` makes one for any other user). The admin (session login) is
``support_admin_client`` / ``billing_staff_admin_client``, pytest-django's ``admin_client`` for a superuser, and
`billing_site.tests.helpers.admin_session(user)` for anyone else.

``plans``: the plans of billing/plans.yaml (free 0 / starter 29,000 / pro 99,000 / enterprise 490,000 won a
month, annual ×10; team 15,000 per seat with a 14-day trial), keyed by slug, loaded by the real service.
``basic_and_pro_plans``: basic 10,000 and pro 99,000 (the admin's). Other plans: `SubscriptionPlanFactory`.
Every user logs in with `DEFAULT_PASSWORD`.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from billing.models import Customer, SubscriptionPlan
from billing.tests.factories import CustomerFactory, StaffUserFactory, SubscriptionPlanFactory, UserFactory
from billing_site.tests.helpers import admin_session, dead_port, jwt_client
from storage.tests.factories import DEFAULT_PASSWORD
from storage.tests.helpers import current_storage, s3_storage_options

__all__ = ["DEFAULT_PASSWORD"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Throttle counters and health results live in the cache; every test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def postgresql(db: None) -> None:
    """PostgreSQL only: row locks (SELECT ... FOR UPDATE) and the delete guards; SQLite has neither."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL (row locks, triggers): run under the harness (make test), not HARNESS_SERVICES=none"
        )


# --- the harness's servers ----------------------------------------------------------------------------


@pytest.fixture
def harness_s3() -> Iterator[Any]:
    """The harness's S3 server process (LocalStack), to stop and start again; it is running again after the test."""
    if not django_settings.AWS_STORAGE_BUCKET_NAME:
        pytest.skip("needs the harness's S3 server (run under make test, not HARNESS_SERVICES=none)")
    import harness

    server = harness.services().s3
    yield server
    if not server.running:
        server.start()


@pytest.fixture
def harness_redis() -> Iterator[Any]:
    """The harness's Redis (`url`: redis://127.0.0.1:PORT/0), to stop and start again; running and empty after the test.

    Settings keep Celery eager: a test that wants the real broker points CELERY_BROKER_URL at `url` itself."""
    if not os.environ.get("HARNESS_REDIS_URL"):
        pytest.skip("needs the harness's Redis server (run under make test, not HARNESS_SERVICES=none)")
    import harness

    server = harness.services().redis
    yield server
    if not server.running:
        server.start()
    server.reset()


@pytest.fixture
def smtp_mail(settings: Any) -> Iterator[Any]:
    """A real SMTP server (aiosmtpd, harness/smtp.py) that Django sends to in this test; `.messages()` is what it
    received. Empty at the start; running again after a test that stopped it or made it refuse."""
    from harness.smtp import smtp_server

    server = smtp_server()
    server.reset()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.start()
    server.reset()


@pytest.fixture
def unreachable_s3(settings: Any) -> Any:
    """The default storage is S3 on a port where no server listens: every request is refused at once."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_storage_options(
                bucket_name=django_settings.AWS_STORAGE_BUCKET_NAME or "billing-test",
                endpoint_url=f"http://127.0.0.1:{dead_port()}",
                access_key="test",
                secret_key="test",  # noqa: S106 (nothing listens there)
                region_name="us-east-1",
                addressing_style="path",
                client_config=BotoConfig(
                    connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"}
                ),
            ),
        },
    }
    return current_storage()


# --- people --------------------------------------------------------------------------------------------


@pytest.fixture
def customer_user(db: None) -> Any:
    """A customer's login (`User` "buyer"); asking for it alone makes no `Customer` row."""
    return UserFactory.create(username="buyer")


@pytest.fixture
def customer(customer_user: Any) -> Customer:
    """The billing profile of `customer_user`: a Korean business with a valid 사업자등록번호."""
    return CustomerFactory.create(user=customer_user, business=True)


@pytest.fixture
def other_customer_user(db: None) -> Any:
    """Another customer's login (`User`), for ownership tests (their requests for the first one's things: 404)."""
    return UserFactory.create(username="intruder")


@pytest.fixture
def other_customer(other_customer_user: Any) -> Customer:
    """The billing profile of `other_customer_user`."""
    return CustomerFactory.create(user=other_customer_user)


@pytest.fixture
def support_user(db: None) -> Any:
    """Staff in the "support" group: reads customers and invoices, changes nothing about money."""
    return StaffUserFactory.create(username="support", group="support")


@pytest.fixture
def billing_staff_user(db: None) -> Any:
    """Staff in the "billing staff" group. What staff may do is their permissions, not `is_staff`."""
    return StaffUserFactory.create(username="accountant", group="billing staff")


@pytest.fixture
def superuser(db: None) -> Any:
    """is_staff and is_superuser: every permission."""
    return UserFactory.create(username="root", superuser=True)


# --- API clients (real JWTs) and admin sessions --------------------------------------------------------


@pytest.fixture
def api_client() -> APIClient:
    """An anonymous API client."""
    return APIClient()


@pytest.fixture
def customer_client(customer_user: Any) -> APIClient:
    return jwt_client(customer_user)


@pytest.fixture
def other_customer_client(other_customer_user: Any) -> APIClient:
    return jwt_client(other_customer_user)


@pytest.fixture
def support_client(support_user: Any) -> APIClient:
    return jwt_client(support_user)


@pytest.fixture
def billing_staff_client(billing_staff_user: Any) -> APIClient:
    return jwt_client(billing_staff_user)


@pytest.fixture
def superuser_client(superuser: Any) -> APIClient:
    return jwt_client(superuser)


@pytest.fixture
def support_admin_client(support_user: Any) -> Client:
    """The admin, logged in as `support_user`."""
    return admin_session(support_user)


@pytest.fixture
def billing_staff_admin_client(billing_staff_user: Any) -> Client:
    """The admin, logged in as `billing_staff_user`."""
    return admin_session(billing_staff_user)


# --- catalogue -----------------------------------------------------------------------------------------


@pytest.fixture
def plans(db: None) -> dict[str, SubscriptionPlan]:
    """The plans of billing/plans.yaml by slug, loaded by `plans_sync` (Stripe stays off: no Stripe prices)."""
    from billing.services.plans import plan_file_load, plans_sync

    plans_sync(plan_file=plan_file_load())
    return {plan.slug: plan for plan in SubscriptionPlan.objects.all()}


@pytest.fixture
def basic_and_pro_plans(db: None) -> dict[str, SubscriptionPlan]:
    """Two plans by slug, for the admin and permission tests: basic ₩10,000 a month / ₩100,000 a year ("베이직")
    and pro ₩99,000 / ₩990,000 ("프로")."""
    return {
        "basic": SubscriptionPlanFactory.create(
            slug="basic", name="베이직", name_en="Basic", monthly_price=10_000, annual_price=100_000, display_order=10
        ),
        "pro": SubscriptionPlanFactory.create(
            slug="pro", name="프로", name_en="Pro", monthly_price=99_000, annual_price=990_000, display_order=20
        ),
    }
