"""API routes of plans, subscriptions and checkout; every path answers with and without a trailing slash."""

from billing_site.api.routers import api_path

from . import subscriptions as views

urlpatterns = [
    api_path("api/payment/plans", views.PlanListView.as_view(), name="billing-plan-list"),
    api_path("api/payment/subscribe", views.SubscribeView.as_view(), name="billing-subscribe"),
    api_path("api/payment/subscriptions", views.SubscriptionListView.as_view(), name="billing-subscription-list"),
    api_path(
        r"api/payment/subscriptions/(?P<subscription_id>[0-9]{1,18})",
        views.SubscriptionCancelView.as_view(),
        name="billing-subscription-detail",
    ),
    api_path("api/payment/checkout", views.CheckoutView.as_view(), name="billing-checkout"),
]
