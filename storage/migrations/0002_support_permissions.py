"""storage.open_upload: opening the bytes of a file a customer uploaded is its own permission, apart from seeing
the file's record (storage.view_storedfile). billing's migration 0007 gives it to the "billing staff" group."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("storage", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="storedfile",
            options={
                "ordering": ["-created_at"],
                "permissions": [("open_upload", "Can open files customers uploaded")],
                "verbose_name": "file",
                "verbose_name_plural": "files",
            },
        ),
    ]
