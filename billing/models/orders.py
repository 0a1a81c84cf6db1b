"""Orders: what a customer asked to buy, with its items and totals, before and after it is invoiced."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.enums import OrderStatus

from .customers import Customer


class Order(models.Model):
    """Totals are in minor units of `currency`; total = subtotal + tax, enforced by the database."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders", verbose_name=_("customer"))
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING, verbose_name=_("status")
    )
    currency = models.CharField(max_length=3, default="KRW", verbose_name=_("currency"))
    description = models.CharField(max_length=500, blank=True, default="", verbose_name=_("description"))
    subtotal = models.BigIntegerField(help_text="Supply amount (공급가액), minor units.", verbose_name=_("subtotal"))
    tax = models.BigIntegerField(help_text="VAT (부가세), minor units.", verbose_name=_("tax"))
    total = models.BigIntegerField(help_text="subtotal + tax (합계), minor units.", verbose_name=_("total"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    canceled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("canceled at"))

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at", "-id"], name="billing_ord_customer_created")]
        constraints = [
            models.CheckConstraint(condition=Q(subtotal__gt=0), name="billing_order_subtotal_positive"),
            models.CheckConstraint(condition=Q(tax__gte=0), name="billing_order_tax_non_negative"),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax")), name="billing_order_total_sum"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="billing_order_status_valid"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="billing_order_currency_iso"),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items", verbose_name=_("order"))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))
    description = models.CharField(max_length=500, verbose_name=_("description"))
    quantity = models.PositiveIntegerField(default=1, verbose_name=_("quantity"))
    unit_amount = models.BigIntegerField(
        help_text="Minor units of the order's currency.", verbose_name=_("unit amount")
    )
    amount = models.BigIntegerField(help_text="quantity x unit_amount.", verbose_name=_("amount"))

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        ordering = ["order", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="billing_order_item_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_amount__gte=0), name="billing_order_item_unit_non_negative"),
            models.CheckConstraint(
                condition=Q(amount=F("quantity") * F("unit_amount")), name="billing_order_item_amount_product"
            ),
        ]

    def __str__(self) -> str:
        return self.description
