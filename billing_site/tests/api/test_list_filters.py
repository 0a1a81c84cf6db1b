"""Every list filter refuses a present but empty or unknown value with a 400, instead of ignoring it."""

import pytest

pytestmark = pytest.mark.django_db

FILTERS = [
    ("/api/files", "category"),
    ("/api/invoices", "status"),
    ("/api/orders", "status"),
    ("/api/payment/history", "status"),
    ("/api/payment/history", "type"),
    ("/api/payment/subscriptions", "status"),
]


@pytest.mark.parametrize(("path", "name"), FILTERS)
@pytest.mark.parametrize("value", ["", "no-such-value"])
def test_empty_or_unknown_filter_value_is_a_400(customer_client, path, name, value):
    response = customer_client.get(f"{path}?{name}={value}")

    assert response.status_code == 400, (path, name, value, response.content)
    # One rule and one code for every list (billing_site.api.filters); `fields` names the filter.
    assert response.json()["error"]["code"] == "validation_error"
    assert name in response.json()["error"]["fields"]


@pytest.mark.parametrize(("path", "name"), FILTERS)
def test_lists_answer_without_the_filter(customer_client, path, name):
    assert customer_client.get(path).status_code == 200
