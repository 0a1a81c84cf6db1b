"""Runs localstripe on 127.0.0.1 behind a layer that adds what dj-stripe 2.11 and the stripe library need from it.

This package runs as a script in .venv-localstripe (started by harness/stripe_server.py), not inside pytest:

    python harness/stripe_compat --port P --localstripe-port L --state-dir D

Modules: `dialect` (translation both ways), `webhooks` (registrations and endpoints), `app` (the aiohttp layer),
`patches` (what is patched inside localstripe), `server` (the process).

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
