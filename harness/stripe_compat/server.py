"""The process: localstripe and the compatibility layer on two ports, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

import localstripe.resources
import localstripe.server
from aiohttp import web

from . import __doc__ as package_doc
from .app import CompatLayer
from .patches import (
    booleans_parsed_on_update,
    events_stripe_also_sends,
    invoice_attempts_counted,
    invoices_as_stripe_has_them,
    keep_state_in,
    subscription_updates_as_stripe_has_them,
    webhook_payloads_in_stripe_dialect,
)
from .webhooks import WebhookRegistry


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
    parser = argparse.ArgumentParser(description=str(package_doc).splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--localstripe-port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    keep_state_in(args.state_dir)
    webhook_payloads_in_stripe_dialect()
    booleans_parsed_on_update()
    invoices_as_stripe_has_them(f"http://127.0.0.1:{args.port}")
    events_stripe_also_sends()
    invoice_attempts_counted()
    subscription_updates_as_stripe_has_them()
    localstripe.resources.store.try_load_from_disk()
    asyncio.run(serve(args.port, args.localstripe_port, args.state_dir))
