"""Who sees emails: "billing staff" view them and send one again (mail.resend_email); "support" view them (a
customer who says they got nothing is answered from the email list)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "billing staff": ("view_email", "resend_email"),
    "support": ("view_email",),
}


def _permissions(apps, schema_editor, codenames):
    app_config = apps.get_app_config("mail")
    app_config.models_module = True  # create_permissions skips apps without a models module
    create_permissions(app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="mail", codename__in=codenames))


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
        ("mail", "0001_initial"),
        ("billing", "0007_support_permissions"),
    ]

    operations = [migrations.RunPython(permissions_grant, permissions_revoke)]
