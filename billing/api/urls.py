"""API routes of the billing app: the seed's paths, each mapped explicitly onto a viewset action.

Every path answers with and without a trailing slash (api_path); ids are 1-18 digits, so a longer one is
Django's 404 before any view runs.
"""

from billing_site.api.routers import api_path

from .viewsets import (
    BalanceViewSet,
    CreditNoteViewSet,
    CustomerViewSet,
    EntitlementsViewSet,
    InvoiceViewSet,
    OrderViewSet,
    PaymentHistoryViewSet,
    PlanViewSet,
    SubscriptionViewSet,
)
from .viewsets.usage import UsageEventViewSet
from .viewsets.usage_reads import UsageViewSet

INVOICE = r"api/invoices/(?P<invoice_id>[0-9]{1,18})"
CREDIT_NOTE = r"api/credit-notes/(?P<credit_note_id>[0-9]{1,18})"
ORDER = r"api/orders/(?P<order_id>[0-9]{1,18})"
SUBSCRIPTION = r"api/payment/subscriptions/(?P<subscription_id>[0-9]{1,18})"

urlpatterns = [
    # invoices
    api_path("api/payment/invoice", InvoiceViewSet.as_view({"post": "create"}), name="billing-invoice-create"),
    api_path("api/invoices", InvoiceViewSet.as_view({"get": "list"}), name="billing-invoice-list"),
    api_path(INVOICE, InvoiceViewSet.as_view({"get": "retrieve"}), name="billing-invoice-detail"),
    api_path(f"{INVOICE}/pdf", InvoiceViewSet.as_view({"get": "pdf"}), name="billing-invoice-pdf"),
    api_path(f"{INVOICE}/payments", InvoiceViewSet.as_view({"post": "payments"}), name="billing-invoice-payments"),
    api_path(f"{INVOICE}/void", InvoiceViewSet.as_view({"post": "void"}), name="billing-invoice-void"),
    api_path(
        f"{INVOICE}/mark-uncollectible",
        InvoiceViewSet.as_view({"post": "mark_uncollectible"}),
        name="billing-invoice-mark-uncollectible",
    ),
    api_path(
        f"{INVOICE}/credit-notes",
        CreditNoteViewSet.as_view({"post": "issue"}),
        name="billing-invoice-credit-notes",
    ),
    # credit notes
    api_path("api/credit-notes", CreditNoteViewSet.as_view({"get": "list"}), name="billing-credit-note-list"),
    api_path(CREDIT_NOTE, CreditNoteViewSet.as_view({"get": "retrieve"}), name="billing-credit-note-detail"),
    api_path(f"{CREDIT_NOTE}/pdf", CreditNoteViewSet.as_view({"get": "pdf"}), name="billing-credit-note-pdf"),
    # orders
    api_path("api/orders", OrderViewSet.as_view({"get": "list", "post": "create"}), name="billing-order-list"),
    api_path(ORDER, OrderViewSet.as_view({"get": "retrieve"}), name="billing-order-detail"),
    # the caller's billing profile (no id: only ever their own)
    api_path(
        "api/payment/customer",
        CustomerViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="billing-customer-profile",
    ),
    # payment history, and the credit balance with its ledger
    api_path("api/payment/history", PaymentHistoryViewSet.as_view({"get": "list"}), name="billing-payment-history"),
    api_path("api/payment/balance", BalanceViewSet.as_view({"get": "retrieve"}), name="billing-payment-balance"),
    # plans, subscriptions and checkout
    api_path("api/payment/plans", PlanViewSet.as_view({"get": "list"}), name="billing-plan-list"),
    api_path("api/payment/subscribe", SubscriptionViewSet.as_view({"post": "subscribe"}), name="billing-subscribe"),
    api_path(
        "api/payment/subscriptions", SubscriptionViewSet.as_view({"get": "list"}), name="billing-subscription-list"
    ),
    api_path(
        SUBSCRIPTION,
        SubscriptionViewSet.as_view({"delete": "destroy", "patch": "partial_update"}),
        name="billing-subscription-detail",
    ),
    api_path(
        f"{SUBSCRIPTION}/resume", SubscriptionViewSet.as_view({"post": "resume"}), name="billing-subscription-resume"
    ),
    api_path(
        f"{SUBSCRIPTION}/pause", SubscriptionViewSet.as_view({"post": "pause"}), name="billing-subscription-pause"
    ),
    api_path(
        f"{SUBSCRIPTION}/pending-change",
        SubscriptionViewSet.as_view({"delete": "pending_change_drop"}),
        name="billing-subscription-pending-change",
    ),
    api_path(
        f"{SUBSCRIPTION}/upcoming",
        SubscriptionViewSet.as_view({"get": "upcoming"}),
        name="billing-subscription-upcoming",
    ),
    api_path("api/payment/checkout", SubscriptionViewSet.as_view({"post": "checkout"}), name="billing-checkout"),
    # what the caller may use now (their own, or with an API key the customer named)
    api_path("api/payment/entitlements", EntitlementsViewSet.as_view({"get": "retrieve"}), name="billing-entitlements"),
    # the current period's usage (the caller's own, or with an API key the customer named)
    api_path("api/usage", UsageViewSet.as_view({"get": "retrieve"}), name="billing-usage"),
    # usage events: a customer's own, or with an API key (usage:write) those of the customers each event names
    api_path("api/usage/events", UsageEventViewSet.as_view({"post": "ingest"}), name="billing-usage-events"),
]
# Stripe's webhook (POST /api/payment/webhook) is routed by stripe_urls: it is no viewset, Stripe is its only client.
