"""localstripe's webhook registrations and the Stripe webhook endpoints built on them, kept across restarts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import localstripe.webhooks

from .dialect import JSON, CompatError, Pairs, random_token


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
