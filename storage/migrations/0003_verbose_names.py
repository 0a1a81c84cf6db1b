"""Translatable verbose names (gettext_lazy) declared on the models; no schema change."""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('storage', '0002_support_permissions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='storedfile',
            name='attached_id',
            field=models.CharField(blank=True, default='', max_length=64, verbose_name='attached id'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='attached_type',
            field=models.CharField(blank=True, default='', max_length=100, verbose_name='attached type'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='category',
            field=models.CharField(choices=[('image', 'Image'), ('video', 'Video'), ('document', 'Document')], max_length=16, verbose_name='category'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='content_type',
            field=models.CharField(max_length=127, verbose_name='content type'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='deleted_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='deleted at'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False, verbose_name='id'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='key',
            field=models.CharField(max_length=512, unique=True, verbose_name='key'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='original_name',
            field=models.CharField(max_length=255, verbose_name='original name'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='owner',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='stored_files', to=settings.AUTH_USER_MODEL, verbose_name='owner'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='protected',
            field=models.BooleanField(default=False, verbose_name='protected'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='sha256',
            field=models.CharField(blank=True, help_text='Hex digest; empty while an upload is pending.', max_length=64, verbose_name='sha256'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='size',
            field=models.PositiveBigIntegerField(help_text='Bytes.', verbose_name='size'),
        ),
        migrations.AlterField(
            model_name='storedfile',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending upload'), ('available', 'Available')], default='available', max_length=16, verbose_name='status'),
        ),
    ]
