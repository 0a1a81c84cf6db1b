"""Owns the local Stripe: a localstripe process with harness/stripe_compat/ in front of it."""

from __future__ import annotations

import urllib.parse
import urllib.request

from harness.process import REPO_ROOT, ServerProcess, ServiceStartError, free_port

LOCALSTRIPE_PYTHON = REPO_ROOT / ".venv-localstripe" / "bin" / "python"
COMPAT_SCRIPT = REPO_ROOT / "harness" / "stripe_compat"  # a package run as a script (its __main__.py)
# dj-stripe checks the format (^sk_test_[a-zA-Z0-9]{24,}$); localstripe accepts any sk_ key.
SECRET_KEY = "sk_test_HarnessLocalStripe0123456789"  # noqa: S105 (a fake server's key)
PUBLISHABLE_KEY = "pk_test_HarnessLocalStripe0123456789"


class StripeServer(ServerProcess):
    """`url` is the compatibility layer (the stripe library's api_base); `localstripe_url` is localstripe itself."""

    name = "stripe"
    secret_key = SECRET_KEY
    publishable_key = PUBLISHABLE_KEY

    def __init__(self) -> None:
        super().__init__()
        self.localstripe_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def localstripe_url(self) -> str:
        return f"http://127.0.0.1:{self.localstripe_port}"

    def _prepare(self) -> None:
        if not LOCALSTRIPE_PYTHON.exists():
            raise ServiceStartError(f"stripe: {LOCALSTRIPE_PYTHON} is missing; run harness/install.sh")

    def _command(self) -> list[str]:
        return [
            str(LOCALSTRIPE_PYTHON),
            "-I",
            str(COMPAT_SCRIPT),
            f"--port={self.port}",
            f"--localstripe-port={self.localstripe_port}",
            f"--state-dir={self.tmp_dir}",
        ]

    def _is_ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/_compat/health", timeout=2) as response:  # noqa: S310 (http to loopback)
            return bool(response.status == 200)

    def register_webhook(
        self, url: str, secret: str, events: list[str] | None = None, webhook_id: str = "harness"
    ) -> None:
        """Have localstripe POST signed events (all, or only `events`) to `url`; the same id replaces a registration.

        Events go out about a second after the change that caused them, all at once, so in no set order.
        Registrations survive `stop()`/`start()`. dj-stripe's own way, `stripe.WebhookEndpoint.create`, works too.
        """
        fields = [("url", url), ("secret", secret)]
        fields += [(f"events[{index}]", event) for index, event in enumerate(events or ())]
        self._request(
            "POST", f"/_config/webhooks/{urllib.parse.quote(webhook_id)}", urllib.parse.urlencode(fields).encode()
        )

    def unregister_webhook(self, webhook_id: str = "harness") -> None:
        self._request("DELETE", f"/_config/webhooks/{urllib.parse.quote(webhook_id)}")

    def reset(self) -> None:
        """Forget every Stripe object (customers, prices, subscriptions...); webhook registrations stay."""
        self._request("DELETE", "/_config/data")

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method)  # noqa: S310
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return bytes(response.read())
