"""Orders: what a customer asked to buy, with its items and totals, before and after it is invoiced."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from billing.enums import OrderStatus

from .customers import Customer


class Order(models.Model):
    """Totals are in minor units of `currency`; total = subtotal + tax, enforced by the database."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    currency = models.CharField(max_length=3, default="KRW")
    description = models.CharField(max_length=500, blank=True, default="")
    subtotal = models.BigIntegerField(help_text="Supply amount (공급가액), minor units.")
    tax = models.BigIntegerField(help_text="VAT (부가세), minor units.")
    total = models.BigIntegerField(help_text="subtotal + tax (합계), minor units.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(max_length=500)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = models.BigIntegerField(help_text="Minor units of the order's currency.")
    amount = models.BigIntegerField(help_text="quantity x unit_amount.")

    class Meta:
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
