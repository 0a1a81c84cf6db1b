"""The suite really talks to PostgreSQL, the S3 server and the Stripe server that the harness started."""

import os

import boto3
import pytest
import stripe
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(os.environ.get("HARNESS_SERVICES") == "none", reason="servers disabled by HARNESS_SERVICES"),
]


def test_database_is_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0]

    assert connection.vendor == "postgresql"
    assert version.startswith("PostgreSQL")
    assert "127.0.0.1" in os.environ["DATABASE_URL"]


def test_files_reach_the_s3_server():
    name = default_storage.save("tests/reached.txt", ContentFile(b"reached"))
    raw = boto3.client(
        "s3",
        endpoint_url=settings.AWS_S3_ENDPOINT_URL,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=settings.AWS_S3_REGION_NAME,
    )

    stored = raw.get_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=name)["Body"].read()

    assert settings.AWS_S3_ENDPOINT_URL.startswith("http://127.0.0.1:")
    assert stored == b"reached"


def test_stripe_calls_reach_the_local_stripe_server():
    client = stripe.StripeClient(
        os.environ["TEST_STRIPE_SECRET_KEY"], base_addresses={"api": os.environ["TEST_STRIPE_API_BASE"]}
    )

    created = client.v1.customers.create(params={"email": "reached@example.com"})
    fetched = client.v1.customers.retrieve(created.id)

    assert os.environ["TEST_STRIPE_API_BASE"].startswith("http://127.0.0.1:")
    assert created.id.startswith("cus_")
    assert fetched.email == "reached@example.com"


def test_stripe_is_off_unless_a_test_switches_it_on():
    assert settings.STRIPE_ENABLED is False
