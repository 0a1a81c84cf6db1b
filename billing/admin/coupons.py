"""Coupons in the admin: create one (through `coupon_create`, with a first promotion code if wanted), add codes,
deactivate, give a coupon to a customer (`coupon_apply_to_customer`), and the redemptions, read-only.

An issued coupon's terms never change (customers redeemed it as it was): its change page only adds codes.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models.coupons import Coupon, CouponRedemption, PromotionCode
from billing.periods import BillingPeriod
from billing.services.coupons import (
    CODE_PATTERN,
    code_normalize,
    coupon_apply_to_customer,
    coupon_create,
    coupon_deactivate,
    promotion_code_create,
    promotion_code_deactivate,
)
from billing_site.errors import ApplicationError

from .common import EMPTY, money, report_each, seoul_column

COUPON_TERMS = [
    "name",
    "percent_off",
    "amount_off",
    "currency",
    "duration",
    "duration_in_months",
    "max_redemptions",
    "redeem_by",
    "applies_to_plans",
    "applies_to_billing_periods",
]


class _DryRun(Exception):
    pass


def _checked_by_service(form: forms.BaseForm, operation: Any) -> None:
    """Run the service in a savepoint that is always rolled back, so its refusal shows on the form; the admin's
    save then runs it for real (its jobs queued in the rolled-back savepoint are dropped with it)."""
    try:
        with transaction.atomic():
            operation()
            raise _DryRun
    except _DryRun:
        pass
    except ApplicationError as error:
        _errors_to_form(form, error)


def _errors_to_form(form: forms.BaseForm, error: ApplicationError, *, fields: dict[str, str] | None = None) -> None:
    """The service's refusal on the form: on the field it names (mapped through `fields`), else on the form."""
    if not error.fields:
        form.add_error(None, error.message)
    for name, messages in error.fields.items():
        target = (fields or {}).get(name, name)
        form.add_error(target if target in form.fields else None, messages)


class CouponAdminForm(forms.ModelForm):
    """A new coupon: `coupon_create` checks it with the form (a refusal shows on its field) and makes it on save."""

    applies_to_billing_periods = forms.MultipleChoiceField(
        choices=BillingPeriod.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("applies to billing periods"),
        help_text=_("None ticked: monthly and annual."),
    )
    code = forms.CharField(
        required=False,
        max_length=40,
        label=_("promotion code"),
        help_text=_("Optional: a first code customers type for it (3-40 letters, digits, - or _)."),
    )

    class Meta:
        model = Coupon
        fields = COUPON_TERMS

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.instance.pk is not None or self.errors:
            return cleaned
        code = code_normalize(cleaned.get("code") or "")
        if code and not CODE_PATTERN.match(code):
            self.add_error("code", gettext("A code is 3 to 40 letters, digits, '-' or '_'."))
            return cleaned
        _checked_by_service(self, lambda: self.create(actor=self.actor))
        if cleaned.get("currency"):
            cleaned["currency"] = str(cleaned["currency"]).strip().upper()
        return cleaned

    def create(self, *, actor: Any) -> Coupon:
        cleaned = self.cleaned_data
        coupon = coupon_create(
            actor=actor,
            name=cleaned.get("name") or "",
            duration=cleaned.get("duration") or "",
            percent_off=cleaned.get("percent_off"),
            amount_off=cleaned.get("amount_off"),
            currency=cleaned.get("currency") or None,
            duration_in_months=cleaned.get("duration_in_months"),
            max_redemptions=cleaned.get("max_redemptions"),
            redeem_by=cleaned.get("redeem_by"),
            plans=list(cleaned.get("applies_to_plans") or []),
            billing_periods=list(cleaned.get("applies_to_billing_periods") or []),
        )
        code = code_normalize(cleaned.get("code") or "")
        if code:
            promotion_code_create(actor=actor, coupon=coupon, code=code)
        return coupon

    actor: Any = None


class PromotionCodeInlineForm(forms.ModelForm):
    class Meta:
        model = PromotionCode
        fields = ["code", "max_redemptions", "expires_at"]

    def clean_code(self) -> str:
        return code_normalize(self.cleaned_data.get("code") or "")


class PromotionCodeInline(admin.TabularInline):
    """The coupon's codes: new ones through `promotion_code_create`; existing ones read-only (deactivate them
    with the action on the promotion code list)."""

    model = PromotionCode
    form = PromotionCodeInlineForm
    extra = 0
    fields = ["code", "max_redemptions", "expires_at", "times_redeemed", "is_active"]
    readonly_fields = ["times_redeemed", "is_active"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("billing.add_coupon"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    form = CouponAdminForm
    list_display = ["name", "discount", "duration_text", "redemptions", "is_active", "created"]
    list_filter = ["is_active", "duration"]
    search_fields = ["name", "promotion_codes__code"]
    ordering = ["-created_at", "-id"]
    inlines = [PromotionCodeInline]
    actions = ["deactivate_selected"]
    filter_horizontal = ["applies_to_plans"]
    created = seoul_column("created_at", _("created at"), ordering="created_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class: Any = super().get_form(request, obj, change=change, **kwargs)
        form_class.actor = request.user
        return form_class

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return (*COUPON_TERMS, "code")
        return (*COUPON_TERMS, "times_redeemed", "is_active", "stripe_coupon_id", "created")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return self.get_fields(request, obj)  # its terms are what customers redeemed: never edited

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # redemptions point at it; deactivate it instead

    def save_model(self, request: HttpRequest, obj: Coupon, form: Any, change: bool) -> None:
        """A new coupon through `coupon_create` (checked with the form); an existing one is never edited."""
        if not change:
            obj.__dict__.update(form.create(actor=request.user).__dict__)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """New codes through `promotion_code_create` (existing ones are read-only)."""
        # What the admin's change message lists (formset.save would have set them).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for code_form in formset.extra_forms:
            if not code_form.has_changed() or not code_form.cleaned_data.get("code"):
                continue
            try:
                created = promotion_code_create(
                    actor=request.user,
                    coupon=form.instance,
                    code=code_form.cleaned_data["code"],
                    max_redemptions=code_form.cleaned_data.get("max_redemptions"),
                    expires_at=code_form.cleaned_data.get("expires_at"),
                )
            except ApplicationError as error:
                self.message_user(request, error.message, level="error")
            else:
                formset.new_objects.append(created)

    @admin.display(description=_("discount"))
    def discount(self, coupon: Coupon) -> str:
        if coupon.percent_off is not None:
            return f"{coupon.percent_off}%"
        return money(coupon.amount_off, coupon.currency)

    @admin.display(description=_("duration"), ordering="duration")
    def duration_text(self, coupon: Coupon) -> str:
        if coupon.duration_in_months:
            return gettext("%(months)s months") % {"months": coupon.duration_in_months}
        return str(coupon.get_duration_display())

    @admin.display(description=_("redemptions"), ordering="times_redeemed")
    def redemptions(self, coupon: Coupon) -> str:
        limit = EMPTY if coupon.max_redemptions is None else str(coupon.max_redemptions)
        return f"{coupon.times_redeemed} / {limit}"

    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("billing.change_coupon"))

    @admin.action(description=_("Deactivate selected coupons"), permissions=["deactivate"])
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[Coupon]) -> None:
        report_each(
            request,
            self,
            queryset,
            operation=lambda coupon: coupon_deactivate(coupon=coupon, actor=request.user),
            success=gettext("{object}: deactivated."),
        )


@admin.register(PromotionCode)
class PromotionCodeAdmin(admin.ModelAdmin):
    """Codes, for finding one and deactivating it; they are added on their coupon's page."""

    list_display = ["code", "coupon", "redemptions", "expires", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "coupon__name"]
    list_select_related = ["coupon"]
    actions = ["deactivate_selected"]
    readonly_fields = [
        "coupon",
        "code",
        "max_redemptions",
        "expires_at",
        "times_redeemed",
        "is_active",
        "stripe_promotion_code_id",
    ]
    expires = seoul_column("expires_at", _("expires at"), ordering="expires_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("redemptions"), ordering="times_redeemed")
    def redemptions(self, code: PromotionCode) -> str:
        limit = EMPTY if code.max_redemptions is None else str(code.max_redemptions)
        return f"{code.times_redeemed} / {limit}"

    def has_deactivate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("billing.change_coupon"))

    @admin.action(description=_("Deactivate selected promotion codes"), permissions=["deactivate"])
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[PromotionCode]) -> None:
        report_each(
            request,
            self,
            queryset,
            operation=lambda code: promotion_code_deactivate(promotion_code=code, actor=request.user),
            success=gettext("{object}: deactivated."),
        )


class CouponGiveForm(forms.ModelForm):
    """Staff give a coupon to a customer: `coupon_apply_to_customer` checks it with the form and runs on save."""

    class Meta:
        model = CouponRedemption
        fields = ["customer", "coupon"]

    actor: Any = None

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.instance.pk is not None or self.errors:
            return cleaned
        _checked_by_service(
            self,
            lambda: coupon_apply_to_customer(customer=cleaned["customer"], coupon=cleaned["coupon"], actor=self.actor),
        )
        return cleaned


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(admin.ModelAdmin):
    """Who redeemed what: read-only. "Add" gives a coupon to a customer (all their subscription invoices)."""

    form = CouponGiveForm
    list_display = [
        "coupon",
        "promotion_code",
        "customer",
        "subscription",
        "redeemed",
        "ends_on",
        "invoices_discounted",
    ]
    list_filter = ["coupon"]
    search_fields = ["coupon__name", "promotion_code__code", "customer__display_name", "customer__email"]
    list_select_related = ["coupon", "promotion_code", "customer", "subscription"]
    raw_id_fields = ["customer"]
    redeemed = seoul_column("redeemed_at", _("redeemed at"), ordering="redeemed_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class: Any = super().get_form(request, obj, change=change, **kwargs)
        form_class.actor = request.user
        return form_class

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("customer", "coupon")
        return (
            "coupon",
            "promotion_code",
            "customer",
            "subscription",
            "redeemed_at",
            "ends_on",
            "invoices_discounted",
            "created_by",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return () if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CouponRedemption, form: Any, change: bool) -> None:
        """Through `coupon_apply_to_customer` (checked with the form); a redemption is never edited."""
        if not change:
            redemption = coupon_apply_to_customer(customer=obj.customer, coupon=obj.coupon, actor=request.user)
            obj.__dict__.update(redemption.__dict__)
