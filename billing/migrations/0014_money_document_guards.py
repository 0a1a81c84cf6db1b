"""Database guards of the money documents, the ledger's opening entries, and the staff groups' new permissions.

- An issued credit note never changes but for its PDF, and is never deleted; its lines never change.
- A balance entry is never changed or deleted; `billing_customer.credit_balance` must equal the sum of the
  customer's entries in the customer's currency at every commit (a deferred constraint trigger, PostgreSQL only:
  SQLite, local development, has no deferred triggers and checks nothing here).
- Every existing credit balance becomes an `opening` entry, so the ledger sums to it from the start.
- "billing staff" may view, add and change credit notes, refunds, balance entries and coupons; "support" views.

Written for PostgreSQL and SQLite like 0002. Running the permission grant again only adds what is missing.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Everything of a credit note but its PDF (and the row's updated_at).
CREDIT_NOTE_FROZEN_COLUMNS = [
    "invoice_id",
    "customer_id",
    "number",
    "currency",
    "reason",
    "memo",
    "language",
    "subtotal",
    "tax",
    "total",
    "pre_payment_amount",
    "refund_amount",
    "balance_amount",
    "issue_date",
    "issued_at",
    "created_by_id",
    "created_at",
]

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION billing_credit_note_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'billing: credit note % cannot be deleted', OLD.number USING ERRCODE = '23000';
    END IF;
    IF %(changed)s THEN
        RAISE EXCEPTION 'billing: credit note % cannot be changed; issue another one', OLD.number
            USING ERRCODE = '23000';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_credit_note_guard BEFORE UPDATE OR DELETE ON billing_creditnote
    FOR EACH ROW EXECUTE FUNCTION billing_credit_note_guard();

CREATE OR REPLACE FUNCTION billing_frozen_row_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'billing: rows of % are never changed or deleted', TG_TABLE_NAME USING ERRCODE = '23000';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_credit_note_line_guard BEFORE UPDATE OR DELETE ON billing_creditnoteline
    FOR EACH ROW EXECUTE FUNCTION billing_frozen_row_guard();
CREATE TRIGGER billing_balance_entry_guard BEFORE UPDATE OR DELETE ON billing_customerbalanceentry
    FOR EACH ROW EXECUTE FUNCTION billing_frozen_row_guard();

CREATE OR REPLACE FUNCTION billing_balance_check() RETURNS trigger AS $$
DECLARE
    checked_id bigint;
    balance bigint;
    balance_currency varchar;
    ledger bigint;
BEGIN
    IF TG_TABLE_NAME = 'billing_customer' THEN
        checked_id := NEW.id;
    ELSE
        checked_id := NEW.customer_id;
    END IF;
    SELECT credit_balance, currency INTO balance, balance_currency FROM billing_customer WHERE id = checked_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(SUM(amount), 0) INTO ledger FROM billing_customerbalanceentry
        WHERE customer_id = checked_id AND currency = balance_currency;
    IF ledger <> balance THEN
        RAISE EXCEPTION 'billing: the credit balance of customer % is % % but its ledger sums to %',
            checked_id, balance, balance_currency, ledger USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER billing_balance_matches_ledger AFTER INSERT ON billing_customerbalanceentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_balance_check();
CREATE CONSTRAINT TRIGGER billing_ledger_matches_balance AFTER INSERT OR UPDATE OF credit_balance, currency
    ON billing_customer DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION billing_balance_check();
"""

POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS billing_ledger_matches_balance ON billing_customer;
DROP TRIGGER IF EXISTS billing_balance_matches_ledger ON billing_customerbalanceentry;
DROP FUNCTION IF EXISTS billing_balance_check();
DROP TRIGGER IF EXISTS billing_balance_entry_guard ON billing_customerbalanceentry;
DROP TRIGGER IF EXISTS billing_credit_note_line_guard ON billing_creditnoteline;
DROP FUNCTION IF EXISTS billing_frozen_row_guard();
DROP TRIGGER IF EXISTS billing_credit_note_guard ON billing_creditnote;
DROP FUNCTION IF EXISTS billing_credit_note_guard();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER billing_credit_note_guard_update BEFORE UPDATE ON billing_creditnote
    FOR EACH ROW WHEN %(changed)s
    BEGIN SELECT RAISE(ABORT, 'billing: a credit note cannot be changed; issue another one'); END;
    """,
    """
    CREATE TRIGGER billing_credit_note_line_guard_update BEFORE UPDATE ON billing_creditnoteline
    BEGIN SELECT RAISE(ABORT, 'billing: the lines of a credit note never change'); END;
    """,
    """
    CREATE TRIGGER billing_balance_entry_guard_update BEFORE UPDATE ON billing_customerbalanceentry
    BEGIN SELECT RAISE(ABORT, 'billing: a balance entry never changes'); END;
    """,
]

SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "billing_credit_note_guard_update",
        "billing_credit_note_line_guard_update",
        "billing_balance_entry_guard_update",
    )
]


def guards_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        changed = " OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in CREDIT_NOTE_FROZEN_COLUMNS)
        schema_editor.execute(POSTGRES_FORWARD.replace("%(changed)s", changed), params=None)
    elif vendor == "sqlite":
        changed = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in CREDIT_NOTE_FROZEN_COLUMNS)
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement.replace("%(changed)s", changed), params=None)
    else:
        raise RuntimeError(f"billing: no money document guards written for {vendor}")


def guards_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement, params=None)


def opening_entries_create(apps, schema_editor):
    Customer = apps.get_model("billing", "Customer")
    Entry = apps.get_model("billing", "CustomerBalanceEntry")
    Entry.objects.bulk_create(
        Entry(
            customer_id=customer.pk,
            currency=customer.currency,
            amount=customer.credit_balance,
            balance_after=customer.credit_balance,
            kind="opening",
            reason="Balance before the ledger (migration 0014).",
        )
        for customer in Customer.objects.exclude(credit_balance=0).only("pk", "currency", "credit_balance")
    )


def opening_entries_delete(apps, schema_editor):
    pass  # the entries go with their table when 0013 is reversed


ADDED_MODELS = ("creditnote", "refund", "customerbalanceentry", "coupon", "promotioncode", "couponredemption")
READ_ONLY_MODELS = ("creditnoteline", "creditnotenumbersequence")
GRANTS = {
    "billing staff": [
        *(f"{action}_{model}" for model in ADDED_MODELS for action in ("view", "add", "change")),
        *(f"view_{model}" for model in READ_ONLY_MODELS),
    ],
    "support": [f"view_{model}" for model in (*ADDED_MODELS, *READ_ONLY_MODELS)],
}


def permissions_grant(apps, schema_editor):
    app_config = apps.get_app_config("billing")
    app_config.models_module = True  # create_permissions skips apps without a models module
    create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(content_type__app_label="billing", codename__in=codenames))


def permissions_revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label="billing", codename__in=codenames)
            )


class Migration(migrations.Migration):
    dependencies = [("billing", "0013_money_documents")]

    operations = [
        migrations.RunPython(opening_entries_create, opening_entries_delete),
        migrations.RunPython(guards_create, guards_drop),
        migrations.RunPython(permissions_grant, permissions_revoke),
    ]
