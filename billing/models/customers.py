"""The billing profile of a user: who the invoices are addressed to, in which language, and their credit."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import Language, TaxTreatment
from billing.validators import business_registration_number_format, validate_business_registration_number


class Customer(models.Model):
    """One per user, created on first need (customer_get_or_create). Amounts in minor units of `currency`."""

    # PROTECT: a user with invoices cannot vanish; Korean law keeps billing records for five years.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="billing_customer", verbose_name=_("user")
    )
    display_name = models.CharField(max_length=200, verbose_name=_("display name"))
    email = models.EmailField(max_length=254, blank=True, verbose_name=_("email"))
    # 사업자등록번호, ten digits without separators; empty for individuals.
    business_registration_number = models.CharField(
        max_length=10,
        blank=True,
        default="",
        validators=[validate_business_registration_number],
        verbose_name=_("business registration number"),
    )
    address = models.CharField(max_length=500, blank=True, default="", verbose_name=_("address"))
    # Billing contacts printed on invoices (대표자, 업태, 종목) and copied on billing emails (CC, at most three).
    cc_emails = models.JSONField(
        default=list,
        blank=True,
        help_text="Up to three more addresses copied on billing emails, distinct from the billing email.",
        verbose_name=_("CC emails"),
    )
    representative_name = models.CharField(max_length=100, blank=True, default="", verbose_name=_("representative"))
    business_type = models.CharField(max_length=100, blank=True, default="", verbose_name=_("business type"))
    business_item = models.CharField(max_length=100, blank=True, default="", verbose_name=_("business item"))
    preferred_language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.KOREAN, verbose_name=_("preferred language")
    )
    currency = models.CharField(
        max_length=3, default="KRW", help_text="Currency of the credit balance.", verbose_name=_("currency")
    )
    # Only staff set it (admin); the server computes every invoice's VAT from it, never from client input.
    tax_treatment = models.CharField(
        max_length=16,
        choices=TaxTreatment.choices,
        default=TaxTreatment.TAXABLE,
        help_text="VAT treatment of this customer's invoices: taxable 10%, zero-rated (영세율) or exempt (면세).",
        verbose_name=_("tax treatment"),
    )
    # Printed on zero-rated (영세율) and exempt (면세) invoices; empty: the treatment's default basis (issue 17).
    tax_basis = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Legal basis printed on 0% VAT invoices; empty: the default basis of the tax treatment.",
        verbose_name=_("tax basis"),
    )
    credit_balance = models.BigIntegerField(
        default=0, help_text="Minor units of `currency`, used by next invoices.", verbose_name=_("credit balance")
    )
    # Usage before this moment is invoiced: events timestamped earlier are refused (set under the customer's lock
    # by the invoice that bills a period's usage; ingestion reads it under a key-share lock of the same row).
    usage_billed_until = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("usage billed until")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(credit_balance__gte=0), name="billing_customer_credit_non_negative"),
            models.CheckConstraint(
                condition=Q(business_registration_number="") | Q(business_registration_number__regex=r"^[0-9]{10}$"),
                name="billing_customer_brn_ten_digits",
            ),
            models.CheckConstraint(
                condition=Q(preferred_language__in=Language.values), name="billing_customer_language_valid"
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_customer_currency_iso"),
            models.CheckConstraint(
                condition=Q(tax_treatment__in=TaxTreatment.values), name="billing_customer_tax_treatment_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def business_registration_number_display(self) -> str:
        return business_registration_number_format(self.business_registration_number)
