"""The staff groups of the back-office: "billing staff" (everything) and "support" (read-only plus PDF links).

Permissions are created by Django after migrations run (post_migrate); on a fresh database they do not exist
yet when this migration runs, so it creates the missing ones first. Running it again only adds what is missing.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

BILLING_MODELS = (
    "customer",
    "idempotencykey",
    "invoice",
    "invoiceline",
    "invoicenumbersequence",
    "order",
    "orderitem",
    "payment",
    "subscriptionplan",
    "subscription",
    "subscriptioninvoice",
)

# (app label, model) -> actions, per group. Support reads everything and opens PDFs (a view permission).
GROUPS = {
    "billing staff": {
        **{("billing", model): ("view", "add", "change", "delete") for model in BILLING_MODELS},
        ("storage", "storedfile"): ("view", "delete"),
        ("auditlog", "logentry"): ("view",),
    },
    "support": {
        **{("billing", model): ("view",) for model in BILLING_MODELS},
        ("storage", "storedfile"): ("view",),
        ("auditlog", "logentry"): ("view",),
    },
}


def groups_create(apps, schema_editor):
    for app_label in ("billing", "storage", "auditlog"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # create_permissions skips apps without a models module
        create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [f"{action}_{model}" for (app_label, model), actions in grants.items() for action in actions]
        permissions = Permission.objects.filter(
            codename__in=wanted, content_type__app_label__in=["billing", "storage", "auditlog"]
        )
        group.permissions.add(*permissions)


def groups_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_plans_subscriptions"),
        ("storage", "0001_initial"),
        ("auditlog", "0017_add_actor_email"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(groups_create, groups_delete)]
