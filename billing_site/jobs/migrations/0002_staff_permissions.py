"""Who sees background jobs: "billing staff" view them and run failed ones again (jobs.retry_job); "support" view
them (a customer's missing PDF is usually a waiting job). Running it again only adds what is missing."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "billing staff": ("view_job", "retry_job"),
    "support": ("view_job",),
}


def _permissions(apps, schema_editor, codenames):
    app_config = apps.get_app_config("jobs")
    app_config.models_module = True  # create_permissions skips apps without a models module
    create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames))


def permissions_grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*_permissions(apps, schema_editor, codenames))


def permissions_revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, schema_editor, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("billing", "0007_support_permissions"),
    ]

    operations = [migrations.RunPython(permissions_grant, permissions_revoke)]
