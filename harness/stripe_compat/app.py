"""The aiohttp application in front of localstripe: extra routes, Stripe's idempotency keys, answers translated."""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

import localstripe.errors
import localstripe.resources
from aiohttp import ClientSession, web

from .dialect import (
    EXPAND_KEY,
    JSON,
    CompatError,
    Pairs,
    drop_unexpandable,
    plan_fields_from_price,
    plan_update_from_price,
    price_from_plan,
    prices_as_plans,
    to_stripe_dialect,
)
from .patches import invoice_pay, invoice_void
from .webhooks import WebhookRegistry, form_list

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
        router.add_post("/v1/invoices/{id}/pay", self.invoice_pay)
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

    async def invoice_pay(self, request: web.Request) -> web.Response:
        pairs = await form_pairs(request)
        expand = [value for key, value in pairs if EXPAND_KEY.match(key)]
        method = next((value for key, value in pairs if key == "payment_method"), None)
        try:
            invoice = invoice_pay(request.match_info["id"], method)
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
