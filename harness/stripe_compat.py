"""Runs localstripe on 127.0.0.1 behind a layer that adds what dj-stripe 2.11 and the stripe library need from it.

This file runs as a script in .venv-localstripe (started by harness/stripe_server.py), not inside pytest:

    python stripe_compat.py --port P --localstripe-port L --state-dir D

localstripe listens on L; the compatibility layer on P forwards every request to it and adds, on the way:
- `GET /v1/account`, `GET /v1/accounts[/<id>]`: one fixed platform account (localstripe has none);
- `GET /v1/products/<id>/features`: always empty (entitlements are not modelled);
- `/v1/prices` (create, retrieve, update, list) backed by localstripe plans, a price's id being its plan's id;
- `price` accepted where localstripe wants `plan` (subscription items, `/v1/subscription_items`, upcoming invoices);
- subscription items carrying `price`, `subscription` and `current_period_*`, invoice lines carrying `price`;
- `null` lists (`default_tax_rates`...) made `[]`, and `expand` of fields localstripe lacks (`discounts`) dropped;
- `/v1/webhook_endpoints` (create, retrieve, update, list, delete) on top of localstripe's webhook registration, and
  every registration (those too, and `POST /_config/webhooks/<id>`) kept in the state directory and registered again
  when the server restarts; `DELETE /_config/webhooks/<id>` withdraws one.
- Stripe's `Idempotency-Key` semantics on POSTs (localstripe ignores the header): a repeated key with the same
  parameters replays the first answer (`Idempotent-Replayed: true`), with other parameters it is a 400
  `idempotency_error`, while the first is still running a 409; `DELETE /_config/data` forgets the keys too;
- `GET /_compat/hosted_invoices/<id>`: the page a finalized invoice's `hosted_invoice_url` points at.
Patched inside localstripe: events (webhook payloads, `/v1/events`) carry the same dialect, its state is pickled into
the state directory (not /tmp/localstripe.pickle), and `active=false` on update stores a boolean, not "false".
Also patched in, where localstripe lacks what the product uses (see `invoices_as_stripe_has_them` and
`events_stripe_also_sends`): invoices without a subscription (`collection_method`, `days_until_due`, `currency`,
`auto_advance`, pending items only with `pending_invoice_items_behavior=include`), invoice items added to a draft
invoice, `POST /v1/invoices/<id>/finalize`, `hosted_invoice_url`/`invoice_pdf`/`due_date` once finalized, and the
events `invoice.finalized`, `invoice.paid`, `invoice.voided`, `customer.subscription.updated` and `charge.refunded`;
`POST /v1/invoices/<id>/void` is answered here (see `invoice_void`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import json
import pickle
import re
import secrets
import signal
import string
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import localstripe.errors
import localstripe.resources
import localstripe.server
import localstripe.webhooks
from aiohttp import ClientSession, web

JSON = Any
Pairs = list[tuple[str, str]]

ACCOUNT_ID = "acct_1HarnessLocalStripe"
ACCOUNT: dict[str, JSON] = {
    "id": ACCOUNT_ID,
    "object": "account",
    "business_profile": {"name": "billing_site test", "url": None, "support_email": None, "support_phone": None},
    "business_type": "company",
    "capabilities": {"card_payments": "active", "transfers": "active"},
    "charges_enabled": True,
    "controller": {"type": "application", "is_controller": True},
    "country": "KR",
    "created": 1700000000,
    "default_currency": "krw",
    "details_submitted": True,
    "email": "billing-test@example.com",
    "external_accounts": {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"/v1/accounts/{ACCOUNT_ID}/external_accounts",
    },
    "livemode": False,
    "metadata": {},
    "payouts_enabled": True,
    "requirements": {"currently_due": [], "eventually_due": [], "past_due": [], "disabled_reason": None},
    "settings": {
        "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
        "dashboard": {"display_name": "billing_site test", "timezone": "Asia/Seoul"},
        "payments": {"statement_descriptor": None},
    },
    "tos_acceptance": {"date": None},
    "type": "standard",
}

# Price attributes that plans lack are kept in the plan's metadata under this prefix and hidden again on the way out.
HIDDEN_METADATA_PREFIX = "harness_price_"
PRICE_TO_PLAN_FIELDS = {
    "unit_amount": "amount",
    "recurring[interval]": "interval",
    "recurring[interval_count]": "interval_count",
    "recurring[usage_type]": "usage_type",
    "recurring[trial_period_days]": "trial_period_days",
}
PRICE_FIELDS_IN_METADATA = ("lookup_key", "tax_behavior")
PRICE_UPDATABLE_FIELDS = ("active", "nickname")
# Fields localstripe does not have, so expanding them makes it answer 400 "Bad expand".
UNEXPANDABLE_FIELDS = {"discounts", "currency_options", "applies_to"}
# Fields Stripe always sends as lists, which localstripe sometimes leaves null or out.
LIST_FIELDS_BY_OBJECT = {
    "subscription": ("default_tax_rates", "discounts"),
    "subscription_item": ("tax_rates", "discounts"),
    "invoice": ("default_tax_rates", "discounts", "total_discount_amounts", "total_tax_amounts"),
    "line_item": ("discounts", "discount_amounts", "tax_amounts", "tax_rates"),
    "invoiceitem": ("discounts", "tax_rates"),
}
SUBSCRIPTION_ITEM_KEY = re.compile(r"^(items|subscription_items)\[(\d+)\]\[price\]$")
EXPAND_KEY = re.compile(r"^expand\[\d*\]$")


# --- translation of JSON answers into the Stripe API dialect -------------------------------------------------------


def price_from_plan(plan: dict[str, JSON]) -> dict[str, JSON]:
    """The price object Stripe would show for this localstripe plan."""
    metadata = dict(plan.get("metadata") or {})
    hidden = {
        key[len(HIDDEN_METADATA_PREFIX) :]: metadata.pop(key)
        for key in list(metadata)
        if key.startswith(HIDDEN_METADATA_PREFIX)
    }
    one_time = hidden.get("type") == "one_time"
    recurring = None
    if not one_time:
        recurring = {
            "interval": plan["interval"],
            "interval_count": plan["interval_count"],
            "usage_type": plan.get("usage_type", "licensed"),
            "trial_period_days": plan.get("trial_period_days"),
            "aggregate_usage": None,
            "meter": None,
        }
    return {
        "id": plan["id"],
        "object": "price",
        "active": plan["active"],
        "billing_scheme": plan.get("billing_scheme", "per_unit"),
        "created": plan["created"],
        "currency": plan["currency"],
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": hidden.get("lookup_key"),
        "metadata": metadata,
        "nickname": plan.get("nickname"),
        "product": to_stripe_dialect(plan["product"]),
        "recurring": recurring,
        "tax_behavior": hidden.get("tax_behavior", "unspecified"),
        "tiers_mode": plan.get("tiers_mode"),
        "tiers": plan.get("tiers"),
        "transform_quantity": None,
        "type": "one_time" if one_time else "recurring",
        "unit_amount": plan["amount"],
        "unit_amount_decimal": None if plan["amount"] is None else str(plan["amount"]),
    }


def to_stripe_dialect(value: JSON, subscription_id: str | None = None) -> JSON:
    """A copy of a localstripe JSON answer with the fields Stripe (and dj-stripe) expect; idempotent."""
    if isinstance(value, list):
        return [to_stripe_dialect(item, subscription_id) for item in value]
    if not isinstance(value, dict):
        return value
    # An event's `data` holds the object itself under "object".
    kind = value["object"] if isinstance(value.get("object"), str) else ""
    if kind == "subscription":
        subscription_id = value["id"]
    result = {key: to_stripe_dialect(item, subscription_id) for key, item in value.items()}
    for field in LIST_FIELDS_BY_OBJECT.get(kind, ()):
        if result.get(field) is None:
            result[field] = []
    if kind in ("subscription_item", "line_item", "invoiceitem") and isinstance(result.get("plan"), dict):
        result["price"] = price_from_plan(result["plan"])
    if kind == "subscription_item" and subscription_id is not None:
        result.setdefault("subscription", subscription_id)
    if kind == "subscription":
        for item in result.get("items", {}).get("data", []):
            item.setdefault("current_period_start", result.get("current_period_start"))
            item.setdefault("current_period_end", result.get("current_period_end"))
    return result


# --- translation of requests into what localstripe accepts ---------------------------------------------------------


def drop_unexpandable(pairs: Pairs) -> Pairs:
    """Remove `expand` paths that go through a field localstripe lacks, renumbering the rest."""
    kept, expands = [], []
    for key, value in pairs:
        if EXPAND_KEY.match(key):
            if not UNEXPANDABLE_FIELDS.intersection(value.split(".")):
                expands.append(value)
        else:
            kept.append((key, value))
    return kept + [(f"expand[{index}]", path) for index, path in enumerate(expands)]


def prices_as_plans(path: str, pairs: Pairs) -> Pairs:
    """Rename `price` to `plan` where subscriptions and their items take one."""
    renamed = []
    for key, value in pairs:
        match = SUBSCRIPTION_ITEM_KEY.match(key)
        if match:
            key = f"{match.group(1)}[{match.group(2)}][plan]"
        elif key == "price" and path.startswith("/v1/subscription_items"):
            key = "plan"
        renamed.append((key, value))
    return renamed


def plan_fields_from_price(pairs: Pairs) -> Pairs:
    """Translate `POST /v1/prices` parameters into `POST /v1/plans` ones."""
    plan: Pairs = []
    recurring = False
    for key, value in pairs:
        if key.startswith("recurring["):
            recurring = True
            if key not in PRICE_TO_PLAN_FIELDS:
                raise CompatError(400, f"localstripe cannot store the price parameter {key!r}")
        if key in PRICE_TO_PLAN_FIELDS:
            plan.append((PRICE_TO_PLAN_FIELDS[key], value))
        elif key in PRICE_FIELDS_IN_METADATA:
            plan.append((f"metadata[{HIDDEN_METADATA_PREFIX}{key}]", value))
        elif key.startswith("product_data["):
            plan.append(("product[" + key[len("product_data[") :], value))
        elif key in ("currency", "product", "nickname", "active", "billing_scheme", "tiers_mode") or key.startswith(
            ("metadata[", "tiers[", "expand[")
        ):
            plan.append((key, value))
        else:
            raise CompatError(400, f"localstripe cannot store the price parameter {key!r}")
    if not recurring:
        # localstripe plans always recur; the marker makes the price read back as one-time.
        plan += [("interval", "month"), (f"metadata[{HIDDEN_METADATA_PREFIX}type]", "one_time")]
    return [("id", "price_" + random_token(24)), *plan]


def plan_update_from_price(pairs: Pairs) -> Pairs:
    plan: Pairs = []
    for key, value in pairs:
        if key in PRICE_UPDATABLE_FIELDS or key.startswith(("metadata[", "expand[")):
            plan.append((key, value))
        elif key in PRICE_FIELDS_IN_METADATA:
            plan.append((f"metadata[{HIDDEN_METADATA_PREFIX}{key}]", value))
        else:
            raise CompatError(400, f"localstripe cannot update the price parameter {key!r}")
    return plan


# --- webhooks ------------------------------------------------------------------------------------------------------


def random_token(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def form_list(pairs: Pairs, name: str) -> list[str] | None:
    """The values of `name[0]`, `name[1]`... (or `name[]`) in a form, None when there are none."""
    values = [value for key, value in pairs if re.fullmatch(rf"{re.escape(name)}\[\d*\]", key)]
    return values or None


class WebhookRegistry:
    """localstripe's webhook registrations and the webhook endpoints built on them, saved in the state directory."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        saved = json.loads(state_file.read_text()) if state_file.exists() else {}
        self.registrations: dict[str, dict[str, JSON]] = saved.get("registrations", {})
        self.endpoints: dict[str, dict[str, JSON]] = saved.get("endpoints", {})
        for webhook_id, registration in self.registrations.items():
            localstripe.webhooks.register_webhook(webhook_id, **registration)
        for endpoint in self.endpoints.values():
            self.deliver_to(endpoint)

    def save(self) -> None:
        saved = {"registrations": self.registrations, "endpoints": self.endpoints}
        partial = self.state_file.with_suffix(".partial")
        partial.write_text(json.dumps(saved))
        partial.replace(self.state_file)

    def register(self, webhook_id: str, url: str, secret: str, events: list[str] | None) -> None:
        self.registrations[webhook_id] = {"url": url, "secret": secret, "events": events}
        localstripe.webhooks.register_webhook(webhook_id, url, secret, events)
        self.save()

    def unregister(self, webhook_id: str) -> None:
        self.registrations.pop(webhook_id, None)
        localstripe.webhooks._webhooks.pop(webhook_id, None)
        self.save()

    def deliver_to(self, endpoint: dict[str, JSON]) -> None:
        """Register an enabled endpoint with localstripe, or withdraw a disabled one."""
        if endpoint["status"] == "enabled":
            events = None if "*" in endpoint["enabled_events"] else endpoint["enabled_events"]
            localstripe.webhooks.register_webhook(endpoint["id"], endpoint["url"], endpoint["secret"], events)
        else:
            localstripe.webhooks._webhooks.pop(endpoint["id"], None)

    def create_endpoint(self, pairs: Pairs) -> dict[str, JSON]:
        fields = dict(pairs)
        events = form_list(pairs, "enabled_events")
        if not fields.get("url", "").startswith("http") or not events:
            raise CompatError(400, "a webhook endpoint needs `url` and `enabled_events`")
        endpoint_id = "we_" + random_token(24)
        endpoint = {
            "id": endpoint_id,
            "object": "webhook_endpoint",
            "api_version": fields.get("api_version"),
            "application": None,
            "created": int(time.time()),
            "description": fields.get("description"),
            "enabled_events": events,
            "livemode": False,
            "metadata": metadata_from_form(pairs),
            "secret": "whsec_" + random_token(32),
            "status": "enabled",
            "url": fields["url"],
        }
        self.endpoints[endpoint_id] = endpoint
        self.deliver_to(endpoint)
        self.save()
        return endpoint

    def endpoint(self, endpoint_id: str) -> dict[str, JSON]:
        if endpoint_id not in self.endpoints:
            raise CompatError(404, f"No such webhook endpoint: '{endpoint_id}'")
        return self.endpoints[endpoint_id]

    def update_endpoint(self, endpoint_id: str, pairs: Pairs) -> dict[str, JSON]:
        endpoint = self.endpoint(endpoint_id)
        fields = dict(pairs)
        if "url" in fields:
            endpoint["url"] = fields["url"]
        if "description" in fields:
            endpoint["description"] = fields["description"]
        if "disabled" in fields:
            endpoint["status"] = "disabled" if fields["disabled"] == "true" else "enabled"
        endpoint["enabled_events"] = form_list(pairs, "enabled_events") or endpoint["enabled_events"]
        endpoint["metadata"] = {**endpoint["metadata"], **metadata_from_form(pairs)}
        self.deliver_to(endpoint)
        self.save()
        return endpoint

    def delete_endpoint(self, endpoint_id: str) -> dict[str, JSON]:
        endpoint = self.endpoint(endpoint_id)
        endpoint["status"] = "disabled"
        self.deliver_to(endpoint)
        del self.endpoints[endpoint_id]
        self.save()
        return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def metadata_from_form(pairs: Pairs) -> dict[str, str]:
    return {
        key[len("metadata[") : -1]: value for key, value in pairs if key.startswith("metadata[") and key.endswith("]")
    }


# --- the HTTP layer ------------------------------------------------------------------------------------------------


class CompatError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def stripe_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"type": "invalid_request_error", "message": message}}, status=status)


class IdempotencyCache:
    """First answers of POSTs sent with an `Idempotency-Key`, per API key, as Stripe keeps them (for 24 h there)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], tuple[str, int, bytes, str]] = {}
        self.in_flight: set[tuple[str, str]] = set()

    def clear(self) -> None:
        self.answers.clear()


def request_fingerprint(path: str, body: bytes) -> str:
    """The parameters of a form POST, independent of their order."""
    pairs = sorted(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    return hashlib.sha256(f"{path}\n{urlencode(pairs)}".encode()).hexdigest()


def idempotency_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"type": "idempotency_error", "message": message}}, status=status)


class CompatLayer:
    """The aiohttp application in front of localstripe."""

    def __init__(self, localstripe_url: str, webhooks: WebhookRegistry) -> None:
        self.localstripe_url = localstripe_url
        self.webhooks = webhooks
        self.session: ClientSession | None = None
        self.idempotency = IdempotencyCache()
        self.app = web.Application(middlewares=[self.errors_as_stripe_json, self.idempotent_posts])
        self.app.on_startup.append(self.open_session)
        self.app.on_cleanup.append(self.close_session)
        router = self.app.router
        router.add_get("/_compat/health", self.health)
        router.add_get("/v1/account", self.account)
        router.add_get("/v1/accounts", self.account_list)
        router.add_get("/v1/accounts/{id}", self.account)
        router.add_post("/v1/prices", self.price_create)
        router.add_get("/v1/prices", self.price_list)
        router.add_get("/v1/prices/{id}", self.price_retrieve)
        router.add_post("/v1/prices/{id}", self.price_update)
        router.add_get("/v1/products/{id}/features", self.product_features)
        router.add_post("/v1/webhook_endpoints", self.webhook_endpoint_create)
        router.add_get("/v1/webhook_endpoints", self.webhook_endpoint_list)
        router.add_get("/v1/webhook_endpoints/{id}", self.webhook_endpoint_retrieve)
        router.add_post("/v1/webhook_endpoints/{id}", self.webhook_endpoint_update)
        router.add_delete("/v1/webhook_endpoints/{id}", self.webhook_endpoint_delete)
        router.add_post("/_config/webhooks/{id}", self.webhook_register)
        router.add_delete("/_config/webhooks/{id}", self.webhook_unregister)
        router.add_delete("/_config/data", self.data_reset)
        router.add_get("/_compat/hosted_invoices/{id}", self.hosted_invoice)
        router.add_post("/v1/invoices/{id}/void", self.invoice_void)
        router.add_route("*", "/{tail:.*}", self.forward)

    async def open_session(self, app: web.Application) -> None:
        self.session = ClientSession()

    async def close_session(self, app: web.Application) -> None:
        assert self.session is not None
        await self.session.close()

    @web.middleware
    async def errors_as_stripe_json(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except CompatError as error:
            return stripe_error(error.status, f"harness stripe compat: {error.message}")

    @web.middleware
    async def idempotent_posts(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Stripe's idempotency: replay the first answer of a key, refuse the key with other parameters.

        Answers are kept when the request ran (success, or a 402 card error), not when it was refused as invalid,
        which is what Stripe documents.
        """
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        fingerprint = request_fingerprint(request.path, await request.read())
        saved = self.idempotency.answers.get(scope)
        if saved is not None:
            saved_fingerprint, status, body, content_type = saved
            if saved_fingerprint != fingerprint:
                return idempotency_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                )
            return web.Response(
                body=body, status=status, content_type=content_type, headers={"Idempotent-Replayed": "true"}
            )
        if scope in self.idempotency.in_flight:
            return idempotency_error(409, f"There is currently another in-progress request using the key '{key}'.")
        self.idempotency.in_flight.add(scope)
        try:
            response = await handler(request)
        finally:
            self.idempotency.in_flight.discard(scope)
        if isinstance(response, web.Response) and (response.status < 400 or response.status == 402):
            body = response.body if isinstance(response.body, bytes) else b""
            self.idempotency.answers[scope] = (fingerprint, response.status, body, response.content_type)
        return response

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def data_reset(self, request: web.Request) -> web.StreamResponse:
        """Forget every Stripe object (localstripe's own `DELETE /_config/data`) and every idempotency key."""
        self.idempotency.clear()
        return await self.forward(request)

    async def invoice_void(self, request: web.Request) -> web.Response:
        expand = [value for key, value in await form_pairs(request) if EXPAND_KEY.match(key)]
        try:
            invoice = invoice_void(request.match_info["id"])
        except localstripe.errors.UserError as error:
            return web.json_response(error.body, status=error.code)
        finally:
            localstripe.resources.store.dump_to_disk()
        return web.json_response(to_stripe_dialect(invoice._export(expand=expand or None)))

    async def hosted_invoice(self, request: web.Request) -> web.Response:
        """What a customer finds behind `hosted_invoice_url`: the invoice's number, amount due and status."""
        try:
            invoice = localstripe.resources.Invoice._api_retrieve(request.match_info["id"])
        except localstripe.errors.UserError:
            return web.Response(status=404, text="No such invoice")
        text = (
            f"<!doctype html><title>Invoice {html.escape(invoice.id)}</title>"
            f"<h1>Invoice {html.escape(invoice.id)}</h1>"
            f"<p>Amount due: {invoice.amount_due} {html.escape(invoice.currency.upper())}</p>"
            f"<p>Status: {html.escape(invoice.status)}</p>"
        )
        return web.Response(text=text, content_type="text/html")

    async def account(self, request: web.Request) -> web.Response:
        if request.match_info.get("id", ACCOUNT_ID) != ACCOUNT_ID:
            return stripe_error(404, f"No such account: {request.match_info['id']}")
        return web.json_response(ACCOUNT)

    async def account_list(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [ACCOUNT], "has_more": False, "url": "/v1/accounts"})

    async def product_features(self, request: web.Request) -> web.Response:
        url = f"/v1/products/{request.match_info['id']}/features"
        return web.json_response({"object": "list", "data": [], "has_more": False, "url": url})

    async def webhook_endpoint_create(self, request: web.Request) -> web.Response:
        return web.json_response(self.webhooks.create_endpoint(await form_pairs(request)))

    async def webhook_endpoint_list(self, request: web.Request) -> web.Response:
        endpoints = list(self.webhooks.endpoints.values())
        return web.json_response(
            {"object": "list", "data": endpoints, "has_more": False, "url": "/v1/webhook_endpoints"}
        )

    async def webhook_endpoint_retrieve(self, request: web.Request) -> web.Response:
        return web.json_response(self.webhooks.endpoint(request.match_info["id"]))

    async def webhook_endpoint_update(self, request: web.Request) -> web.Response:
        return web.json_response(self.webhooks.update_endpoint(request.match_info["id"], await form_pairs(request)))

    async def webhook_endpoint_delete(self, request: web.Request) -> web.Response:
        return web.json_response(self.webhooks.delete_endpoint(request.match_info["id"]))

    async def webhook_register(self, request: web.Request) -> web.Response:
        """localstripe's own registration call (`url`, `secret`, optional `events[]`), remembered across restarts."""
        pairs = await form_pairs(request)
        fields = dict(pairs)
        if not fields.get("url", "").startswith("http") or not fields.get("secret"):
            raise CompatError(400, "webhook registration needs `url` (http...) and `secret`")
        self.webhooks.register(request.match_info["id"], fields["url"], fields["secret"], form_list(pairs, "events"))
        return web.Response()

    async def webhook_unregister(self, request: web.Request) -> web.Response:
        self.webhooks.unregister(request.match_info["id"])
        return web.Response()

    async def price_create(self, request: web.Request) -> web.Response:
        pairs = plan_fields_from_price(drop_unexpandable(await form_pairs(request)))
        status, plan = await self.call("POST", "/v1/plans", pairs, request)
        return self.price_response(status, plan)

    async def price_retrieve(self, request: web.Request) -> web.Response:
        pairs = drop_unexpandable(list(request.query.items()))
        status, plan = await self.call("GET", f"/v1/plans/{request.match_info['id']}", pairs, request)
        return self.price_response(status, plan)

    async def price_update(self, request: web.Request) -> web.Response:
        pairs = plan_update_from_price(drop_unexpandable(await form_pairs(request)))
        status, plan = await self.call("POST", f"/v1/plans/{request.match_info['id']}", pairs, request)
        return self.price_response(status, plan)

    async def price_list(self, request: web.Request) -> web.Response:
        wanted_type = request.query.get("type")
        wanted_currency = request.query.get("currency")
        lookup_keys = [value for key, value in request.query.items() if key.startswith("lookup_keys[")]
        # Filters plans lack are applied here, so a page may hold fewer than `limit` prices.
        pairs = [
            (key, value)
            for key, value in request.query.items()
            if key not in ("type", "currency") and not key.startswith("lookup_keys[")
        ]
        status, plans = await self.call("GET", "/v1/plans", drop_unexpandable(pairs), request)
        if status != 200:
            return web.json_response(plans, status=status)
        prices = [price_from_plan(plan) for plan in plans["data"]]
        prices = [
            price
            for price in prices
            if (wanted_type is None or price["type"] == wanted_type)
            and (wanted_currency is None or price["currency"] == wanted_currency)
            and (not lookup_keys or price["lookup_key"] in lookup_keys)
        ]
        return web.json_response({**plans, "data": prices, "url": "/v1/prices"})

    def price_response(self, status: int, plan: JSON) -> web.Response:
        if status != 200:
            return web.json_response(plan, status=status)
        return web.json_response(price_from_plan(plan))

    async def call(self, method: str, path: str, pairs: Pairs, request: web.Request) -> tuple[int, JSON]:
        """Send a request to localstripe with the caller's credentials; return the status and decoded JSON."""
        assert self.session is not None
        headers = {"Authorization": request.headers.get("Authorization", "")}
        if method == "GET":
            query, body = pairs, None
        else:
            query, body = [], urlencode(pairs)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.session.request(
            method, self.localstripe_url + path, params=query, data=body, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        path = request.path
        query = prices_as_plans(path, drop_unexpandable(list(request.query.items())))
        body = await request.read()
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() not in ("host", "content-length", "transfer-encoding")
        }
        if request.content_type == "application/x-www-form-urlencoded":
            pairs = parse_qsl(body.decode(), keep_blank_values=True)
            body = urlencode(prices_as_plans(path, drop_unexpandable(pairs))).encode()
        async with self.session.request(
            request.method, self.localstripe_url + path, params=query, data=body, headers=headers
        ) as response:
            payload = await response.read()
            content_type = response.content_type
            status = response.status
        if content_type == "application/json" and payload:
            subscription_id = request.query.get("subscription")
            answer = to_stripe_dialect(json.loads(payload), subscription_id)
            return web.json_response(answer, status=status)
        if status in (404, 405) and path.startswith("/v1/"):
            # aiohttp's plain-text "404: Not Found" would reach the stripe library as an unparseable body.
            message = f"Unrecognized request URL ({request.method}: {path}): localstripe does not implement it"
            return stripe_error(404, message)
        return web.Response(body=payload, status=status, content_type=content_type)


async def form_pairs(request: web.Request) -> Pairs:
    return parse_qsl((await request.read()).decode(), keep_blank_values=True)


# --- the process ---------------------------------------------------------------------------------------------------


def keep_state_in(state_dir: Path) -> None:
    """Make localstripe pickle its store into `state_dir` instead of the shared /tmp/localstripe.pickle."""
    state_file = state_dir / "localstripe.pickle"

    def try_load_from_disk(store: localstripe.resources.Store) -> None:
        if state_file.exists():
            with state_file.open("rb") as source:
                saved = pickle.load(source)  # noqa: S301 (this very process wrote it)
            store.clear()
            store.update(saved)

    def dump_to_disk(store: localstripe.resources.Store) -> None:
        partial = state_file.with_suffix(".partial")
        with partial.open("wb") as target:
            pickle.dump(dict(store), target, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(state_file)

    localstripe.resources.Store.try_load_from_disk = try_load_from_disk
    localstripe.resources.Store.dump_to_disk = dump_to_disk


def webhook_payloads_in_stripe_dialect() -> None:
    """Events (webhook payloads and `/v1/events`) carry objects in the same dialect as API answers."""
    export = localstripe.resources.Event._export

    def export_in_stripe_dialect(event: localstripe.resources.Event, expand: list[str] | None = None) -> JSON:
        return to_stripe_dialect(export(event, expand=expand))

    localstripe.resources.Event._export = export_in_stripe_dialect


def booleans_parsed_on_update() -> None:
    """`active=false` on update stores False, not the string "false" (localstripe's generic update keeps strings)."""
    update = localstripe.resources.StripeObject._update

    def update_with_booleans(obj: localstripe.resources.StripeObject, **data: JSON) -> None:
        for key, value in data.items():
            if isinstance(getattr(obj, key, None), bool) and value in ("true", "false"):
                data[key] = value == "true"
        update(obj, **data)

    localstripe.resources.StripeObject._update = update_with_booleans


def invoices_as_stripe_has_them(hosted_base: str) -> None:
    """Invoices the way the product uses them, which localstripe only knows as part of a subscription.

    - `POST /v1/invoices` without `subscription` makes a standalone draft (localstripe answers 404, or bills the
      customer's subscription): `currency`, `collection_method`, `days_until_due`, `auto_advance` are kept, and
      pending invoice items join only with `pending_invoice_items_behavior=include` (Stripe's default is exclude);
    - `POST /v1/invoiceitems` with `invoice` adds a line to that draft (localstripe records the id, adds no line);
    - `POST /v1/invoices/<id>/finalize` (missing) opens a draft: `due_date` from `days_until_due`, and
      `hosted_invoice_url`/`invoice_pdf` pointing at this layer, which Stripe gives every finalized invoice.
    Subscription invoices keep localstripe's behaviour.
    """
    resources = localstripe.resources
    Invoice, InvoiceItem, InvoiceLineItem = resources.Invoice, resources.InvoiceItem, resources.InvoiceLineItem
    UserError = localstripe.errors.UserError
    create_for_subscription = Invoice._api_create.__func__  # type: ignore[attr-defined]

    def create(
        cls: type,
        customer: str | None = None,
        subscription: str | None = None,
        currency: str | None = None,
        collection_method: str | None = None,
        days_until_due: str | None = None,
        auto_advance: str | None = None,
        pending_invoice_items_behavior: str | None = None,
        **data: JSON,
    ) -> JSON:
        if subscription is not None:
            return create_for_subscription(
                cls, customer=customer, subscription=subscription,
                pending_invoice_items_behavior=pending_invoice_items_behavior, **data,
            )  # fmt: skip
        days = resources.try_convert_to_int(days_until_due)
        if collection_method not in (None, "charge_automatically", "send_invoice"):
            raise UserError(400, f"Invalid collection_method: {collection_method}")
        if collection_method == "send_invoice" and not (isinstance(days, int) and days >= 0):
            raise UserError(400, "Missing required param: days_until_due.")
        if pending_invoice_items_behavior not in (None, "include", "exclude"):
            raise UserError(400, f"Invalid pending_invoice_items_behavior: {pending_invoice_items_behavior}")
        if not isinstance(customer, str):
            raise UserError(400, "Missing required param: customer.")
        resources.Customer._api_retrieve(customer)
        include_pending = pending_invoice_items_behavior == "include"
        hidden = []
        if not include_pending:  # Invoice() takes every pending item of the customer: hide them for a moment
            hidden = list(InvoiceItem._api_list_all(None, customer=customer, limit=99)._list)
            for item in hidden:
                item.invoice = "in_hidden"
        try:
            invoice = Invoice(customer=customer, **data)
        finally:
            for item in hidden:
                item.invoice = None
        invoice.currency = (currency or invoice.currency).lower()
        invoice.collection_method = collection_method or "charge_automatically"
        invoice.days_until_due = days
        invoice.auto_advance = auto_advance != "false"
        invoice.due_date = None
        return invoice

    Invoice._api_create = classmethod(create)

    item_init = InvoiceItem.__init__

    def init_item(item: JSON, invoice: str | None = None, **data: JSON) -> None:
        target = Invoice._api_retrieve(invoice) if isinstance(invoice, str) else None
        if target is not None and target.status != "draft":
            raise UserError(400, f"Invoice {invoice} is finalized; items can only be added to a draft.")
        item_init(item, invoice=invoice, **data)
        if target is not None:
            if not target.lines._list:
                target.currency = item.currency
            target.lines._list.append(InvoiceLineItem(item))

    InvoiceItem.__init__ = init_item

    def finalize(id: str, auto_advance: str | None = None, **kwargs: JSON) -> JSON:
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs))
        invoice = Invoice._api_retrieve(id)
        if invoice.status != "draft":
            raise UserError(400, "This invoice is already finalized, you can't re-finalize a non-draft invoice.")
        invoice._finalize()
        return invoice

    finalize_original = Invoice._finalize

    def finalize_and_date(invoice: JSON) -> None:
        finalize_original(invoice)
        days = getattr(invoice, "days_until_due", None)
        if getattr(invoice, "collection_method", None) == "send_invoice" and days is not None:
            invoice.due_date = invoice.status_transitions["finalized_at"] + days * 86400

    Invoice._finalize = finalize_and_date

    def hosted_invoice_url(invoice: JSON) -> str | None:
        return None if invoice.status == "draft" else f"{hosted_base}/_compat/hosted_invoices/{invoice.id}"

    def invoice_pdf(invoice: JSON) -> str | None:
        return None if invoice.status == "draft" else f"{hosted_base}/_compat/hosted_invoices/{invoice.id}?pdf=1"

    Invoice.hosted_invoice_url = property(hosted_invoice_url)
    Invoice.invoice_pdf = property(invoice_pdf)
    url = "/v1/invoices/{id}/finalize"
    localstripe.server.app.router.add_route("POST", url, localstripe.server.api_extra(finalize, url))


def invoice_void(invoice_id: str) -> JSON:
    """Void an open invoice and send `invoice.voided`; localstripe's own void fails without a payment intent
    (every `send_invoice` invoice) and its route is bound before any patch, so the compat layer routes here."""
    resources = localstripe.resources
    invoice = resources.Invoice._api_retrieve(invoice_id)
    if invoice.payment_intent is not None or invoice.status != "open":
        invoice = resources.Invoice._api_void_invoice(invoice_id)
    else:
        invoice._draft = False
        invoice._voided = True
        invoice.status_transitions["voided_at"] = int(time.time())
        if invoice.subscription:
            resources.Subscription._api_retrieve(invoice.subscription)._on_initial_payment_voided(invoice)
    resources.schedule_webhook(resources.Event("invoice.voided", invoice))
    return invoice


def events_stripe_also_sends() -> None:
    """Events Stripe sends and localstripe does not: invoice.finalized/paid/voided, customer.subscription.updated
    (on an update call and when a payment changes the status) and charge.refunded."""
    resources = localstripe.resources

    def send(kind: str, obj: JSON) -> None:
        resources.schedule_webhook(resources.Event(kind, obj))

    def after(cls: type, name: str, kind: str, target: Callable[..., JSON] = lambda obj, *args: obj) -> None:
        original = getattr(cls, name)

        def wrapper(obj: JSON, *args: JSON, **kwargs: JSON) -> JSON:
            result = original(obj, *args, **kwargs)
            send(kind, target(obj, *args))
            return result

        setattr(cls, name, wrapper)

    Invoice, Subscription = resources.Invoice, resources.Subscription
    after(Invoice, "_finalize", "invoice.finalized")
    after(Invoice, "_on_payment_success", "invoice.paid")
    for name in ("_on_initial_payment_success", "_on_recurring_payment_failure", "_on_initial_payment_voided"):
        after(Subscription, name, "customer.subscription.updated")

    update = Subscription._api_update.__func__  # type: ignore[attr-defined]

    def update_and_tell(cls: type, id: str, **data: JSON) -> JSON:
        subscription = update(cls, id, **data)
        send("customer.subscription.updated", subscription)
        return subscription

    Subscription._api_update = classmethod(update_and_tell)
    refund_init = resources.Refund.__init__

    def refund_and_tell(refund: JSON, *args: JSON, **kwargs: JSON) -> None:
        refund_init(refund, *args, **kwargs)
        send("charge.refunded", resources.Charge._api_retrieve(refund.charge))

    resources.Refund.__init__ = refund_and_tell


async def serve(port: int, localstripe_port: int, state_dir: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    compat = CompatLayer(f"http://127.0.0.1:{localstripe_port}", WebhookRegistry(state_dir / "webhooks.json"))
    runners = [(web.AppRunner(localstripe.server.app), localstripe_port), (web.AppRunner(compat.app), port)]
    for runner, runner_port in runners:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", runner_port).start()
    print(f"localstripe on 127.0.0.1:{localstripe_port}, compatibility layer on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    for runner, _ in reversed(runners):
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--localstripe-port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    keep_state_in(args.state_dir)
    webhook_payloads_in_stripe_dialect()
    booleans_parsed_on_update()
    invoices_as_stripe_has_them(f"http://127.0.0.1:{args.port}")
    events_stripe_also_sends()
    localstripe.resources.store.try_load_from_disk()
    asyncio.run(serve(args.port, args.localstripe_port, args.state_dir))


if __name__ == "__main__":
    main()
