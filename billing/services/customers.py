"""Writes of customer billing profiles: created on first need, edited with validated billing contacts
(사업자등록번호 with its check digit, billing and CC emails, 대표자, 업태/종목), and what staff set about tax: the
treatment, the legal basis of a 0 % VAT, the foreign default, and what a tax invoice needs; and the currency the
customer is billed in (chosen at the first subscribe or by staff, then fixed)."""

import logging
import unicodedata
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.enums import Language, TaxTreatment
from billing.models import Customer
from billing.money import MINOR_DIGITS, currency_normalize
from billing.selectors.customers import customer_currency_fixed
from billing.validators import business_registration_number_normalize
from billing_site.errors import ApplicationError
from billing_site.permissions import permission_require

from .subscription_tax_rates import subscriptions_tax_follow_enqueue

logger = logging.getLogger(__name__)

_UNSET: Any = object()

CC_EMAILS_MAX = 3
# The longest value of each free-text field of the profile (the model's max_length; email per RFC 5321).
TEXT_MAX_LENGTHS = {
    "display_name": 200,
    "email": 254,
    "address": 500,
    "representative_name": 100,
    "business_type": 100,
    "business_item": 100,
}
# These fields end up in email headers and PDF lines: a CR/LF would split a header (injection) and a NUL or other
# control character garbles a PDF, so no profile field accepts one (nor the Unicode line/paragraph separators).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


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
    cc_emails: list[str] = _UNSET,
    business_registration_number: str = _UNSET,
    representative_name: str = _UNSET,
    address: str = _UNSET,
    business_type: str = _UNSET,
    business_item: str = _UNSET,
    preferred_language: str = _UNSET,
    actor: Any = None,
) -> Customer:
    """Edit the profile; issued invoices keep the buyer details they were issued with.

    `actor` None is the system; a customer may edit their own profile, anyone else needs billing.change_customer.
    Invalid input is an ApplicationError naming the field, and nothing is saved.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if actor is not None and getattr(actor, "pk", None) != locked.user_id:
        permission_require(actor=actor, permission="billing.change_customer")
    given = {
        "display_name": display_name,
        "email": email,
        "cc_emails": cc_emails,
        "business_registration_number": business_registration_number,
        "representative_name": representative_name,
        "address": address,
        "business_type": business_type,
        "business_item": business_item,
        "preferred_language": preferred_language,
    }
    values = customer_profile_clean(
        customer=locked, values={name: value for name, value in given.items() if value is not _UNSET}
    )
    for name, value in values.items():
        setattr(locked, name, value)
    try:
        locked.full_clean(exclude=["user"])
    except DjangoValidationError as error:
        fields = error.message_dict
        first = next(iter(fields.values()))[0] if fields else "The profile is not valid."
        raise ApplicationError("validation_error", first, fields=fields) from error
    locked.save()
    return locked


def customer_profile_clean(*, customer: Customer, values: dict[str, Any]) -> dict[str, Any]:
    """The given profile fields checked and normalized, as customer_update stores them over `customer`'s (the
    admin form checks with it too). A refused value is an ApplicationError naming its field."""
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name == "cc_emails":
            cleaned[name] = cc_emails_clean(value)
        elif name == "email":
            cleaned[name] = email_clean(value, field="email")
        elif name == "business_registration_number":
            cleaned[name] = business_registration_number_clean(_text_clean(value, field=name, max_length=64))
        elif name == "preferred_language":
            if not isinstance(value, str) or value not in Language.values:
                raise ApplicationError(
                    "invalid_language",
                    f"preferred_language must be one of {', '.join(Language.values)}.",
                    fields={"preferred_language": ["Unknown language."]},
                )
            cleaned[name] = value
        elif name in TEXT_MAX_LENGTHS:
            cleaned[name] = _text_clean(value, field=name, max_length=TEXT_MAX_LENGTHS[name])
        else:
            raise ApplicationError(
                "unknown_field", f"{name} is not a field of the profile.", fields={name: ["Unknown."]}
            )
    if "display_name" in cleaned and not cleaned["display_name"]:
        raise ApplicationError(
            "invalid_display_name", "A display name is required.", fields={"display_name": ["Required."]}
        )
    billing = cleaned.get("email", customer.email).casefold()
    if billing and any(address.casefold() == billing for address in cleaned.get("cc_emails", customer.cc_emails)):
        raise _invalid(
            "cc_emails" if "cc_emails" in cleaned else "email",
            "The billing email is already a recipient; a CC address must differ from it.",
        )
    return cleaned


def email_clean(value: Any, *, field: str) -> str:
    """An email address, or empty: one line, Django's EmailValidator, the domain lowercased."""
    address = _text_clean(value, field=field, max_length=TEXT_MAX_LENGTHS["email"])
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if at:
        address = f"{local}@{domain.lower()}"
    try:
        validate_email(address)
    except DjangoValidationError as error:
        raise _invalid(field, "Enter a valid email address.") from error
    return address


def cc_emails_clean(value: Any) -> list[str]:
    """At most CC_EMAILS_MAX distinct valid addresses (compared without case)."""
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise _invalid("cc_emails", "A list of email addresses is expected.")
    if len(value) > CC_EMAILS_MAX:
        raise _invalid("cc_emails", f"At most {CC_EMAILS_MAX} CC addresses.")
    addresses: list[str] = []
    for item in value:
        address = email_clean(item, field="cc_emails")
        if not address:
            raise _invalid("cc_emails", "A CC address cannot be empty.")
        if address.casefold() in (known.casefold() for known in addresses):
            raise _invalid("cc_emails", f"{address} is listed twice.")
        addresses.append(address)
    return addresses


def _text_clean(value: Any, *, field: str, max_length: int) -> str:
    """One line of text without surrounding spaces: no control character, at most `max_length` characters."""
    if not isinstance(value, str):
        raise _invalid(field, "Text is expected.")
    if any(unicodedata.category(character) in _FORBIDDEN_CATEGORIES for character in value):
        raise _invalid(field, "Line breaks and control characters are not allowed.")
    text = value.strip()
    if len(text) > max_length:
        raise _invalid(field, f"At most {max_length} characters.")
    return text


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


@transaction.atomic
def customer_tax_treatment_set(*, customer: Customer, tax_treatment: str, actor: Any) -> Customer:
    """Staff set how VAT applies to a customer (taxable, zero-rated 영세율, exempt 면세); the customer never does.

    Later invoices and orders are computed with it; issued invoices keep their VAT. A live card subscription's
    renewals at the provider follow (subscription_tax_rates). `actor` None is the system.
    """
    permission_require(actor=actor, permission="billing.change_customer")
    if tax_treatment not in TaxTreatment.values:
        raise ApplicationError(
            "invalid_tax_treatment",
            f"tax_treatment must be one of {', '.join(TaxTreatment.values)}.",
            fields={"tax_treatment": ["Unknown tax treatment."]},
        )
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    changed = locked.tax_treatment != tax_treatment
    locked.tax_treatment = tax_treatment
    locked.save(update_fields=["tax_treatment", "updated_at"])
    if changed:
        # The provider charges card renewals with a tax rate of its own: it must follow, or its charge and our
        # invoice differ from the next renewal on.
        subscriptions_tax_follow_enqueue(customer=locked)
    return locked


TAX_BASIS_MAX_LENGTH = 200


@transaction.atomic
def customer_tax_basis_set(*, customer: Customer, tax_basis: str, actor: Any) -> Customer:
    """Staff set the legal basis printed on the customer's 0 % VAT invoices (one line; empty: the treatment's
    default basis, billing.tax). Issued invoices keep the basis they were issued with. `actor` None is the system."""
    permission_require(actor=actor, permission="billing.change_customer")
    text = customer_tax_basis_clean(tax_basis)
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    locked.tax_basis = text
    locked.save(update_fields=["tax_basis", "updated_at"])
    return locked


def customer_tax_basis_clean(value: Any) -> str:
    """A tax basis as stored: one line of at most TAX_BASIS_MAX_LENGTH characters (the admin form checks with it)."""
    return _text_clean(value, field="tax_basis", max_length=TAX_BASIS_MAX_LENGTH)


def customer_tax_default_apply(*, customer: Customer) -> Customer:
    """The default treatment of a foreign customer, applied once its currency is fixed (the caller holds the
    customer's lock): a customer billed in another currency than KRW and without a 사업자등록번호 is presumed to
    buy services exported abroad, zero-rated (영세율), unless staff already chose another treatment than the
    taxable default. Staff can still change it afterwards (customer_tax_treatment_set)."""
    foreign = customer.currency != "KRW" and not customer.business_registration_number
    if not foreign or customer.tax_treatment != TaxTreatment.TAXABLE:
        return customer
    # Conditional on the stored treatment: a concurrent staff choice is never overwritten.
    Customer.objects.filter(pk=customer.pk, tax_treatment=TaxTreatment.TAXABLE).update(
        tax_treatment=TaxTreatment.ZERO_RATED, updated_at=timezone.now()
    )
    customer.tax_treatment = Customer.objects.values_list("tax_treatment", flat=True).get(pk=customer.pk)
    return customer


def customer_tax_invoice_problem(*, customer: Customer) -> str | None:
    """Why a tax invoice (세금계산서) could not be issued to this customer, or None. A Korean business customer
    (billed in KRW, taxable, with business details) needs a valid 사업자등록번호; an individual or a foreign customer
    needs none. The number's checksum is checked again: rows written before it was validated may hold a bad one."""
    details = (customer.representative_name, customer.business_type, customer.business_item)
    korean_business = customer.currency == "KRW" and (bool(customer.business_registration_number) or any(details))
    if not korean_business or customer.tax_treatment != TaxTreatment.TAXABLE:
        return None
    if not customer.business_registration_number:
        return "A Korean business customer needs a business registration number (사업자등록번호) for a tax invoice."
    try:
        business_registration_number_normalize(customer.business_registration_number)
    except ValueError as error:
        return str(error)
    return None


def customer_tax_invoice_require(*, customer: Customer) -> None:
    """409 `business_registration_number_required` when a tax invoice could not be issued to the customer
    (customer_tax_invoice_problem); for the tax invoice issuing that builds on it."""
    problem = customer_tax_invoice_problem(customer=customer)
    if problem is not None:
        raise ApplicationError(
            "business_registration_number_required",
            problem,
            status_code=409,
            fields={"business_registration_number": [problem]},
        )


def customer_currency_validate(currency: object) -> str:
    """A currency as a request names it: exactly one of the supported ISO 4217 codes, in upper case (no guessing
    from "usd" or " USD"); else 400 `unsupported_currency` on the `currency` field."""
    if not isinstance(currency, str) or currency not in MINOR_DIGITS:
        shown = repr(currency)[:20]
        raise ApplicationError(
            "unsupported_currency",
            f"Currency {shown} is not supported; use one of {', '.join(sorted(MINOR_DIGITS))}.",
            fields={"currency": [f"One of {', '.join(sorted(MINOR_DIGITS))}."]},
        )
    return currency


@transaction.atomic
def customer_currency_set(*, customer: Customer, currency: str, actor: Any) -> Customer:
    """Staff choose the currency a customer will be billed in, while it is not fixed yet (customer_currency_fixed:
    no subscription, invoice or balance entry): 409 `currency_locked` once it is. billing.change_customer; `actor`
    None is the system. The customer's API never sets it (only its first subscribe chooses it)."""
    permission_require(actor=actor, permission="billing.change_customer")
    code = customer_currency_validate(currency)
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if code == locked.currency:
        return locked
    if customer_currency_fixed(customer=locked):
        raise ApplicationError(
            "currency_locked",
            f"This customer is billed in {locked.currency} already; its currency can no longer change.",
            fields={"currency": [f"Fixed: {locked.currency}."]},
            status_code=409,
        )
    _currency_move(locked, code)
    return locked


def customer_currency_choose(*, customer: Customer, currency: str, tax_default: bool = True) -> Customer:
    """The system is about to bill the customer in `currency` (a first subscription, a first invoice or order); the
    caller holds the customer's lock and `customer` is the locked instance, updated here. A currency not fixed yet
    becomes `currency`; a fixed one must be `currency` (409 `currency_mismatch`: a customer's money is in one
    currency).

    `tax_default`: a first subscription also gives a foreign customer its default tax treatment
    (customer_tax_default_apply), before anything is priced. Orders and invoices with amounts of their own (POST
    /api/orders, POST /api/payment/invoice) pass False: they keep the treatment staff set, as they always did."""
    if customer_currency_fixed(customer=customer):
        if customer.currency != currency:
            raise currency_mismatch(customer=customer, currency=currency)
        return customer
    if customer.currency != currency:
        _currency_move(customer, currency)
    return customer_tax_default_apply(customer=customer) if tax_default else customer


def _currency_move(locked: Customer, currency: str) -> None:
    """The not-yet-fixed currency of the locked customer becomes `currency` (saved). Back to KRW, a foreign
    customer's zero-rated default is undone: an earlier attempt in a foreign currency (a declined card: nothing was
    created) zero-rated them, billed in KRW they are domestic again, so 0 % VAT is never kept by switching
    currencies, by the customer or by staff (staff set the treatment again if it is right)."""
    was_foreign = locked.currency != "KRW" and not locked.business_registration_number
    locked.currency = currency
    update = ["currency", "updated_at"]
    if was_foreign and currency == "KRW" and locked.tax_treatment == TaxTreatment.ZERO_RATED:
        logger.info("customer %s back to KRW before any billing: taxable again", locked.pk)
        locked.tax_treatment = TaxTreatment.TAXABLE
        update.append("tax_treatment")
    locked.save(update_fields=update)


def currency_mismatch(*, customer: Customer, currency: str) -> ApplicationError:
    """409 `currency_mismatch`: something in `currency` for a customer billed in another one."""
    return ApplicationError(
        "currency_mismatch",
        f"This account is billed in {customer.currency}; nothing of it can be in {currency}.",
        fields={"currency": [f"Must be {customer.currency}."]},
        status_code=409,
    )


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
