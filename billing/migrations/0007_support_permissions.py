"""What support may no longer see: stored Idempotency-Key responses, and the files customers uploaded.

- "support" loses billing.view_idempotencykey: a stored response may hold a PaymentIntent `client_secret`
  (the admin shows no response body to anyone either, see billing.admin.orders.IdempotencyKeyAdmin).
- Opening a customer's upload became its own permission (storage.open_upload, storage 0002); "billing staff"
  get it so they keep opening uploads, "support" do not (they still open invoice PDFs, with the view permission).

Running it again only does what is missing (the test helper runs it after a flush); docs/security.md has the
whole matrix.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPPORT_REVOKED = (("billing", "view_idempotencykey"),)
BILLING_STAFF_GRANTED = (("storage", "open_upload"),)


def _permissions(apps, schema_editor, wanted):
    for app_label in sorted({app_label for app_label, _ in wanted}):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # create_permissions skips apps without a models module
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codename in wanted:
        found.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
    return found


def _group(apps, name):
    return apps.get_model("auth", "Group").objects.filter(name=name).first()


def permissions_restrict(apps, schema_editor):
    support = _group(apps, "support")
    if support is not None:
        support.permissions.remove(*_permissions(apps, schema_editor, SUPPORT_REVOKED))
    billing_staff = _group(apps, "billing staff")
    if billing_staff is not None:
        billing_staff.permissions.add(*_permissions(apps, schema_editor, BILLING_STAFF_GRANTED))


def permissions_restore(apps, schema_editor):
    support = _group(apps, "support")
    if support is not None:
        support.permissions.add(*_permissions(apps, schema_editor, SUPPORT_REVOKED))
    billing_staff = _group(apps, "billing staff")
    if billing_staff is not None:
        billing_staff.permissions.remove(*_permissions(apps, schema_editor, BILLING_STAFF_GRANTED))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_customer_tax_treatment"),
        ("storage", "0002_support_permissions"),
    ]

    operations = [migrations.RunPython(permissions_restrict, permissions_restore)]
