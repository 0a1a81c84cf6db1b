"""Database guards: an issued invoice's money, buyer and number never change, and its lines are frozen.

The services already refuse these edits; the triggers make a raw UPDATE, a shell session or a future bug
fail too (IntegrityError). Written for PostgreSQL (updates and deletes; TRUNCATE, used by `flush`, is not
guarded) and SQLite (updates only, see below), the two databases the project runs on.
"""

from django.db import migrations

# Invoice.IMMUTABLE_AFTER_ISSUE as columns, frozen here as of this migration.
IMMUTABLE_COLUMNS = [
    "customer_id",
    "order_id",
    "number",
    "currency",
    "description",
    "subtotal",
    "tax",
    "total",
    "days_until_due",
    "issue_date",
    "due_date",
    "finalized_at",
    "language",
    "buyer_name",
    "buyer_email",
    "buyer_business_number",
    "buyer_address",
]

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION billing_invoice_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'billing: issued invoice % cannot be deleted', OLD.number USING ERRCODE = '23000';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.status = 'draft' OR %(changed)s) THEN
        RAISE EXCEPTION 'billing: issued invoice % cannot be changed; void it and issue a new one', OLD.number
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_invoice_guard BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_guard();

CREATE OR REPLACE FUNCTION billing_invoice_line_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND EXISTS (
        SELECT 1 FROM billing_invoice WHERE id = OLD.invoice_id AND status <> 'draft'
    ) THEN
        RAISE EXCEPTION 'billing: the lines of issued invoice % cannot change', OLD.invoice_id USING ERRCODE = '23000';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND EXISTS (
        SELECT 1 FROM billing_invoice WHERE id = NEW.invoice_id AND status <> 'draft'
    ) THEN
        RAISE EXCEPTION 'billing: the lines of issued invoice % cannot change', NEW.invoice_id USING ERRCODE = '23000';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_invoice_line_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_line_guard();
"""

POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS billing_invoice_line_guard ON billing_invoiceline;
DROP FUNCTION IF EXISTS billing_invoice_line_guard();
DROP TRIGGER IF EXISTS billing_invoice_guard ON billing_invoice;
DROP FUNCTION IF EXISTS billing_invoice_guard();
"""

# SQLite (local development only) guards updates and new lines but not deletes: Django's `flush` empties
# SQLite tables with DELETE (PostgreSQL uses TRUNCATE, which row triggers do not see), and the services and
# PROTECT foreign keys refuse deleting an issued invoice anyway.
SQLITE_FORWARD = [
    """
    CREATE TRIGGER billing_invoice_guard_update BEFORE UPDATE ON billing_invoice
    FOR EACH ROW WHEN OLD.status <> 'draft' AND (NEW.status = 'draft' OR %(changed)s)
    BEGIN SELECT RAISE(ABORT, 'billing: an issued invoice cannot be changed; void it and issue a new one'); END;
    """,
    """
    CREATE TRIGGER billing_invoice_line_guard_insert BEFORE INSERT ON billing_invoiceline
    FOR EACH ROW WHEN (SELECT status FROM billing_invoice WHERE id = NEW.invoice_id) <> 'draft'
    BEGIN SELECT RAISE(ABORT, 'billing: the lines of an issued invoice cannot change'); END;
    """,
    """
    CREATE TRIGGER billing_invoice_line_guard_update BEFORE UPDATE ON billing_invoiceline
    FOR EACH ROW WHEN (SELECT status FROM billing_invoice WHERE id = OLD.invoice_id) <> 'draft'
        OR (SELECT status FROM billing_invoice WHERE id = NEW.invoice_id) <> 'draft'
    BEGIN SELECT RAISE(ABORT, 'billing: the lines of an issued invoice cannot change'); END;
    """,
]

SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "billing_invoice_guard_update",
        "billing_invoice_line_guard_insert",
        "billing_invoice_line_guard_update",
    )
]


def _guards_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        changed = " OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in IMMUTABLE_COLUMNS)
        schema_editor.execute(POSTGRES_FORWARD.replace("%(changed)s", changed), params=None)
    elif vendor == "sqlite":
        changed = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in IMMUTABLE_COLUMNS)
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement.replace("%(changed)s", changed), params=None)
    else:
        raise RuntimeError(f"billing: no issued-invoice guards written for {vendor}")


def _guards_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(_guards_create, _guards_drop)]
