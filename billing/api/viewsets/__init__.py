"""The billing API's viewsets, one module per resource; billing/api/urls.py maps the seed's paths onto them."""

from .balance import BalanceViewSet
from .credit_notes import CreditNoteViewSet
from .customers import CustomerViewSet
from .entitlements import EntitlementsViewSet
from .history import PaymentHistoryViewSet
from .invoices import InvoiceViewSet
from .orders import OrderViewSet
from .subscriptions import PlanViewSet, SubscriptionViewSet

__all__ = [
    "BalanceViewSet",
    "CreditNoteViewSet",
    "CustomerViewSet",
    "EntitlementsViewSet",
    "InvoiceViewSet",
    "OrderViewSet",
    "PaymentHistoryViewSet",
    "PlanViewSet",
    "SubscriptionViewSet",
]
