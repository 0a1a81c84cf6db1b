"""The permission matrix: every role against every endpoint, admin page and admin action (docs/security.md).

MATRIX below is the one table: docs/security.md shows each of its rows word for word (a test checks), and the
tests here walk the live URL conf and the admin site, so that

- an URL pattern, an API method, a registered ModelAdmin or an admin action without a row fails
  (`test_every_url_model_and_admin_action_has_a_row`), and a row for something that no longer exists fails too;
- every row is called as every role, and the outcome must be the one written down: for a refusal, nothing in
  the database may have changed.

Roles: anonymous; customer (a user without permissions); support and billing staff (staff in the groups of
billing migrations 0004 and 0007); superuser. Outcomes:

allowed       the call succeeds
own only      allowed on the caller's own objects; another customer's is 404, as if it did not exist
401 / 403     not authenticated / refused (`permission_denied` in the API); nothing changed
404           not found for this role
400           refused as malformed, whoever sends it
signed        the request's signature decides, whoever sends it (a valid one works, a bad one is refused)
login         the admin sends the user to its login page (not staff, or not logged in)
hidden        the admin action is not offered; posting it anyway changes nothing
view, add, change, delete   admin model pages: what the admin lets the role do with one of those objects
all           every page a third-party admin offers (it may have no add page, say)
"""

import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from billing_site.tests.helpers import admin_session, jwt_client

ROLES = ("anonymous", "customer", "support", "billing staff", "superuser")
DOCUMENT = Path(django_settings.BASE_DIR) / "docs" / "security.md"

pytestmark = pytest.mark.django_db


# --- the table -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the matrix: what is called (`what`, shown in the doc), and the outcome for each role."""

    kind: str  # "api", "page" (an admin URL of its own), "model" (a ModelAdmin's pages), "action"
    key: tuple[str, ...]
    what: str
    outcomes: tuple[str, str, str, str, str]

    def markdown(self) -> str:
        return "| " + " | ".join((self.what, *self.outcomes)) + " |"

    def outcome(self, role: str) -> str:
        return self.outcomes[ROLES.index(role)]


def _outcomes(text: str) -> tuple[str, str, str, str, str]:
    parts = tuple(part.strip() for part in text.split("|"))
    assert len(parts) == len(ROLES), text
    return parts  # type: ignore[return-value]


def api(method: str, name: str, route: str, outcomes: str, variant: str = "") -> Row:
    what = f"`{method} {route}`" + (f" ({variant})" if variant else "")
    return Row("api", (name, method, variant), what, _outcomes(outcomes))


def page(method: str, name: str, route: str, outcomes: str, variant: str = "", *, button: str = "") -> Row:
    what = f"`{method} /admin/{route}`" + (f" ({variant})" if variant else "")
    return Row("page", (name, method, variant or button), what, _outcomes(outcomes))


def model(label: str, outcomes: str, variant: str = "") -> Row:
    what = f"`{label}`" + (f" ({variant})" if variant else "")
    return Row("model", (label, variant), what, _outcomes(outcomes))


def action(label: str, name: str, outcomes: str) -> Row:
    return Row("action", (label, name), f"`{label}`: `{name}`", _outcomes(outcomes))


PUBLIC = "allowed | allowed | allowed | allowed | allowed"
SIGNED_ONLY = "signed | signed | signed | signed | signed"  # a valid signature works for anyone, a bad one for nobody
SIGNED_IN = "401 | allowed | allowed | allowed | allowed"
OWN = "401 | own only | own only | own only | own only"
MONEY = "401 | 403 | 403 | allowed | allowed"  # billing staff's permissions, whoever holds them
STAFF_SITE = "login | login | allowed | allowed | allowed"
ADMIN_ONLY = "login | login | 403 | 403 | allowed"
ACT = "login | login | 403 | allowed | allowed"  # an admin URL of billing staff (support get the 403 page)
ACTION = "login | login | hidden | allowed | allowed"  # an admin action of billing staff
SUPERUSER_ACTION = "login | login | 403 | 403 | allowed"
NOBODY = "login | login | hidden | hidden | hidden"
THIRD_PARTY_ACTION = "login | login | 403 | 403 | all"  # what dj-stripe offers a superuser, model by model

NOBODY_DELETES = (
    "billing.customer",
    "billing.invoice",
    "billing.invoicenumbersequence",
    "billing.invoiceline",
    "billing.order",
    "billing.orderitem",
    "billing.payment",
    "billing.subscription",
    "billing.subscriptioninvoice",
    "billing.subscriptionpause",
    "billing.trialclaim",
    "billing.dunningstep",
    "billing.creditnote",
    "billing.creditnoteline",
    "billing.creditnotenumbersequence",
    "billing.refund",
    "billing.customerbalanceentry",
    "billing.coupon",
    "billing.promotioncode",
    "billing.couponredemption",
    "billing.billablemetric",
    "billing.plancharge",
    "billing.planprice",
    "billing.usageevent",
    "billing.usagerollup",
    "billing.usagealert",
    "auditlog.logentry",
    "jobs.job",
    "mail.email",
)

MATRIX: list[Row] = [
    # --- the API (JWT; the session of an admin login works too) ---
    api("GET", "healthz", "/healthz", PUBLIC),
    api("GET", "healthz-live", "/healthz/live", PUBLIC),
    api("GET", "healthz-ready", "/healthz/ready", PUBLIC),
    api("POST", "auth-register", "/api/auth/register", PUBLIC),
    api("POST", "auth-token", "/api/auth/token", PUBLIC),
    api("POST", "auth-token-refresh", "/api/auth/token/refresh", PUBLIC),
    api("POST", "auth-logout", "/api/auth/logout", SIGNED_IN),
    api("POST", "auth-password", "/api/auth/password", SIGNED_IN, "one's own"),
    api("POST", "auth-password-reset", "/api/auth/password/reset", PUBLIC),
    api("POST", "auth-password-reset-confirm", "/api/auth/password/reset/confirm", PUBLIC, "with an emailed link"),
    api("GET", "api-schema", "/api/schema", PUBLIC),
    api("GET", "api-docs", "/api/docs", PUBLIC),
    api("GET", "files-list", "/api/files", SIGNED_IN),
    api("POST", "files-upload", "/api/files/upload", SIGNED_IN),
    api("POST", "files-upload-url", "/api/files/upload-url", SIGNED_IN),
    api("POST", "files-presigned-url", "/api/files/presigned-url", OWN),
    api("GET", "files-detail", "/api/files/{id}", OWN),
    api("DELETE", "files-detail", "/api/files/{id}", OWN),
    api("POST", "files-complete", "/api/files/{id}/complete", OWN),
    api("POST", "billing-invoice-create", "/api/payment/invoice", SIGNED_IN, "for oneself"),
    api(
        "POST",
        "billing-invoice-create",
        "/api/payment/invoice",
        "401 | 404 | 403 | allowed | allowed",
        "`customer_id` of another customer",
    ),
    api(
        "POST",
        "billing-invoice-create",
        "/api/payment/invoice",
        "401 | 404 | 403 | allowed | allowed",
        "`order_id` of another customer's order",
    ),
    api("GET", "billing-payment-history", "/api/payment/history", SIGNED_IN),
    api("GET", "billing-customer-profile", "/api/payment/customer", SIGNED_IN, "the caller's own profile"),
    api("PATCH", "billing-customer-profile", "/api/payment/customer", SIGNED_IN, "the caller's own profile"),
    api("GET", "billing-invoice-list", "/api/invoices", SIGNED_IN),
    api("GET", "billing-invoice-detail", "/api/invoices/{id}", OWN),
    api("GET", "billing-invoice-pdf", "/api/invoices/{id}/pdf", OWN),
    api("POST", "billing-invoice-payments", "/api/invoices/{id}/payments", MONEY),
    api("POST", "billing-invoice-void", "/api/invoices/{id}/void", MONEY),
    api("POST", "billing-invoice-mark-uncollectible", "/api/invoices/{id}/mark-uncollectible", MONEY),
    api("POST", "billing-invoice-credit-notes", "/api/invoices/{id}/credit-notes", MONEY),
    api("GET", "billing-credit-note-list", "/api/credit-notes", SIGNED_IN),
    api("GET", "billing-credit-note-detail", "/api/credit-notes/{id}", OWN),
    api("GET", "billing-credit-note-pdf", "/api/credit-notes/{id}/pdf", OWN),
    api("GET", "billing-payment-balance", "/api/payment/balance", SIGNED_IN, "the caller's own"),
    api("GET", "billing-order-list", "/api/orders", SIGNED_IN),
    api("POST", "billing-order-list", "/api/orders", SIGNED_IN),
    api("GET", "billing-order-detail", "/api/orders/{id}", OWN),
    api("GET", "billing-plan-list", "/api/payment/plans", PUBLIC),
    api("POST", "billing-subscribe", "/api/payment/subscribe", SIGNED_IN),
    api("GET", "billing-subscription-list", "/api/payment/subscriptions", SIGNED_IN),
    api("DELETE", "billing-subscription-detail", "/api/payment/subscriptions/{id}", OWN),
    api("PATCH", "billing-subscription-detail", "/api/payment/subscriptions/{id}", OWN),
    api("POST", "billing-subscription-resume", "/api/payment/subscriptions/{id}/resume", OWN),
    api("POST", "billing-subscription-pause", "/api/payment/subscriptions/{id}/pause", OWN),
    api("DELETE", "billing-subscription-pending-change", "/api/payment/subscriptions/{id}/pending-change", OWN),
    api("GET", "billing-subscription-upcoming", "/api/payment/subscriptions/{id}/upcoming", OWN),
    api("GET", "billing-entitlements", "/api/payment/entitlements", SIGNED_IN, "the caller's own"),
    api("GET", "billing-usage", "/api/usage", SIGNED_IN, "the caller's own"),
    api("POST", "billing-usage-events", "/api/usage/events", SIGNED_IN, "the caller's own events"),
    api("POST", "billing-checkout", "/api/payment/checkout", SIGNED_IN),
    api("POST", "billing-stripe-webhook", "/api/payment/webhook", SIGNED_ONLY, "signed by Stripe"),
    api("POST", "billing-stripe-webhook", "/api/payment/webhook", "400 | 400 | 400 | 400 | 400", "a forged signature"),
    api("GET", "storage-signed-download", "/files/signed/{token}", SIGNED_ONLY, "local file storage"),
    api("POST", "storage-signed-upload", "/files/signed-upload", SIGNED_ONLY, "local file storage"),
    # --- admin URLs of their own ---
    page("GET", "admin:index", "", STAFF_SITE),
    page("GET", "admin:login", "login/", PUBLIC),
    page("POST", "admin:logout", "logout/", PUBLIC),
    page("GET", "admin:password_change", "password_change/", STAFF_SITE),
    page("GET", "admin:password_change_done", "password_change/done/", STAFF_SITE),
    page("GET", "admin:jsi18n", "jsi18n/", STAFF_SITE),
    page("GET", "admin:autocomplete", "autocomplete/", STAFF_SITE, "customers, for an invoice's customer field"),
    page("GET", "admin:view_on_site", "r/{type}/{id}/", "login | login | 404 | 404 | 404", "no model has a site URL"),
    page("GET", "admin:catch_all", "{anything else}", "login | login | 404 | 404 | 404"),
    page("GET", "admin:app_list", "{app}/", STAFF_SITE, "billing"),
    page("GET", "admin:app_list", "{app}/", "login | login | 404 | 404 | allowed", "djstripe"),
    page("GET", "admin:billing_dashboard", "dashboard/", STAFF_SITE),
    page("POST", "admin:billing_set_language", "language/", PUBLIC),
    page("GET", "admin:billing_customer_billing_history", "billing/customer/{id}/billing-history/", STAFF_SITE),
    page("GET", "admin:billing_invoice_pdf", "billing/invoice/{id}/pdf/", STAFF_SITE),
    page("GET", "admin:billing_invoice_export_csv", "billing/invoice/export-csv/", STAFF_SITE),
    page("GET", "admin:billing_payment_export_csv", "billing/payment/export-csv/", STAFF_SITE),
    page("GET", "admin:billing_creditnote_export_csv", "billing/creditnote/export-csv/", STAFF_SITE),
    page("GET", "admin:billing_refund_export_csv", "billing/refund/export-csv/", STAFF_SITE),
    page("GET", "admin:billing_invoice_record_payment", "billing/invoice/record-payment/", ACT),
    page("POST", "admin:billing_invoice_record_payment", "billing/invoice/record-payment/", ACT),
    *(
        page("POST", "admin:billing_invoice_object_action", f"billing/invoice/{{id}}/do/{name}/", ACT, button=name)
        for name in ("finalize", "void", "mark_uncollectible", "regenerate_pdf", "stripe_sync")
    ),
    page("GET", "admin:billing_invoice_credit_note", "billing/invoice/{id}/credit-note/", ACT),
    page("POST", "admin:billing_invoice_credit_note", "billing/invoice/{id}/credit-note/", ACT),
    page("GET", "admin:billing_creditnote_pdf", "billing/creditnote/{id}/pdf/", STAFF_SITE),
    page("GET", "admin:billing_customer_adjust_balance", "billing/customer/{id}/adjust-balance/", ACT),
    page("POST", "admin:billing_customer_adjust_balance", "billing/customer/{id}/adjust-balance/", ACT),
    page("GET", "admin:billing_subscription_change_plan", "billing/subscription/{id}/change-plan/", ACT),
    page("POST", "admin:billing_subscription_change_plan", "billing/subscription/{id}/change-plan/", ACT),
    *(
        page(
            "POST",
            "admin:billing_subscription_object_action",
            f"billing/subscription/{{id}}/do/{name}/",
            ACT,
            button=name,
        )
        for name in ("cancel_at_period_end", "cancel_now", "renew", "resume", "drop_pending_change", "stripe_sync")
    ),
    page("GET", "admin:billing_subscription_pause", "billing/subscription/{id}/pause/", ACT),
    page("POST", "admin:billing_subscription_pause", "billing/subscription/{id}/pause/", ACT),
    page("GET", "admin:billing_subscription_seats", "billing/subscription/{id}/seats/", ACT),
    page("POST", "admin:billing_subscription_seats", "billing/subscription/{id}/seats/", ACT),
    page("POST", "admin:billing_subscriptionplan_stripe_sync", "billing/subscriptionplan/{id}/stripe-sync/", ACT),
    page("GET", "admin:billing_exchangerate_import", "billing/exchangerate/import/", ACT),
    page("POST", "admin:billing_exchangerate_import", "billing/exchangerate/import/", ACT),
    page("GET", "admin:storage_storedfile_open", "storage/storedfile/{id}/open/", STAFF_SITE, "an invoice PDF"),
    page("GET", "admin:storage_storedfile_open", "storage/storedfile/{id}/open/", ACT, "a customer's upload"),
    page("GET", "admin:auth_user_password_change", "auth/user/{id}/password/", ADMIN_ONLY),
    page(
        "POST",
        "admin:djstripe_custom_action",
        "djstripe/{model}/action/{action}/{model}/",
        ADMIN_ONLY,
        "dj-stripe's sync and cancel",
    ),
    # --- model pages (list, add, change, delete, history, audit log) ---
    model("billing.customer", "login | login | view | view, change | view, change"),
    model("billing.invoice", "login | login | view | view | view", "issued"),
    model("billing.invoice", "login | login | view | view, change, delete | view, change, delete", "draft"),
    model("billing.invoicenumbersequence", "login | login | view | view | view"),
    model("billing.invoiceline", "login | login | view | view | view"),
    model("billing.order", "login | login | view | view | view"),
    model("billing.orderitem", "login | login | view | view | view"),
    model("billing.payment", "login | login | view | view | view"),
    model("billing.idempotencykey", "login | login | 403 | view, delete | view, delete"),
    model(
        "billing.subscriptionplan",
        "login | login | view | view, add, change, delete | view, add, change, delete",
        "without subscriptions",
    ),
    model("billing.subscription", "login | login | view | view | view"),
    model("billing.subscriptioninvoice", "login | login | view | view | view"),
    model("billing.subscriptionpause", "login | login | view | view | view"),
    model("billing.trialclaim", "login | login | view | view | view"),
    model("billing.dunningstep", "login | login | view | view | view"),
    model("billing.creditnote", "login | login | view | view | view"),
    model("billing.creditnoteline", "login | login | view | view | view"),
    model("billing.creditnotenumbersequence", "login | login | view | view | view"),
    model("billing.refund", "login | login | view | view | view"),
    model("billing.customerbalanceentry", "login | login | view | view | view"),
    model("billing.coupon", "login | login | view | view, add, change | view, add, change"),
    model("billing.promotioncode", "login | login | view | view, change | view, change"),
    model("billing.couponredemption", "login | login | view | view, add | view, add"),
    model("billing.apikey", "login | login | 403 | view, add | view, add"),
    # Reports convert with exchange rates; support do not see them, and a rate is corrected, never deleted.
    model("billing.exchangerate", "login | login | 403 | view, add, change | view, add, change"),
    # Metrics and charges come from billing/plans.yaml; usage rows are written only by ingestion and the alerts.
    model("billing.billablemetric", "login | login | view | view | view"),
    model("billing.plancharge", "login | login | view | view | view"),
    # A plan's prices per currency come from billing/plans.yaml too (its default one follows the plan's own price).
    model("billing.planprice", "login | login | view | view | view"),
    model("billing.usageevent", "login | login | view | view | view"),
    model("billing.usagerollup", "login | login | view | view | view"),
    model("billing.usagealert", "login | login | view | view | view"),
    model("billing.usageeventkey", "login | login | 403 | 403 | view"),
    model("billing.usagedistinctvalue", "login | login | 403 | 403 | view"),
    model("billing.stripewebhookevent", "login | login | 403 | 403 | view"),
    model("billing.subscribeattempt", "login | login | 403 | 403 | view"),
    model("storage.storedfile", "login | login | view | view, delete | view, delete"),
    model("jobs.job", "login | login | view | view | view"),
    model("mail.email", "login | login | view | view | view"),
    model("auditlog.logentry", "login | login | view | view | view"),
    model("auth.user", "login | login | 403 | 403 | view, add, change, delete"),
    model("auth.group", "login | login | 403 | 403 | view, add, change, delete"),
    model("token_blacklist.outstandingtoken", "login | login | 403 | 403 | view"),
    model("token_blacklist.blacklistedtoken", "login | login | 403 | 403 | view, add, change, delete"),
    model("djstripe.*", "login | login | 403 | 403 | all", "every dj-stripe model"),
    model("axes.*", "login | login | 403 | 403 | view, delete", "every django-axes model"),
    # --- admin actions (the changelist's "action" menu) ---
    action("billing.invoice", "finalize_selected", ACTION),
    action("billing.invoice", "void_selected", ACTION),
    action("billing.invoice", "mark_uncollectible_selected", ACTION),
    action("billing.invoice", "regenerate_pdf_selected", ACTION),
    action("billing.invoice", "record_bank_transfer", ACTION),
    action("billing.invoice", "stripe_sync_selected", ACTION),
    action("billing.invoice", "issue_credit_note", ACTION),
    action("billing.customer", "adjust_balance", ACTION),
    action("billing.coupon", "deactivate_selected", ACTION),
    action("billing.promotioncode", "deactivate_selected", ACTION),
    action("billing.apikey", "revoke_selected", ACT),
    action("billing.invoice", "open_pdf", STAFF_SITE),
    action("billing.invoice", "export_selected_csv", STAFF_SITE),
    action("billing.payment", "export_selected_csv", STAFF_SITE),
    action("billing.creditnote", "export_selected_csv", STAFF_SITE),
    action("billing.refund", "export_selected_csv", STAFF_SITE),
    action("billing.order", "invoice_selected", ACTION),
    action("billing.order", "cancel_selected", ACTION),
    action("billing.subscription", "cancel_at_period_end_selected", ACTION),
    action("billing.subscription", "cancel_now_selected", ACTION),
    action("billing.subscription", "renew_selected", ACTION),
    action("billing.subscription", "resume_selected", ACTION),
    action("billing.subscription", "pause_selected", ACTION),
    action("billing.subscription", "drop_pending_change_selected", ACTION),
    action("billing.subscriptionplan", "stripe_sync_selected", ACTION),
    action("billing.subscriptionplan", "delete_selected", ACTION),
    action("billing.stripewebhookevent", "retry_selected", SUPERUSER_ACTION),
    action("jobs.job", "retry_selected", ACTION),
    action("mail.email", "resend_selected", ACTION),
    action("billing.idempotencykey", "delete_selected", "login | login | 403 | allowed | allowed"),
    action("storage.storedfile", "delete_selected", ACTION),
    *(action(label, "delete_selected", NOBODY) for label in NOBODY_DELETES),
    action("billing.stripewebhookevent", "delete_selected", "login | login | 403 | 403 | hidden"),
    action("billing.subscribeattempt", "delete_selected", "login | login | 403 | 403 | hidden"),
    action("billing.apikey", "delete_selected", "login | login | 403 | hidden | hidden"),
    action("billing.exchangerate", "delete_selected", "login | login | 403 | hidden | hidden"),
    action("billing.usageeventkey", "delete_selected", "login | login | 403 | 403 | hidden"),
    action("billing.usagedistinctvalue", "delete_selected", "login | login | 403 | 403 | hidden"),
    action("auth.user", "delete_selected", SUPERUSER_ACTION),
    action("auth.group", "delete_selected", SUPERUSER_ACTION),
    action("token_blacklist.outstandingtoken", "delete_selected", "login | login | 403 | 403 | hidden"),
    action("token_blacklist.blacklistedtoken", "delete_selected", SUPERUSER_ACTION),
    action("djstripe.*", "delete_selected", THIRD_PARTY_ACTION),
    action("djstripe.*", "_resync_instances", THIRD_PARTY_ACTION),
    action("djstripe.*", "_sync_all_instances", THIRD_PARTY_ACTION),
    action("axes.*", "delete_selected", SUPERUSER_ACTION),
    action("axes.accessattempt", "cleanup_expired_attempts", SUPERUSER_ACTION),
]

SIGNED = {"billing-stripe-webhook", "storage-signed-download", "storage-signed-upload"}
MODEL_PAGES = ("changelist", "add", "change", "delete", "history", "auditlog")  # a ModelAdmin's own URL names


# --- what exists: the live URL conf and admin site -----------------------------------------------------------------


def url_patterns() -> Iterator[tuple[str | None, URLPattern, str]]:
    """(name with namespace, pattern, full route) of every URL pattern of the project, recursively."""

    def walk(entries: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str | None, URLPattern, str]]:
        for entry in entries:
            if isinstance(entry, URLResolver):
                inner = ":".join(part for part in (namespace, entry.namespace) if part)
                yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            else:
                name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
                yield name, entry, prefix + str(entry.pattern)

    yield from walk(get_resolver().url_patterns, "", "")


def view_methods(pattern: URLPattern) -> list[str]:
    """The HTTP methods a class-based view implements (HEAD and OPTIONS come free); [] for a function view. A
    viewset route answers exactly the methods its router (or explicit `as_view({...})`) maps onto actions."""
    actions = getattr(pattern.callback, "actions", None)
    if actions:
        return [method.upper() for method in actions if method not in ("head", "options")]
    view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
    if view_class is None:
        return []
    return [
        method.upper()
        for method in view_class.http_method_names
        if method not in ("head", "options") and hasattr(view_class, method)
    ]


def registered_admins() -> dict[str, Any]:
    return {model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()}


def model_row_for(label: str) -> list[Row]:
    wildcard = label.split(".")[0] + ".*"
    exact = [row for row in MATRIX if row.kind == "model" and row.key[0] == label]
    return exact or [row for row in MATRIX if row.kind == "model" and row.key[0] == wildcard]


def action_row_for(label: str, name: str) -> Row | None:
    wildcard = label.split(".")[0] + ".*"
    for row in MATRIX:
        if row.kind == "action" and row.key in ((label, name), (wildcard, name)):
            return row
    return None


def base_actions(model_admin: Any) -> list[str]:
    return [name for _function, name, _description in model_admin._get_base_actions()]


def test_every_url_model_and_admin_action_has_a_row() -> None:
    missing: list[str] = []
    admins = registered_admins()
    model_url_names = {
        f"admin:{label.replace('.', '_')}_{suffix}"
        for label in admins
        if model_row_for(label)
        for suffix in MODEL_PAGES
    }
    model_prefixes = {f"admin/{label.replace('.', '/')}/" for label in admins if model_row_for(label)}
    api_rows = {(row.key[0], row.key[1]) for row in MATRIX if row.kind == "api"}
    page_names = {row.key[0] for row in MATRIX if row.kind == "page"}
    seen_api: set[tuple[str, str]] = set()
    seen_pages: set[str] = set()
    for name, pattern, route in url_patterns():
        if route.startswith("admin/"):
            key = name or ("admin:catch_all" if route.endswith("(?P<url>.*)$") else None)
            if key in model_url_names or any(
                route == f"{prefix}<path:object_id>/" for prefix in model_prefixes
            ):  # a model's own pages, or the redirect to its change page
                continue
            if key in page_names:
                seen_pages.add(key)
                continue
            missing.append(f"admin URL {route} ({name}): no page row")
            continue
        if name is None:
            missing.append(f"URL {route}: has no name, so it cannot be in the matrix")
            continue
        methods = view_methods(pattern) or [method for (row_name, method) in api_rows if row_name == name] or ["(any)"]
        for method in methods:
            seen_api.add((name, method))
            if (name, method) not in api_rows:
                missing.append(f"{method} {route} ({name}): no API row")
    missing += [f"API row {name} {method}: no such URL or method" for name, method in sorted(api_rows - seen_api)]
    missing += [f"page row {name}: no such admin URL" for name in sorted(page_names - seen_pages)]
    for label, model_admin in sorted(admins.items()):
        if not model_row_for(label):
            missing.append(f"admin model {label}: no model row")
        for action_name in base_actions(model_admin):
            if action_row_for(label, action_name) is None:
                missing.append(f"admin action {label}.{action_name}: no action row")
    for row in MATRIX:
        label = row.key[0]
        if row.kind == "model" and not any(
            registered == label or (label.endswith(".*") and registered.startswith(label[:-1])) for registered in admins
        ):
            missing.append(f"model row {label}: not registered in the admin")
        if row.kind == "action" and not any(
            (registered == label or (label.endswith(".*") and registered.startswith(label[:-1])))
            and row.key[1] in base_actions(model_admin)
            for registered, model_admin in admins.items()
        ):
            missing.append(f"action row {label}.{row.key[1]}: no such admin action")
    assert missing == [], "\n".join(missing)


def test_docs_security_md_shows_the_matrix_row_for_row() -> None:
    lines = {re.sub(r"\s+", " ", line.strip()) for line in DOCUMENT.read_text(encoding="utf-8").splitlines()}
    rows = {row.markdown() for row in MATRIX}
    missing = sorted(rows - lines)
    assert missing == [], "docs/security.md lacks these rows of the matrix:\n" + "\n".join(missing)
    stale = sorted(line for line in lines if line.startswith("| `") and line not in rows)  # matrix rows start so
    assert stale == [], "docs/security.md has rows the matrix does not:\n" + "\n".join(stale)


def test_rows_are_unique_and_outcomes_known() -> None:
    keys = [(row.kind, row.key) for row in MATRIX]
    assert len(keys) == len(set(keys))
    known = {"allowed", "own only", "400", "401", "403", "404", "login", "hidden", "signed", "all"}
    for row in MATRIX:
        for outcome in row.outcomes:
            parts = set(outcome.split(", ")) if row.kind == "model" else {outcome}
            assert parts <= known | {"view", "add", "change", "delete", "all"}, (row.what, outcome)


# --- the people and things each check acts on -------------------------------------------------------------------


WATCHED = (
    "billing.Invoice",
    "billing.Payment",
    "billing.CreditNote",
    "billing.Refund",
    "billing.CustomerBalanceEntry",
    "billing.Order",
    "billing.Subscription",
    "billing.Customer",
    "billing.SubscriptionPlan",
    "billing.IdempotencyKey",
    "billing.StripeWebhookEvent",
    "billing.Coupon",
    "billing.PromotionCode",
    "billing.CouponRedemption",
    "billing.ApiKey",
    "billing.ExchangeRate",
    "storage.StoredFile",
    "auth.User",
    "auth.Group",
    "token_blacklist.OutstandingToken",
    "token_blacklist.BlacklistedToken",
)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """The rows a refused call must leave as they were (timestamps of logins aside)."""
    from django.apps import apps

    state = {}
    for label in WATCHED:
        rows = list(apps.get_model(label).objects.order_by("pk").values())
        for row in rows:
            row.pop("last_login", None)
        state[label] = rows
    return state


class FakeStripe:
    """What the admin's Stripe buttons call (billing.admin.stripe), recording each call instead of calling Stripe."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def plan_sync(self, *, plan: Any) -> list[str]:
        self.calls.append(f"plan {plan.pk}")
        return []

    def invoice_mirror(self, *, invoice: Any) -> Any:
        self.calls.append(f"invoice {invoice.pk}")
        invoice.stripe_invoice_id = "in_matrix"
        return invoice

    def invoice_read(self, *, invoice: Any) -> Any:
        from billing.providers.base import RemoteInvoice

        self.calls.append(f"stripe invoice {invoice.stripe_invoice_id}")
        return RemoteInvoice(reference=invoice.stripe_invoice_id, status="")

    def subscription_read(self, *, subscription: Any) -> Any:
        from billing.providers.base import RemoteSubscription

        self.calls.append(f"stripe subscription {subscription.stripe_subscription_id}")
        return RemoteSubscription(reference=subscription.stripe_subscription_id)


@dataclass
class World:
    """One role's user and clients, another customer to aim at, and factories for fresh objects."""

    role: str
    user: Any
    other: Any  # another customer's user
    stripe: FakeStripe
    webhook_retries: list[int]
    plans: dict[str, Any]
    counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def api(self) -> APIClient:
        return APIClient() if self.user is None else jwt_client(self.user)

    @property
    def browser(self) -> Client:
        return Client() if self.user is None else admin_session(self.user)

    def owner(self, target: str) -> Any:
        return self.user if target == "own" and self.user is not None else self.other

    def customer(self, target: str = "other") -> Any:
        from billing.services.customers import customer_get_or_create

        return customer_get_or_create(user=self.owner(target))

    def fresh_user(self) -> Any:
        from storage.tests.factories import UserFactory

        return UserFactory(username=f"someone-{uuid.uuid4().hex[:8]}")

    def invoice(self, target: str = "other", *, draft: bool = False) -> Any:
        from billing.services.invoices import InvoiceLineInput, invoice_draft_create, invoice_finalize

        made = invoice_draft_create(
            customer=self.customer(target), lines=[InvoiceLineInput(description="프로 플랜", unit_amount=99_000)]
        )
        return made if draft else invoice_finalize(invoice=made)

    def credit_note(self, target: str = "other") -> Any:
        from billing.services.credit_notes import credit_note_issue

        return credit_note_issue(invoice=self.invoice(target), reason="goodwill", actor=None, amount=1_100)

    def order(self, target: str = "other") -> Any:
        from billing.services.orders import OrderItemInput, order_create

        return order_create(customer=self.customer(target), items=[OrderItemInput("컨설팅", 50_000, 1)])

    def subscription(self, target: str = "other", *, days_ago: int = 0) -> Any:
        from billing.services.customers import customer_get_or_create
        from billing.services.subscriptions import subscription_cancel, subscription_create

        # Another customer each time: one customer holds one live subscription per plan.
        owner = self.user if target == "own" and self.user is not None else self.fresh_user()
        customer = customer_get_or_create(user=owner)
        # The caller's own: the row before may have left one live (one per customer); each row starts afresh.
        for live in customer.subscriptions.filter(
            status__in=("incomplete", "trialing", "active", "past_due", "paused")
        ):
            subscription_cancel(subscription=live, immediately=True)
        return subscription_create(
            customer=customer,
            plan=self.plans["basic"],
            billing_period="monthly",
            now=timezone.now() - timedelta(days=days_ago),
        ).subscription

    def subscription_for(self, operation: str, target: str = "other", *, days_ago: int = 0) -> Any:
        """A subscription that `operation` changes: set to cancel at its period end for a resume, with a change
        pending for a drop of it, as it starts for anything else."""
        from billing.services.subscriptions import subscription_cancel, subscription_create

        subscription = self.subscription(target, days_ago=days_ago)
        if operation in ("resume", "resume_selected"):
            subscription = subscription_cancel(subscription=subscription, immediately=False)
        if operation in ("drop_pending_change", "drop_pending_change_selected"):
            subscription = subscription_create(
                customer=subscription.customer, plan=self.plans["basic"], billing_period="annual", when="period_end"
            ).subscription
        return subscription

    def file(self, target: str = "other", *, invoice_pdf: bool = False) -> Any:
        from storage.services import file_store
        from storage.tests.helpers import SAMPLES

        if invoice_pdf:
            return file_store(
                owner=self.owner(target),
                content=SAMPLES["pdf"],
                original_name="INV-0001.pdf",
                attached_type="billing.invoice",
                attached_id=str(next(self.counter) + 1),
                protected=True,
            )
        return file_store(owner=self.owner(target), content=SAMPLES["png"], original_name="scan.png")

    def direct_upload(self, target: str = "other") -> Any:
        """A direct upload whose bytes were sent, waiting for /complete."""
        from storage.services import file_direct_upload_start
        from storage.tests.helpers import SAMPLES, post_form

        pending, form, _expires = file_direct_upload_start(
            owner=self.owner(target), original_name="scan.png", content_type="image/png"
        )
        assert post_form(form, SAMPLES["png"], "scan.png") in (200, 201, 204)
        return pending


def _role_user(role: str) -> Any:
    from billing.tests.factories import StaffUserFactory, UserFactory

    username = role.replace(" ", "-")
    if role == "anonymous":
        return None
    if role in ("support", "billing staff"):
        return StaffUserFactory(username=username, group=role)
    return UserFactory(username=username, superuser=role == "superuser")


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    basic_and_pro_plans: dict[str, Any],
) -> World:
    from storage.tests.factories import UserFactory

    settings.STRIPE_ENABLED = False
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storage.backends.SignedFileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    # PDFs are rendered for real elsewhere; here a PDF only has to exist.
    monkeypatch.setattr("billing.services.pdf.invoice_pdf_bytes", lambda *, invoice: b"%PDF-1.4 matrix\n%%EOF\n")
    monkeypatch.setattr(
        "billing.services.credit_note_pdf.credit_note_pdf_bytes", lambda *, credit_note: b"%PDF-1.4 matrix\n%%EOF\n"
    )
    stripe = FakeStripe()
    monkeypatch.setattr("billing.admin.stripe._provider", lambda: stripe)
    for module in (
        "billing.admin.stripe",
        "billing.admin.invoice_actions",
        "billing.admin.plans",
        "billing.admin.subscriptions",
    ):
        monkeypatch.setattr(f"{module}.stripe_function", lambda name: lambda **kwargs: None)
    retries: list[int] = []

    def webhook_process(*, event: Any, now: Any = None, delivery: Any = None) -> Any:
        from billing.services.webhook_events import ProcessingOutcome

        retries.append(event.pk)
        return ProcessingOutcome("processed", "matrix")

    monkeypatch.setattr("billing.services.webhook_events.webhook_event_process", webhook_process)  # retries
    monkeypatch.setattr("billing.jobs.webhook_event_process", webhook_process)  # deliveries (their job)
    other = UserFactory(username="another-customer")
    return World(
        role=request.param,
        user=_role_user(request.param),
        other=other,
        stripe=stripe,
        webhook_retries=retries,
        plans=basic_and_pro_plans,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "world" in metafunc.fixturenames:
        metafunc.parametrize("world", ROLES, indirect=True)


# --- the API ---------------------------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    ok: int  # the status of success
    data: Any = None
    format: str | None = "json"
    headers: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # for this call only

    def send(self, client: Any) -> Any:
        from django.test import override_settings

        send = getattr(client, self.method.lower())
        with override_settings(**self.settings):
            if self.method in ("GET", "DELETE"):
                return send(self.path, headers=self.headers)
            if self.format is None:  # a raw body
                return send(self.path, self.data, content_type="application/json", headers=self.headers)
            return send(self.path, self.data, format=self.format, headers=self.headers)


def _usage_events(world: World) -> Call:
    """One event of the caller's own (their billing profile made first: a user without one gets 403)."""
    from django.utils import timezone

    from billing.tests.factories import BillableMetricFactory

    if world.user is not None:
        world.customer("own")
    metric = BillableMetricFactory(code="matrix_calls")
    event = {"event_id": uuid.uuid4().hex, "metric": metric.code, "value": 1, "timestamp": timezone.now().isoformat()}
    return Call("POST", "/api/usage/events", 200, {"events": [event]})


def _webhook(*, forged: bool) -> Call:
    """A delivery as Stripe signs it (t=…,v1=HMAC-SHA256 of "t.body"), or with a signature of another secret."""
    import hashlib
    import hmac
    import json
    import time

    secret = "whsec_matrix"
    body = json.dumps({"id": f"evt_{uuid.uuid4().hex[:12]}", "type": "invoice.paid", "data": {"object": {}}})
    stamp = int(time.time())
    key = b"whsec_forged" if forged else secret.encode()
    digest = hmac.new(key, f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return Call(
        "POST",
        "/api/payment/webhook",
        400 if forged else 200,
        body,
        format=None,
        headers={"Stripe-Signature": f"t={stamp},v1={digest}"},
        settings={"STRIPE_ENABLED": True, "DJSTRIPE_WEBHOOK_SECRET": secret},
    )


def _password_reset_confirm(world: World) -> Call:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = world.fresh_user()
    uid, token = urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)
    return Call(
        "POST",
        "/api/auth/password/reset/confirm",
        204,
        {"uid": uid, "token": token, "new_password": "Another-Seoul-Tiger-2026!"},
    )


def _signed_download(world: World, target: str) -> Call:
    from storage.services import file_signed_url

    url, _expires = file_signed_url(file=world.file(target), expires_in=timedelta(minutes=5))
    return Call("GET", url.replace("http://testserver", ""), 200)


def _signed_upload(world: World, target: str) -> Call:
    from storage.services import file_direct_upload_start
    from storage.tests.helpers import SAMPLES

    _pending, form, _expires = file_direct_upload_start(
        owner=world.owner(target), original_name="scan.png", content_type="image/png"
    )
    data = {**form["fields"], "file": SimpleUploadedFile("scan.png", SAMPLES["png"], content_type="image/png")}
    return Call("POST", form["url"].replace("http://testserver", ""), 204, data, format="multipart")


API_CALLS: dict[tuple[str, str, str], Callable[[World, str], Call]] = {
    ("healthz", "GET", ""): lambda w, t: Call("GET", "/healthz", 200),
    ("healthz-live", "GET", ""): lambda w, t: Call("GET", "/healthz/live", 200),
    ("healthz-ready", "GET", ""): lambda w, t: Call("GET", "/healthz/ready", 200),
    ("auth-password", "POST", "one's own"): lambda w, t: Call(
        "POST",
        "/api/auth/password",
        200,
        {"old_password": "correct-Horse-battery-9", "new_password": "Another-Seoul-Tiger-2026!"},
    ),
    ("auth-password-reset", "POST", ""): lambda w, t: Call(
        "POST", "/api/auth/password/reset", 202, {"email": w.fresh_user().email}
    ),
    ("auth-password-reset-confirm", "POST", "with an emailed link"): lambda w, t: _password_reset_confirm(w),
    ("auth-register", "POST", ""): lambda w, t: Call(
        "POST",
        "/api/auth/register",
        201,
        {
            "username": f"new-{uuid.uuid4().hex[:8]}",
            "email": f"{uuid.uuid4().hex[:8]}@example.com",
            "password": "Seoul-Tiger-2026!",
        },
    ),
    ("auth-token", "POST", ""): lambda w, t: Call(
        "POST", "/api/auth/token", 200, {"username": w.fresh_user().username, "password": "correct-Horse-battery-9"}
    ),
    ("auth-token-refresh", "POST", ""): lambda w, t: Call(
        "POST", "/api/auth/token/refresh", 200, {"refresh": str(RefreshToken.for_user(w.fresh_user()))}
    ),
    ("auth-logout", "POST", ""): lambda w, t: Call(
        "POST", "/api/auth/logout", 204, {"refresh": str(RefreshToken.for_user(w.user or w.fresh_user()))}
    ),
    ("api-schema", "GET", ""): lambda w, t: Call("GET", "/api/schema", 200),
    ("api-docs", "GET", ""): lambda w, t: Call("GET", "/api/docs", 200),
    ("files-list", "GET", ""): lambda w, t: Call("GET", "/api/files", 200),
    ("files-upload", "POST", ""): lambda w, t: Call(
        "POST", "/api/files/upload", 201, {"file": SimpleUploadedFile("a.png", _png(), "image/png")}, "multipart"
    ),
    ("files-upload-url", "POST", ""): lambda w, t: Call(
        "POST", "/api/files/upload-url", 201, {"original_name": "scan.png", "content_type": "image/png"}
    ),
    ("files-presigned-url", "POST", ""): lambda w, t: Call(
        "POST", "/api/files/presigned-url", 200, {"file_id": str(w.file(t).pk)}
    ),
    ("files-detail", "GET", ""): lambda w, t: Call("GET", f"/api/files/{w.file(t).pk}", 200),
    ("files-detail", "DELETE", ""): lambda w, t: Call("DELETE", f"/api/files/{w.file(t).pk}", 204),
    ("files-complete", "POST", ""): lambda w, t: Call("POST", f"/api/files/{w.direct_upload(t).pk}/complete", 200),
    ("billing-invoice-create", "POST", "for oneself"): lambda w, t: Call(
        "POST", "/api/payment/invoice", 201, {"amount_krw": 10_000}
    ),
    ("billing-invoice-create", "POST", "`customer_id` of another customer"): lambda w, t: Call(
        "POST", "/api/payment/invoice", 201, {"amount_krw": 10_000, "customer_id": w.customer().pk}
    ),
    ("billing-invoice-create", "POST", "`order_id` of another customer's order"): lambda w, t: Call(
        "POST", "/api/payment/invoice", 201, {"order_id": w.order().pk}
    ),
    ("billing-payment-history", "GET", ""): lambda w, t: Call("GET", "/api/payment/history", 200),
    ("billing-customer-profile", "GET", "the caller's own profile"): lambda w, t: Call(
        "GET", "/api/payment/customer", 200
    ),
    ("billing-customer-profile", "PATCH", "the caller's own profile"): lambda w, t: Call(
        "PATCH", "/api/payment/customer", 200, {"business_item": "소프트웨어"}
    ),
    ("billing-invoice-list", "GET", ""): lambda w, t: Call("GET", "/api/invoices", 200),
    ("billing-invoice-detail", "GET", ""): lambda w, t: Call("GET", f"/api/invoices/{w.invoice(t).pk}", 200),
    ("billing-invoice-pdf", "GET", ""): lambda w, t: Call("GET", f"/api/invoices/{w.invoice(t).pk}/pdf", 302),
    ("billing-invoice-payments", "POST", ""): lambda w, t: Call(
        "POST", f"/api/invoices/{w.invoice(t).pk}/payments", 201, {"amount_krw": 1_000, "reference": "KB-1"}
    ),
    ("billing-invoice-void", "POST", ""): lambda w, t: Call("POST", f"/api/invoices/{w.invoice(t).pk}/void", 200),
    ("billing-invoice-mark-uncollectible", "POST", ""): lambda w, t: Call(
        "POST", f"/api/invoices/{w.invoice(t).pk}/mark-uncollectible", 200
    ),
    ("billing-invoice-credit-notes", "POST", ""): lambda w, t: Call(
        "POST", f"/api/invoices/{w.invoice(t).pk}/credit-notes", 201, {"reason": "goodwill", "amount": 1_100}
    ),
    ("billing-credit-note-list", "GET", ""): lambda w, t: Call("GET", "/api/credit-notes", 200),
    ("billing-credit-note-detail", "GET", ""): lambda w, t: Call(
        "GET", f"/api/credit-notes/{w.credit_note(t).pk}", 200
    ),
    ("billing-credit-note-pdf", "GET", ""): lambda w, t: Call(
        "GET", f"/api/credit-notes/{w.credit_note(t).pk}/pdf", 302
    ),
    ("billing-payment-balance", "GET", "the caller's own"): lambda w, t: Call("GET", "/api/payment/balance", 200),
    ("billing-order-list", "GET", ""): lambda w, t: Call("GET", "/api/orders", 200),
    ("billing-order-list", "POST", ""): lambda w, t: Call(
        "POST", "/api/orders", 201, {"items": [{"description": "컨설팅", "unit_amount_krw": 50_000}]}
    ),
    ("billing-order-detail", "GET", ""): lambda w, t: Call("GET", f"/api/orders/{w.order(t).pk}", 200),
    ("billing-plan-list", "GET", ""): lambda w, t: Call("GET", "/api/payment/plans", 200),
    ("billing-subscribe", "POST", ""): lambda w, t: Call(
        "POST", "/api/payment/subscribe", 201, {"plan": "pro", "billing_period": "monthly"}
    ),
    ("billing-subscription-list", "GET", ""): lambda w, t: Call("GET", "/api/payment/subscriptions", 200),
    ("billing-subscription-detail", "DELETE", ""): lambda w, t: Call(
        "DELETE", f"/api/payment/subscriptions/{w.subscription(t).pk}", 200
    ),
    ("billing-subscription-detail", "PATCH", ""): lambda w, t: Call(
        "PATCH", f"/api/payment/subscriptions/{w.subscription(t).pk}", 200, {"quantity": 1}
    ),
    ("billing-subscription-resume", "POST", ""): lambda w, t: Call(
        "POST", f"/api/payment/subscriptions/{w.subscription_for('resume', t).pk}/resume", 200, {}
    ),
    ("billing-subscription-pause", "POST", ""): lambda w, t: Call(
        "POST", f"/api/payment/subscriptions/{w.subscription(t).pk}/pause", 200, {"resume_on": None}
    ),
    ("billing-subscription-pending-change", "DELETE", ""): lambda w, t: Call(
        "DELETE", f"/api/payment/subscriptions/{w.subscription_for('drop_pending_change', t).pk}/pending-change", 200
    ),
    ("billing-subscription-upcoming", "GET", ""): lambda w, t: Call(
        "GET", f"/api/payment/subscriptions/{w.subscription(t).pk}/upcoming", 200
    ),
    ("billing-entitlements", "GET", "the caller's own"): lambda w, t: Call("GET", "/api/payment/entitlements", 200),
    ("billing-usage", "GET", "the caller's own"): lambda w, t: Call("GET", "/api/usage", 200),
    ("billing-usage-events", "POST", "the caller's own events"): lambda w, t: _usage_events(w),
    ("billing-checkout", "POST", ""): lambda w, t: Call(
        "POST",
        "/api/payment/checkout",
        201,
        {"items": [{"description": "설치비", "quantity": 1, "unit_amount_krw": 50_000}]},
    ),
    ("billing-stripe-webhook", "POST", "signed by Stripe"): lambda w, t: _webhook(forged=False),
    ("billing-stripe-webhook", "POST", "a forged signature"): lambda w, t: _webhook(forged=True),
    ("storage-signed-download", "GET", "local file storage"): _signed_download,
    ("storage-signed-upload", "POST", "local file storage"): _signed_upload,
}


def _png() -> bytes:
    from storage.tests.helpers import SAMPLES

    return SAMPLES["png"]


def _api_check(world: World, row: Row) -> list[str]:
    """[] when the role gets the row's outcome; otherwise what went wrong."""
    name, method, variant = row.key
    recipe = API_CALLS[(name, method, variant)]
    expected = row.outcome(world.role)
    problems: list[str] = []

    def attempt(target: str, status: int | None, code: str | None = None, unchanged: bool = False) -> None:
        call = recipe(world, target)
        wanted = call.ok if status is None else status
        client = world.api
        before = snapshot() if unchanged else None
        response = call.send(client)
        if response.status_code != wanted:
            problems.append(f"{target}: {response.status_code} instead of {wanted}: {response.content[:300]!r}")
            return
        if code is not None and response.json()["error"]["code"] != code:
            problems.append(f"{target}: code {response.json()['error']['code']} instead of {code}")
        if before is not None and snapshot() != before:
            problems.append(f"{target}: {wanted}, but the database changed")

    if expected == "allowed" or expected == "signed":
        attempt("other", None)
    elif expected == "400":
        attempt("other", 400, "invalid_signature", unchanged=True)
    elif expected == "own only":
        attempt("own", None)
        attempt("other", 404, "not_found", unchanged=True)
    elif expected in ("401", "403", "404"):
        code = {"401": None, "403": "permission_denied", "404": "not_found"}[expected]
        attempt("other", int(expected), code, unchanged=True)
    else:
        problems.append(f"unknown outcome {expected}")
    return problems


def test_api(world: World) -> None:
    failures = []
    # A password change revokes the tokens issued before it: that row goes last.
    for row in sorted(MATRIX, key=lambda row: row.key[0] == "auth-password"):
        if row.kind == "api":
            failures += [f"{row.what} as {world.role}: {problem}" for problem in _api_check(world, row)]
    assert failures == [], "\n".join(failures)


# --- admin URLs of their own -----------------------------------------------------------------------------------------


@dataclass
class Visit:
    """An admin request, what success answers (`ok`), and what success must have done (`done`)."""

    method: str
    path: str
    ok: tuple[int, ...] = (200,)
    data: dict[str, Any] = field(default_factory=dict)
    done: Callable[[Any], bool] = lambda response: True

    def send(self, client: Client) -> Any:
        return client.post(self.path, self.data) if self.method == "POST" else client.get(self.path)


def _invoice_button(world: World, name: str) -> Visit:
    invoice = world.invoice(draft=name == "finalize")
    revision = invoice.pdf_revision
    after = {
        "finalize": lambda fresh: fresh.status == "open",
        "void": lambda fresh: fresh.status == "void",
        "mark_uncollectible": lambda fresh: fresh.status == "uncollectible",
        "regenerate_pdf": lambda fresh: fresh.pdf_revision > revision,
        "stripe_sync": lambda fresh: bool(world.stripe.calls),
    }[name]
    return Visit(
        "POST",
        reverse("admin:billing_invoice_object_action", args=[invoice.pk, name]),
        (302,),
        done=lambda response: after(type(invoice).objects.get(pk=invoice.pk)),
    )


# Started 40 days ago: its renewal is due (for "renew"); a pause needs a period not yet over (nothing left unbilled).
def _started_days_ago(name: str) -> int:
    return 0 if name in {"pause", "pause_selected"} else 40


def _subscription_button(world: World, name: str) -> Visit:
    subscription = world.subscription_for(name, days_ago=_started_days_ago(name))
    if name == "stripe_sync":
        type(subscription).objects.filter(pk=subscription.pk).update(stripe_subscription_id="sub_matrix")
    before = snapshot()
    return Visit(
        "POST",
        reverse("admin:billing_subscription_object_action", args=[subscription.pk, name]),
        (302,),
        done=lambda response: bool(world.stripe.calls) if name == "stripe_sync" else snapshot() != before,
    )


def _change_plan(world: World, method: str) -> Visit:
    subscription = world.subscription()
    url = reverse("admin:billing_subscription_change_plan", args=[subscription.pk])
    if method == "GET":
        return Visit("GET", url)
    data = {"plan": world.plans["pro"].pk, "billing_period": "monthly"}
    return Visit(
        "POST",
        url,
        (302,),
        data,
        done=lambda response: type(subscription).objects.filter(plan=world.plans["pro"]).exists(),
    )


def _pause_page(world: World, method: str) -> Visit:
    subscription = world.subscription()
    url = reverse("admin:billing_subscription_pause", args=[subscription.pk])
    if method == "GET":
        return Visit("GET", url)
    paused = lambda response: type(subscription).objects.get(pk=subscription.pk).status == "paused"  # noqa: E731
    return Visit("POST", url, (302,), {"resume_on": ""}, done=paused)


def _seats_page(world: World, method: str) -> Visit:
    from billing.services.customers import customer_get_or_create
    from billing.services.subscriptions import subscription_create
    from billing.tests.factories import SubscriptionPlanFactory

    plan = SubscriptionPlanFactory.create(per_seat=True, monthly_price=10_000)
    subscription = subscription_create(
        customer=customer_get_or_create(user=world.fresh_user()), plan=plan, billing_period="monthly"
    ).subscription
    url = reverse("admin:billing_subscription_seats", args=[subscription.pk])
    if method == "GET":
        return Visit("GET", url)
    seated = lambda response: type(subscription).objects.get(pk=subscription.pk).quantity == 3  # noqa: E731
    return Visit("POST", url, (302,), {"quantity": "3"}, done=seated)


def _record_payment(world: World, method: str) -> Visit:
    from billing.models import Payment

    invoice = world.invoice()
    url = reverse("admin:billing_invoice_record_payment")
    if method == "GET":
        return Visit("GET", f"{url}?ids={invoice.pk}")
    data = {"ids": str(invoice.pk), "amount": "1000", "received_on": timezone.localdate().isoformat()}
    return Visit("POST", url, (302,), data, done=lambda response: Payment.objects.filter(invoice=invoice).exists())


def _credit_note_page(world: World, method: str) -> Visit:
    from billing.models import CreditNote

    invoice = world.invoice()
    url = reverse("admin:billing_invoice_credit_note", args=[invoice.pk])
    if method == "GET":
        return Visit("GET", url)
    data = {"reason": "goodwill", "amount": "1100", "settlement": "refund", "memo": "", "bank_reference": ""}
    issued = lambda response: CreditNote.objects.filter(invoice=invoice).exists()  # noqa: E731
    return Visit("POST", url, (302,), data, done=issued)


def _adjust_balance_page(world: World, method: str) -> Visit:
    from billing.models import CustomerBalanceEntry

    customer = world.customer()
    url = reverse("admin:billing_customer_adjust_balance", args=[customer.pk])
    if method == "GET":
        return Visit("GET", url)
    adjusted = lambda response: CustomerBalanceEntry.objects.filter(customer=customer).exists()  # noqa: E731
    return Visit("POST", url, (302,), {"amount": "5000", "reason": "장애 보상"}, done=adjusted)


def _fresh_month(world: World) -> date:
    """A month no other check of this run has a rate for."""
    index = next(world.counter)
    return date(2000 + index // 12, index % 12 + 1, 1)


def _exchange_rate(world: World) -> Any:
    from decimal import Decimal

    from billing.services.exchange_rates import exchange_rate_set

    return exchange_rate_set(month=_fresh_month(world), currency="USD", krw_per_unit=Decimal("1380.25"), actor=None)


def _exchange_rate_import(world: World, method: str) -> Visit:
    from billing.models import ExchangeRate

    url = reverse("admin:billing_exchangerate_import")
    if method == "GET":
        return Visit("GET", url)
    month = _fresh_month(world)
    upload = SimpleUploadedFile("rates.csv", f"month,currency,krw_per_unit\n{month:%Y-%m},USD,1380.25\n".encode())
    imported = lambda response: ExchangeRate.objects.filter(month=month, currency="USD").exists()  # noqa: E731
    return Visit("POST", url, (302,), {"file": upload}, done=imported)


def _view_on_site(world: World) -> Visit:
    from django.contrib.contenttypes.models import ContentType

    invoice = world.invoice()
    return Visit("GET", f"/admin/r/{ContentType.objects.get_for_model(invoice).pk}/{invoice.pk}/")


PAGE_VISITS: dict[tuple[str, str, str], Callable[[World], Visit]] = {
    ("admin:index", "GET", ""): lambda w: Visit("GET", "/admin/"),
    ("admin:login", "GET", ""): lambda w: Visit("GET", "/admin/login/", (200, 302)),
    ("admin:logout", "POST", ""): lambda w: Visit("POST", "/admin/logout/", (200, 302)),
    ("admin:password_change", "GET", ""): lambda w: Visit("GET", "/admin/password_change/"),
    ("admin:password_change_done", "GET", ""): lambda w: Visit("GET", "/admin/password_change/done/"),
    ("admin:jsi18n", "GET", ""): lambda w: Visit("GET", "/admin/jsi18n/"),
    ("admin:autocomplete", "GET", "customers, for an invoice's customer field"): lambda w: Visit(
        "GET", "/admin/autocomplete/?app_label=billing&model_name=invoice&field_name=customer"
    ),
    ("admin:view_on_site", "GET", "no model has a site URL"): _view_on_site,
    ("admin:catch_all", "GET", ""): lambda w: Visit("GET", "/admin/no-such-page/"),
    ("admin:app_list", "GET", "billing"): lambda w: Visit("GET", "/admin/billing/"),
    ("admin:app_list", "GET", "djstripe"): lambda w: Visit("GET", "/admin/djstripe/"),
    ("admin:billing_dashboard", "GET", ""): lambda w: Visit("GET", reverse("admin:billing_dashboard")),
    ("admin:billing_set_language", "POST", ""): lambda w: Visit(
        "POST", reverse("admin:billing_set_language"), (302,), {"language": "en", "next": "/admin/"}
    ),
    ("admin:billing_customer_billing_history", "GET", ""): lambda w: Visit(
        "GET", reverse("admin:billing_customer_billing_history", args=[w.customer().pk])
    ),
    ("admin:billing_invoice_pdf", "GET", ""): lambda w: Visit(
        "GET", reverse("admin:billing_invoice_pdf", args=[w.invoice().pk]), (302,)
    ),
    ("admin:billing_invoice_export_csv", "GET", ""): lambda w: Visit(
        "GET", reverse("admin:billing_invoice_export_csv")
    ),
    ("admin:billing_payment_export_csv", "GET", ""): lambda w: Visit(
        "GET", reverse("admin:billing_payment_export_csv")
    ),
    ("admin:billing_creditnote_export_csv", "GET", ""): lambda w: Visit(
        "GET", reverse("admin:billing_creditnote_export_csv")
    ),
    ("admin:billing_refund_export_csv", "GET", ""): lambda w: Visit("GET", reverse("admin:billing_refund_export_csv")),
    ("admin:billing_invoice_record_payment", "GET", ""): lambda w: _record_payment(w, "GET"),
    ("admin:billing_invoice_record_payment", "POST", ""): lambda w: _record_payment(w, "POST"),
    ("admin:billing_invoice_credit_note", "GET", ""): lambda w: _credit_note_page(w, "GET"),
    ("admin:billing_invoice_credit_note", "POST", ""): lambda w: _credit_note_page(w, "POST"),
    ("admin:billing_creditnote_pdf", "GET", ""): lambda w: Visit(
        "GET", reverse("admin:billing_creditnote_pdf", args=[w.credit_note().pk]), (302,)
    ),
    ("admin:billing_customer_adjust_balance", "GET", ""): lambda w: _adjust_balance_page(w, "GET"),
    ("admin:billing_customer_adjust_balance", "POST", ""): lambda w: _adjust_balance_page(w, "POST"),
    ("admin:billing_subscription_change_plan", "GET", ""): lambda w: _change_plan(w, "GET"),
    ("admin:billing_subscription_change_plan", "POST", ""): lambda w: _change_plan(w, "POST"),
    ("admin:billing_subscription_pause", "GET", ""): lambda w: _pause_page(w, "GET"),
    ("admin:billing_subscription_pause", "POST", ""): lambda w: _pause_page(w, "POST"),
    ("admin:billing_subscription_seats", "GET", ""): lambda w: _seats_page(w, "GET"),
    ("admin:billing_subscription_seats", "POST", ""): lambda w: _seats_page(w, "POST"),
    ("admin:billing_subscriptionplan_stripe_sync", "POST", ""): lambda w: Visit(
        "POST",
        reverse("admin:billing_subscriptionplan_stripe_sync", args=[w.plans["basic"].pk]),
        (302,),
        done=lambda response: bool(w.stripe.calls),
    ),
    ("admin:billing_exchangerate_import", "GET", ""): lambda w: _exchange_rate_import(w, "GET"),
    ("admin:billing_exchangerate_import", "POST", ""): lambda w: _exchange_rate_import(w, "POST"),
    ("admin:storage_storedfile_open", "GET", "an invoice PDF"): lambda w: Visit(
        "GET", reverse("admin:storage_storedfile_open", args=[w.file(invoice_pdf=True).pk]), (302,)
    ),
    ("admin:storage_storedfile_open", "GET", "a customer's upload"): lambda w: Visit(
        "GET", reverse("admin:storage_storedfile_open", args=[w.file().pk]), (302,)
    ),
    ("admin:auth_user_password_change", "GET", ""): lambda w: Visit(
        "GET", reverse("admin:auth_user_password_change", args=[w.other.pk])
    ),
    ("admin:djstripe_custom_action", "POST", "dj-stripe's sync and cancel"): lambda w: Visit(
        "POST", "/admin/djstripe/customer/action/_sync_all_instances/customer/"
    ),
}


def _page_visit(world: World, row: Row) -> Visit:
    name, method, button = row.key
    if name == "admin:billing_invoice_object_action":
        return _invoice_button(world, button)
    if name == "admin:billing_subscription_object_action":
        return _subscription_button(world, button)
    return PAGE_VISITS[(name, method, button)](world)


def _admin_check(world: World, expected: str, visit: Visit) -> list[str]:
    before = snapshot() if expected != "allowed" else None
    calls_before = (len(world.stripe.calls), len(world.webhook_retries))
    response = visit.send(world.browser)
    status, location = response.status_code, response.get("Location", "")
    problems = []
    if expected == "allowed":
        if status not in visit.ok:
            problems.append(f"{status} instead of {visit.ok}: {location or response.content[:300]!r}")
        elif not visit.done(response):
            problems.append(f"{status}, but it did not do what it should")
        return problems
    if expected == "login":
        if status != 302 or "/admin/login/" not in location:
            problems.append(f"{status} {location} instead of the login page")
    elif expected in ("403", "404"):
        if status != int(expected):
            problems.append(f"{status} {location} instead of {expected}")
    elif expected == "hidden":  # the changelist answers ("no action selected"), and that is all
        if status not in (200, 302) or "/admin/login/" in location:
            problems.append(f"{status} {location}")
    else:
        problems.append(f"unknown outcome {expected}")
    if before is not None and (
        snapshot() != before or (len(world.stripe.calls), len(world.webhook_retries)) != calls_before
    ):
        problems.append(f"refused ({status}), but something changed")
    return problems


def test_admin_pages(world: World) -> None:
    failures = []
    for row in MATRIX:
        if row.kind == "page":
            problems = _admin_check(world, row.outcome(world.role), _page_visit(world, row))
            failures += [f"{row.what} as {world.role}: {problem}" for problem in problems]
    assert failures == [], "\n".join(failures)


# --- a ModelAdmin's own pages ----------------------------------------------------------------------------------------


def _payment(world: World) -> Any:
    from billing.services.payments import payment_record

    return payment_record(invoice=world.invoice(), amount=1_000, method="bank_transfer")


def _idempotency_key(world: World) -> Any:
    from billing.tests.factories import IdempotencyKeyFactory

    return IdempotencyKeyFactory(
        user=world.other,
        key=f"key-{uuid.uuid4().hex[:8]}",
        request_path="/api/payment/checkout",
        state="completed",
        response_status=201,
        response_body='{"client_secret": "pi_1_secret_2"}',
        expires_at=timezone.now() + timedelta(hours=1),
    )


def _webhook_event(world: World) -> Any:
    from billing.tests.factories import StripeWebhookEventFactory

    return StripeWebhookEventFactory(
        stripe_event_id=f"evt_{uuid.uuid4().hex[:8]}", event_type="invoice.paid", stripe_created_at=timezone.now()
    )


def _subscribe_attempt(world: World) -> Any:
    from billing.tests.factories import SubscribeAttemptFactory

    return SubscribeAttemptFactory.create(customer=world.customer(), plan=world.plans["basic"])


def _job(world: World) -> Any:
    from billing.tests.factories import JobFactory

    return JobFactory.create()


def _email(world: World) -> Any:
    from billing_site.mail.models import Email, EmailStatus

    return Email.objects.create(
        kind="billing.invoice_issued",
        object_type="billing.invoice",
        object_id=str(uuid.uuid4())[:8],
        to_address="buyer@example.com",
        status=EmailStatus.FAILED,
        attempts=8,
    )


def _outstanding_token(world: World) -> Any:
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    token = RefreshToken.for_user(world.fresh_user())
    return OutstandingToken.objects.get(jti=token["jti"])


def _blacklisted_token(world: World) -> Any:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    token = RefreshToken.for_user(world.fresh_user())
    token.blacklist()
    return BlacklistedToken.objects.get(token__jti=token["jti"])


def _log_entry(world: World) -> Any:
    from auditlog.models import LogEntry

    world.invoice()
    return LogEntry.objects.order_by("-pk").first()


def _group(world: World) -> Any:
    from storage.tests.factories import GroupFactory

    return GroupFactory.create(name=f"group-{uuid.uuid4().hex[:8]}")


def _plan(world: World) -> Any:
    from billing.tests.factories import SubscriptionPlanFactory

    suffix = uuid.uuid4().hex[:8]
    return SubscriptionPlanFactory.create(slug=f"plan-{suffix}", name="임시", monthly_price=1_000, annual_price=10_000)


def _number_sequence(world: World) -> Any:
    from billing.models import InvoiceNumberSequence

    world.invoice()
    return InvoiceNumberSequence.objects.order_by("-pk").first()


def _subscription_invoice(world: World) -> Any:
    from billing.models import SubscriptionInvoice

    return SubscriptionInvoice.objects.filter(subscription=world.subscription()).first()


def _subscription_pause(world: World) -> Any:
    from billing.services.subscriptions.pause import subscription_pause

    return subscription_pause(subscription=world.subscription(), resume_on=None).pauses.get()


def _trial_claim(world: World) -> Any:
    from billing.models.subscriptions import TrialClaim
    from billing.services.customers import customer_get_or_create
    from billing.services.subscriptions import subscription_create
    from billing.tests.factories import SubscriptionPlanFactory

    plan = SubscriptionPlanFactory.create(trial_days=14)
    customer = customer_get_or_create(user=world.fresh_user())  # a trial is once per customer
    started = subscription_create(customer=customer, plan=plan, billing_period="monthly")
    return TrialClaim.objects.get(subscription=started.subscription)


def _dunning_step(world: World) -> Any:
    from billing.models.subscriptions import DunningAction, DunningStep

    invoice = world.invoice()
    return DunningStep.objects.create(
        invoice=invoice, step=1, days_after_due=1, action=DunningAction.REMINDER, done_on=invoice.issue_date
    )


def _refund(world: World) -> Any:
    """A balance refund: a paid invoice credited onto the customer's credit balance."""
    from billing.services.credit_notes import credit_note_issue
    from billing.services.payments import payment_record

    invoice = world.invoice()
    payment_record(invoice=invoice, amount=invoice.total, method="bank_transfer")
    invoice.refresh_from_db()
    note = credit_note_issue(invoice=invoice, reason="goodwill", actor=None, amount=1_000, settlement="balance")
    return note.refunds.get()


def _balance_entry(world: World) -> Any:
    return _refund(world).balance_entries.get()


def _credit_note_sequence(world: World) -> Any:
    from billing.models import CreditNoteNumberSequence

    world.credit_note()
    return CreditNoteNumberSequence.objects.order_by("-pk").first()


def _coupon(world: World) -> Any:
    from billing.services.coupons import coupon_create

    return coupon_create(actor=None, name=f"쿠폰 {uuid.uuid4().hex[:8]}", duration="once", percent_off=10)


def _promotion_code(world: World) -> Any:
    from billing.services.coupons import promotion_code_create

    return promotion_code_create(actor=None, coupon=_coupon(world), code=f"MATRIX-{uuid.uuid4().hex[:8].upper()}")


def _coupon_redemption(world: World) -> Any:
    from billing.services.coupons import coupon_apply_to_customer

    return coupon_apply_to_customer(customer=world.customer(), coupon=_coupon(world), actor=None)


def _api_key(world: World) -> Any:
    from billing.services.api_keys import api_key_create

    return api_key_create(name=f"백엔드 {uuid.uuid4().hex[:8]}", scopes=["usage:write"], expires_at=None, actor=None)[0]


def _usage_rollup(world: World) -> Any:
    from billing.tests.factories import UsageRollupFactory

    return UsageRollupFactory.create(customer=world.customer())


def _usage_alert(world: World) -> Any:
    from billing.models import UsageAlert
    from billing.tests.factories import BillableMetricFactory

    return UsageAlert.objects.create(
        customer=world.customer(),
        metric=BillableMetricFactory.create(),
        period_start=date(2026, 1, 1),
        threshold=80,
        quantity=80,
        included_quantity=100,
    )


def _plan_charge(world: World) -> Any:
    from billing.tests.factories import PlanChargeFactory

    return PlanChargeFactory.create()


def _plan_price(world: World) -> Any:
    from billing.tests.factories import SubscriptionPlanFactory

    return SubscriptionPlanFactory.create(prices={"USD": (800, 8_000)}).prices.get(currency="USD")


def _billable_metric(world: World) -> Any:
    from billing.tests.factories import BillableMetricFactory

    return BillableMetricFactory.create()


# One object of each model (and variant), made fresh for each check; a wildcard row's models have none.
MODEL_OBJECTS: dict[tuple[str, str], Callable[[World], Model]] = {
    ("billing.customer", ""): lambda w: w.customer(),
    ("billing.invoice", "issued"): lambda w: w.invoice(),
    ("billing.invoice", "draft"): lambda w: w.invoice(draft=True),
    ("billing.invoicenumbersequence", ""): _number_sequence,
    ("billing.invoiceline", ""): lambda w: w.invoice().lines.first(),
    ("billing.order", ""): lambda w: w.order(),
    ("billing.orderitem", ""): lambda w: w.order().items.first(),
    ("billing.payment", ""): _payment,
    ("billing.idempotencykey", ""): _idempotency_key,
    ("billing.subscriptionplan", "without subscriptions"): _plan,
    ("billing.subscription", ""): lambda w: w.subscription(),
    ("billing.subscriptioninvoice", ""): _subscription_invoice,
    ("billing.subscriptionpause", ""): _subscription_pause,
    ("billing.trialclaim", ""): _trial_claim,
    ("billing.dunningstep", ""): _dunning_step,
    ("billing.stripewebhookevent", ""): _webhook_event,
    ("storage.storedfile", ""): lambda w: w.file(),
    ("auditlog.logentry", ""): _log_entry,
    ("auth.user", ""): lambda w: w.fresh_user(),
    ("auth.group", ""): _group,
    ("token_blacklist.outstandingtoken", ""): _outstanding_token,
    ("token_blacklist.blacklistedtoken", ""): _blacklisted_token,
    ("jobs.job", ""): _job,
    ("mail.email", ""): _email,
    ("billing.subscribeattempt", ""): _subscribe_attempt,
    ("billing.creditnote", ""): lambda w: w.credit_note(),
    ("billing.creditnoteline", ""): lambda w: w.credit_note().lines.first(),
    ("billing.creditnotenumbersequence", ""): _credit_note_sequence,
    ("billing.refund", ""): _refund,
    ("billing.customerbalanceentry", ""): _balance_entry,
    ("billing.coupon", ""): _coupon,
    ("billing.promotioncode", ""): _promotion_code,
    ("billing.couponredemption", ""): _coupon_redemption,
    ("billing.apikey", ""): _api_key,
    ("billing.exchangerate", ""): _exchange_rate,
    ("billing.billablemetric", ""): _billable_metric,
    ("billing.plancharge", ""): _plan_charge,
    ("billing.planprice", ""): _plan_price,
    ("billing.usagerollup", ""): _usage_rollup,
    ("billing.usagealert", ""): _usage_alert,
}


def _model_visits(world: World, label: str, model_admin: Any, obj: Model | None, caps: set[str]) -> list[Visit]:
    """Each page of the model's admin, with the status this role must get (in `ok`)."""
    base = f"/admin/{label.replace('.', '/')}/"
    if "all" in caps:  # a superuser in a third-party admin: whatever it offers
        request = RequestFactory().get(base)
        request.user = world.user
        caps = {"view", "change", "delete"} | ({"add"} if model_admin.has_add_permission(request) else set())
    sees = bool(caps & {"view", "change"})
    visits = [
        Visit("GET", base, (200,) if sees else (403,)),
        Visit("GET", f"{base}add/", (200,) if "add" in caps else (403,)),
    ]
    if obj is None:  # nothing to show: a missing id (history looks for the object before asking)
        visits += [
            Visit("GET", f"{base}0/change/", (302,) if sees else (403,)),
            Visit("GET", f"{base}0/delete/", (302,) if "delete" in caps else (403,)),
            Visit("GET", f"{base}0/history/", (302,)),
        ]
        return visits
    key = f"{base}{quote(obj.pk)}/"
    editable = "change" in caps

    def change_page(response: Any) -> bool:
        if response.status_code != 200 or label.split(".")[0] not in ("billing", "storage"):
            return True  # (third-party admins show a save button that their POST then refuses)
        return ('name="_save"' in response.content.decode()) == editable

    visits += [
        Visit("GET", f"{key}change/", (200,) if sees else (403,), done=change_page),
        Visit("GET", f"{key}delete/", (200,) if "delete" in caps else (403,)),
        Visit("GET", f"{key}history/", (200,) if sees else (403,)),
        Visit("GET", key, (302,)),
    ]
    if hasattr(model_admin, "auditlog_history_view"):
        visits.append(Visit("GET", f"{key}auditlog/", (200,) if sees else (403,)))
    return visits


def test_admin_models(world: World) -> None:
    failures = []
    admins = registered_admins()
    for row in MATRIX:
        if row.kind != "model":
            continue
        label, variant = row.key
        labels = sorted(name for name in admins if name.startswith(label[:-1])) if label.endswith(".*") else [label]
        expected = row.outcome(world.role)
        for each in labels:
            factory = MODEL_OBJECTS.get((each, variant))
            obj = factory(world) if factory else None
            caps = set() if expected in ("403", "login") else set(expected.split(", "))
            for visit in _model_visits(world, each, admins[each], obj, caps):
                if expected == "login":
                    problems = _admin_check(world, "login", visit)
                else:
                    response = visit.send(world.browser)
                    problems = []
                    if response.status_code not in visit.ok:
                        problems.append(f"{response.status_code} instead of {visit.ok}")
                    elif not visit.done(response):
                        problems.append("the change page's save button says otherwise")
                failures += [f"{row.what} {visit.method} {visit.path} as {world.role}: {p}" for p in problems]
    assert failures == [], "\n".join(failures)


# --- admin actions ---------------------------------------------------------------------------------------------------


@dataclass
class Selection:
    """What an action runs on, and what it must have done when it was allowed."""

    pks: list[Any]
    done: Callable[[Any], bool] = lambda response: True
    confirm: bool = False  # delete_selected asks first; "post=yes" is the answer


def _selection(world: World, label: str, name: str) -> Selection:
    from django.apps import apps

    def invoice_to(status: str, *, draft: bool = False) -> Selection:
        invoice = world.invoice(draft=draft)
        return Selection([invoice.pk], lambda r: type(invoice).objects.get(pk=invoice.pk).status == status)

    def gone(obj: Any) -> Selection:
        model = type(obj)
        return Selection([obj.pk], lambda r: not model.objects.filter(pk=obj.pk).exists(), confirm=True)

    if (label, name) == ("billing.invoice", "finalize_selected"):
        return invoice_to("open", draft=True)
    if (label, name) == ("billing.invoice", "void_selected"):
        return invoice_to("void")
    if (label, name) == ("billing.invoice", "mark_uncollectible_selected"):
        return invoice_to("uncollectible")
    if (label, name) == ("billing.invoice", "regenerate_pdf_selected"):
        invoice = world.invoice()
        revision = invoice.pdf_revision
        return Selection([invoice.pk], lambda r: type(invoice).objects.get(pk=invoice.pk).pdf_revision > revision)
    if (label, name) == ("billing.invoice", "record_bank_transfer"):
        return Selection([world.invoice().pk], lambda r: r.status_code == 302 and "record-payment" in r["Location"])
    if (label, name) == ("billing.invoice", "issue_credit_note"):
        return Selection([world.invoice().pk], lambda r: r.status_code == 302 and "/credit-note/" in r["Location"])
    if (label, name) == ("billing.customer", "adjust_balance"):
        return Selection([world.customer().pk], lambda r: r.status_code == 302 and "/adjust-balance/" in r["Location"])
    if (label, name) in (("billing.coupon", "deactivate_selected"), ("billing.promotioncode", "deactivate_selected")):
        obj = _coupon(world) if label == "billing.coupon" else _promotion_code(world)
        return Selection([obj.pk], lambda r: not type(obj).objects.get(pk=obj.pk).is_active)
    if (label, name) == ("billing.apikey", "revoke_selected"):
        api_key = _api_key(world)
        return Selection([api_key.pk], lambda r: type(api_key).objects.get(pk=api_key.pk).revoked_at is not None)
    if (label, name) == ("billing.invoice", "open_pdf"):
        return Selection([world.invoice().pk], lambda r: r.status_code == 302 and "/pdf/" in r["Location"])
    if name == "export_selected_csv":
        exported = {
            "billing.invoice": world.invoice,
            "billing.creditnote": world.credit_note,
            "billing.refund": lambda: _refund(world),
        }
        obj = exported.get(label, lambda: _payment(world))()
        return Selection([obj.pk], lambda r: r.status_code == 200 and "text/csv" in r["Content-Type"])
    if name == "stripe_sync_selected":
        obj = world.invoice() if label == "billing.invoice" else world.plans["basic"]
        return Selection([obj.pk], lambda r: bool(world.stripe.calls))
    if label == "billing.order":
        order = world.order()
        status = {"invoice_selected": "invoiced", "cancel_selected": "canceled"}.get(name)
        return Selection([order.pk], lambda r: type(order).objects.get(pk=order.pk).status == status)
    if label == "billing.subscription" and name != "delete_selected":
        subscription = world.subscription_for(name, days_ago=_started_days_ago(name))
        before = snapshot()
        return Selection([subscription.pk], lambda r: snapshot() != before)
    if (label, name) == ("jobs.job", "retry_selected"):
        job = _job(world)
        return Selection([job.pk], lambda r: type(job).objects.get(pk=job.pk).attempts < 10)
    if (label, name) == ("mail.email", "resend_selected"):
        email = _email(world)
        return Selection([email.pk], lambda r: type(email).objects.get(pk=email.pk).sends_requested == 2)
    if (label, name) == ("billing.stripewebhookevent", "retry_selected"):
        return Selection([_webhook_event(world).pk], lambda r: bool(world.webhook_retries))
    if name == "delete_selected" and label == "storage.storedfile":  # a file is marked deleted, its row kept
        file = world.file()
        return Selection([file.pk], lambda r: type(file).objects.get(pk=file.pk).deleted_at is not None, confirm=True)
    if name == "delete_selected" and (label, "") in MODEL_OBJECTS:
        return gone(MODEL_OBJECTS[(label, "")](world))
    if name == "delete_selected" and label == "billing.subscriptionplan":
        return gone(_plan(world))
    if name == "delete_selected" and label == "billing.invoice":
        return gone(world.invoice(draft=True))
    model = apps.get_model(label)
    return Selection([obj.pk for obj in model.objects.all()[:1]])  # third-party: run on what exists, if anything


def _offered(world: World, model_admin: Any, name: str) -> bool:
    request = RequestFactory().get("/admin/")
    request.user = world.user
    # The action menu is on the changelist: without it, nothing is offered.
    return model_admin.has_view_or_change_permission(request) and name in model_admin.get_actions(request)


def test_admin_actions(world: World) -> None:
    failures = []
    admins = registered_admins()
    for row in MATRIX:
        if row.kind != "action":
            continue
        label, name = row.key
        labels = sorted(each for each in admins if each.startswith(label[:-1])) if label.endswith(".*") else [label]
        expected = row.outcome(world.role)
        for each in labels:
            model_admin = admins[each]
            if name not in base_actions(model_admin):
                continue  # a wildcard row: this model of the app has no such action
            third_party = label.endswith(".*") or each.split(".")[0] not in ("billing", "storage")
            problems = []
            if expected == "all":  # a superuser in a third-party admin: its menu is open to them; not run
                request = RequestFactory().get("/admin/")
                request.user = world.user
                if not model_admin.has_view_or_change_permission(request):
                    problems.append("the changelist (and its action menu) is refused")
            elif world.user is not None and world.user.is_staff:
                offered = _offered(world, model_admin, name)
                if offered != (expected == "allowed"):
                    problems.append(f"offered: {offered}")
            if expected == "all" or (expected == "allowed" and third_party and "delete" not in name):
                pass  # not run: it would call Stripe (or purge axes' records)
            elif not problems:
                selection = _selection(world, each, name)
                data = {"action": name, "_selected_action": selection.pks}
                if selection.confirm or expected != "allowed":
                    data["post"] = "yes"
                visit = Visit("POST", f"/admin/{each.replace('.', '/')}/", (200, 302), data, done=selection.done)
                problems += _admin_check(world, expected, visit)
            failures += [f"{row.what} ({each}) as {world.role}: {problem}" for problem in problems]
    assert failures == [], "\n".join(failures)
