"""API routes of the billing app; every path answers with and without a trailing slash."""

from billing_site.api.routers import api_path

from . import views

ID = r"(?P<invoice_id>[0-9]{1,18})"

urlpatterns = [
    api_path("api/payment/invoice", views.InvoiceCreateView.as_view(), name="billing-invoice-create"),
    api_path("api/payment/history", views.PaymentHistoryView.as_view(), name="billing-payment-history"),
    api_path("api/invoices", views.InvoiceListView.as_view(), name="billing-invoice-list"),
    api_path(f"api/invoices/{ID}", views.InvoiceDetailView.as_view(), name="billing-invoice-detail"),
    api_path(f"api/invoices/{ID}/pdf", views.InvoicePdfView.as_view(), name="billing-invoice-pdf"),
    api_path(f"api/invoices/{ID}/payments", views.InvoicePaymentCreateView.as_view(), name="billing-invoice-payments"),
    api_path(f"api/invoices/{ID}/void", views.InvoiceVoidView.as_view(), name="billing-invoice-void"),
    api_path(
        f"api/invoices/{ID}/mark-uncollectible",
        views.InvoiceMarkUncollectibleView.as_view(),
        name="billing-invoice-mark-uncollectible",
    ),
    api_path("api/orders", views.OrderListCreateView.as_view(), name="billing-order-list"),
    api_path(r"api/orders/(?P<order_id>[0-9]{1,18})", views.OrderDetailView.as_view(), name="billing-order-detail"),
]
