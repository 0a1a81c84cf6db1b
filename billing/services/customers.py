"""Writes of customer billing profiles: created on first need, edited with a validated 사업자등록번호."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from billing.enums import Language, TaxTreatment
from billing.models import Customer
from billing.money import currency_normalize
from billing.validators import business_registration_number_normalize
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

_UNSET: Any = object()


def customer_get_or_create(*, user: Any) -> Customer:
    """The user's billing profile, created from the account on first need (safe under concurrent first calls)."""
    existing = Customer.objects.filter(user=user).first()
    if existing is not None:
        return existing
    language = settings.LANGUAGE_CODE[:2] if settings.LANGUAGE_CODE[:2] in Language.values else Language.KOREAN
    try:
        with transaction.atomic():
            return Customer.objects.create(
                user=user,
                display_name=(user.get_full_name() or user.get_username())[:200],
                email=user.email or "",
                preferred_language=language,
                currency=currency_normalize(None),
            )
    except IntegrityError:  # a concurrent request created it first
        return Customer.objects.get(user=user)


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    display_name: str = _UNSET,
    email: str = _UNSET,
    business_registration_number: str = _UNSET,
    address: str = _UNSET,
    preferred_language: str = _UNSET,
    actor: Any = None,
) -> Customer:
    """Edit the profile; issued invoices keep the buyer details they were issued with.

    `actor` None is the system; a customer may edit their own profile, anyone else needs billing.change_customer.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if actor is not None and getattr(actor, "pk", None) != locked.user_id:
        permission_require(actor=actor, permission="billing.change_customer")
    if display_name is not _UNSET:
        if not display_name.strip():
            raise ApplicationError(
                "invalid_display_name", "A display name is required.", fields={"display_name": ["Required."]}
            )
        locked.display_name = display_name.strip()
    if email is not _UNSET:
        locked.email = email
    if business_registration_number is not _UNSET:
        locked.business_registration_number = business_registration_number_clean(business_registration_number)
    if address is not _UNSET:
        locked.address = address
    if preferred_language is not _UNSET:
        if preferred_language not in Language.values:
            raise ApplicationError(
                "invalid_language",
                f"preferred_language must be one of {', '.join(Language.values)}.",
                fields={"preferred_language": ["Unknown language."]},
            )
        locked.preferred_language = preferred_language
    try:
        locked.full_clean(exclude=["user"])
    except DjangoValidationError as error:
        fields = error.message_dict
        first = next(iter(fields.values()))[0] if fields else "The profile is not valid."
        raise ApplicationError("validation_error", first, fields=fields) from error
    locked.save()
    return locked


@transaction.atomic
def customer_tax_treatment_set(*, customer: Customer, tax_treatment: str, actor: Any) -> Customer:
    """Staff set how VAT applies to a customer (taxable, zero-rated 영세율, exempt 면세); the customer never does.

    Later invoices and orders are computed with it; issued invoices keep their VAT. `actor` None is the system.
    """
    permission_require(actor=actor, permission="billing.change_customer")
    if tax_treatment not in TaxTreatment.values:
        raise ApplicationError(
            "invalid_tax_treatment",
            f"tax_treatment must be one of {', '.join(TaxTreatment.values)}.",
            fields={"tax_treatment": ["Unknown tax treatment."]},
        )
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    locked.tax_treatment = tax_treatment
    locked.save(update_fields=["tax_treatment", "updated_at"])
    return locked


def business_registration_number_clean(value: str) -> str:
    """Ten digits, or empty; a malformed or checksum-failing number is an ApplicationError."""
    if not value or not value.strip():
        return ""
    try:
        return business_registration_number_normalize(value)
    except ValueError as error:
        raise ApplicationError(
            "invalid_business_registration_number",
            str(error),
            fields={"business_registration_number": [str(error)]},
        ) from error
