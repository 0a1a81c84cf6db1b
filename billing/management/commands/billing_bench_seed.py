"""manage.py billing_bench_seed: fill a PostgreSQL database with invoice, payment, credit note and refund rows for
the benchmarks.

For bench/billing_history.py only, never for tests or production data: rows are written with set-based SQL
(generate_series), all KRW, numbered BENCH-<n> (credit notes BENCH-CN-<invoice id>) so they can never collide with
real numbers. One paid invoice in ten gets a credit note of a tenth of its total, refunded by bank transfer.
"""

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from tqdm import tqdm

from billing.models import CreditNote, Customer, Invoice, Payment, Refund

USER_PREFIX = "bench-customer-"
BATCH = 100_000

INVOICE_INSERT = """
INSERT INTO billing_invoice (
    customer_id, order_id, number, status, currency, description, subtotal, tax, total, amount_paid,
    amount_remaining, amount_credited, amount_refunded, days_until_due, issue_date, due_date, finalized_at, paid_at,
    voided_at,
    marked_uncollectible_at, language, buyer_name, buyer_email, buyer_business_number, buyer_address,
    pdf_file_id, pdf_status, pdf_revision, pdf_rendered_revision, pdf_error, stripe_invoice_id,
    stripe_hosted_invoice_url, created_at, updated_at, tax_treatment, vat_rate_basis_points, tax_basis
)
SELECT
    customers.ids[1 + (g %% customers.n)], NULL, 'BENCH-' || g,
    CASE WHEN g %% 3 = 0 THEN 'open' ELSE 'paid' END, 'KRW', '', amount, amount / 10, amount + amount / 10,
    CASE WHEN g %% 3 = 0 THEN 0 ELSE amount + amount / 10 END,
    CASE WHEN g %% 3 = 0 THEN amount + amount / 10 ELSE 0 END,
    CASE WHEN g %% 3 <> 0 AND g %% 10 = 1 THEN (amount + amount / 10) / 10 ELSE 0 END,
    CASE WHEN g %% 3 <> 0 AND g %% 10 = 1 THEN (amount + amount / 10) / 10 ELSE 0 END,
    30, moment::date, moment::date + 30, moment,
    CASE WHEN g %% 3 = 0 THEN NULL ELSE moment + interval '2 days' END, NULL, NULL,
    'ko', 'bench', '', '', '', NULL, 'ready', 1, 1, '', '', '', moment, moment, 'taxable', 1000, ''
FROM (
    SELECT g, (1000 + (g * 7919) %% 990000) AS amount,
           now() - ((g * 104729) %% (730 * 86400)) * interval '1 second' AS moment
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g
) AS rows,
(SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM billing_customer WHERE email LIKE 'bench-%%') AS customers
"""

PAYMENT_INSERT = """
INSERT INTO billing_payment (
    invoice_id, customer_id, amount, currency, method, status, provider_reference, note, recorded_by_id,
    received_at, created_at, updated_at, succeeded_at, failed_at, refunded_at, failure_reason, amount_refunded
)
SELECT id, customer_id, total, 'KRW', 'bank_transfer', 'succeeded', '', '', NULL,
       paid_at, paid_at, paid_at, paid_at, NULL, NULL, '', amount_refunded
FROM billing_invoice
WHERE number LIKE 'BENCH-%%' AND status = 'paid' AND id BETWEEN %(low)s AND %(high)s
"""

# VAT credited in proportion: floor(tax x credited / total), as billing.services.credit_notes computes it.
CREDIT_NOTE_INSERT = """
INSERT INTO billing_creditnote (
    invoice_id, customer_id, number, currency, reason, memo, language, subtotal, tax, total, pre_payment_amount,
    refund_amount, balance_amount, issue_date, issued_at, created_by_id, pdf_file_id, pdf_status, pdf_revision,
    pdf_rendered_revision, pdf_error, created_at, updated_at
)
SELECT id, customer_id, 'BENCH-CN-' || id, 'KRW', 'goodwill', '', 'ko',
       amount_credited - tax * amount_credited / total, tax * amount_credited / total, amount_credited, 0,
       amount_credited, 0, (paid_at + interval '5 days')::date, paid_at + interval '5 days', NULL, NULL, 'ready', 1,
       1, '', paid_at + interval '5 days', paid_at + interval '5 days'
FROM billing_invoice
WHERE number LIKE 'BENCH-%%' AND amount_credited > 0 AND id BETWEEN %(low)s AND %(high)s
"""

REFUND_INSERT = """
INSERT INTO billing_refund (
    credit_note_id, invoice_id, customer_id, payment_id, amount, currency, method, status, provider_reference,
    replaces_id, note, failure_reason, created_by_id, created_at, updated_at, succeeded_at, failed_at
)
SELECT note.id, note.invoice_id, note.customer_id, payment.id, note.total, 'KRW', 'bank_transfer', 'succeeded',
       'BENCH-RF-' || note.id, NULL, '', '', NULL, note.issued_at, note.issued_at, note.issued_at, NULL
FROM billing_creditnote note JOIN billing_payment payment ON payment.invoice_id = note.invoice_id
WHERE note.number LIKE 'BENCH-CN-%%'
"""


class Command(BaseCommand):
    help = (
        "Seed ~N invoice+payment rows (2/3 of invoices paid, one payment each; a credit note and its refund for one "
        "paid invoice in ten) for the history benchmark."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000, help="Invoices + payments to reach (default 1M).")
        parser.add_argument("--customers", type=int, default=2_000, help="Customers the rows are spread over.")
        parser.add_argument("--reset", action="store_true", help="Delete earlier bench rows first.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("The bench seed writes with PostgreSQL SQL; point DATABASE_URL at PostgreSQL.")
        started = time.monotonic()
        if options["reset"]:
            self._reset()
        existing = (
            Invoice.objects.filter(number__startswith="BENCH-").count()
            + Payment.objects.filter(invoice__number__startswith="BENCH-").count()
        )
        if existing >= options["rows"]:
            self.stdout.write(f"{existing} bench rows already present; nothing to do (--reset to start again).")
            return
        if existing:
            raise CommandError(f"{existing} bench rows present but fewer than {options['rows']}: run with --reset.")
        self._customers(options["customers"])
        invoices = options["rows"] * 3 // 5  # with 2/3 of them paid once, invoices + payments = rows
        progress = tqdm(
            total=invoices, desc="bench invoices", unit="row", disable=options["no_progress"], file=self.stderr
        )
        with connection.cursor() as cursor:
            for start in range(1, invoices + 1, BATCH):
                stop = min(start + BATCH - 1, invoices)
                with transaction.atomic():
                    cursor.execute(INVOICE_INSERT, {"start": start, "stop": stop})
                progress.update(stop - start + 1)
            progress.close()
            cursor.execute("SELECT min(id), max(id) FROM billing_invoice WHERE number LIKE 'BENCH-%%'")
            low, high = cursor.fetchone()
            with transaction.atomic():
                cursor.execute(PAYMENT_INSERT, {"low": low, "high": high})
                cursor.execute(CREDIT_NOTE_INSERT, {"low": low, "high": high})
                cursor.execute(REFUND_INSERT)
            for table in ("invoice", "payment", "creditnote", "refund", "customer"):
                cursor.execute(f"ANALYZE billing_{table}")
        total = (
            Invoice.objects.filter(number__startswith="BENCH-").count()
            + Payment.objects.filter(invoice__number__startswith="BENCH-").count()
        )
        notes = CreditNote.objects.filter(number__startswith="BENCH-CN-").count()
        refunds = Refund.objects.filter(credit_note__number__startswith="BENCH-CN-").count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {total} invoice+payment rows, {notes} credit notes and {refunds} refunds "
                f"in {time.monotonic() - started:.0f} s."
            )
        )

    def _customers(self, count: int) -> None:
        user_model = get_user_model()
        unusable = make_password(None)  # bench customers cannot log in with a password
        users = [
            user_model(username=f"{USER_PREFIX}{index}", email=f"bench-{index}@example.com", password=unusable)
            for index in range(count)
        ]
        user_model.objects.bulk_create(users, ignore_conflicts=True)
        users = list(user_model.objects.filter(username__startswith=USER_PREFIX))
        Customer.objects.bulk_create(
            [Customer(user=user, display_name=user.username, email=user.email) for user in users],
            ignore_conflicts=True,
        )

    def _reset(self) -> None:
        # The issued-invoice guard refuses deletes of issued invoices; bench rows are the one exception. The
        # trigger is disabled inside this transaction only (ALTER TABLE holds an exclusive lock until commit,
        # so no other session ever sees it off); constraints are made immediate so no FK check is pending.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("DELETE FROM billing_refund WHERE provider_reference LIKE 'BENCH-RF-%%'")
            cursor.execute("ALTER TABLE billing_creditnote DISABLE TRIGGER billing_credit_note_guard")
            cursor.execute("DELETE FROM billing_creditnote WHERE number LIKE 'BENCH-CN-%%'")
            cursor.execute("ALTER TABLE billing_creditnote ENABLE TRIGGER billing_credit_note_guard")
            cursor.execute(
                "DELETE FROM billing_payment WHERE invoice_id IN "
                "(SELECT id FROM billing_invoice WHERE number LIKE 'BENCH-%%')"
            )
            cursor.execute("ALTER TABLE billing_invoice DISABLE TRIGGER billing_invoice_guard")
            cursor.execute("DELETE FROM billing_invoice WHERE number LIKE 'BENCH-%%'")
            cursor.execute("ALTER TABLE billing_invoice ENABLE TRIGGER billing_invoice_guard")
