"""Customer profiles: created on first need, 사업자등록번호 validated on edit."""

import pytest

from billing.models import Customer
from billing.services.customers import customer_get_or_create, customer_update
from billing.tests.factories import UserFactory
from billing_site.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_profile_is_created_once_from_the_account():
    user = UserFactory(username="jiwoo")
    first = customer_get_or_create(user=user)
    again = customer_get_or_create(user=user)
    assert first.pk == again.pk
    assert Customer.objects.filter(user=user).count() == 1
    assert (first.display_name, first.email, first.preferred_language, first.credit_balance) == (
        "jiwoo",
        "jiwoo@example.com",
        "ko",
        0,
    )


def test_business_number_is_normalised(customer):
    updated = customer_update(customer=customer, business_registration_number="120-81-47521", preferred_language="en")
    assert updated.business_registration_number == "1208147521"
    assert updated.business_registration_number_display == "120-81-47521"
    assert updated.preferred_language == "en"


@pytest.mark.parametrize("number", ["120-81-47522", "12345"])
def test_invalid_business_number_is_refused(customer, number):
    with pytest.raises(ApplicationError) as refused:
        customer_update(customer=customer, business_registration_number=number)
    assert refused.value.code == "invalid_business_registration_number"
    customer.refresh_from_db()
    assert customer.business_registration_number == "2208162517"


def test_unknown_language_and_blank_name_are_refused(customer):
    with pytest.raises(ApplicationError) as language:
        customer_update(customer=customer, preferred_language="jp")
    assert language.value.code == "invalid_language"
    with pytest.raises(ApplicationError) as name:
        customer_update(customer=customer, display_name="  ")
    assert name.value.code == "invalid_display_name"


def test_database_refuses_a_malformed_business_number_and_negative_credit(customer):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(business_registration_number="12-34")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(credit_balance=-1)
