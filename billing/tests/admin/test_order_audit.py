"""Orders are in the audit trail: their creation, and every change with the staff user who made it."""

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.admin import helpers
from django.test import Client
from django.urls import reverse

from billing.enums import OrderStatus
from billing.models import Order
from billing.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_an_order_canceled_in_the_admin_is_logged_with_the_staff_user(admin_client: Client, admin_user: Any) -> None:
    order = OrderFactory.create()
    assert LogEntry.objects.get_for_object(order).filter(action=LogEntry.Action.CREATE).get().actor is None

    response = admin_client.post(
        reverse("admin:billing_order_changelist"),
        {"action": "cancel_selected", helpers.ACTION_CHECKBOX_NAME: [order.pk]},
    )

    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELED
    change = LogEntry.objects.get_for_object(order).filter(action=LogEntry.Action.UPDATE).latest("timestamp")
    assert change.actor == admin_user
    assert change.changes_dict["status"] == [OrderStatus.PENDING, OrderStatus.CANCELED]
