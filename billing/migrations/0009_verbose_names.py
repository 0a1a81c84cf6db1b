"""Translatable verbose names (gettext_lazy) declared on the models; no schema change."""

import billing.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0008_webhook_headers_scrub'),
        ('storage', '0003_verbose_names'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='customer',
            options={'ordering': ['id'], 'verbose_name': 'customer', 'verbose_name_plural': 'customers'},
        ),
        migrations.AlterModelOptions(
            name='idempotencykey',
            options={'verbose_name': 'idempotency key', 'verbose_name_plural': 'idempotency keys'},
        ),
        migrations.AlterModelOptions(
            name='invoice',
            options={'ordering': ['-created_at', '-id'], 'verbose_name': 'invoice', 'verbose_name_plural': 'invoices'},
        ),
        migrations.AlterModelOptions(
            name='invoiceline',
            options={'ordering': ['invoice', 'position', 'id'], 'verbose_name': 'invoice line', 'verbose_name_plural': 'invoice lines'},
        ),
        migrations.AlterModelOptions(
            name='invoicenumbersequence',
            options={'ordering': ['-day'], 'verbose_name': 'invoice number sequence', 'verbose_name_plural': 'invoice number sequences'},
        ),
        migrations.AlterModelOptions(
            name='order',
            options={'ordering': ['-created_at', '-id'], 'verbose_name': 'order', 'verbose_name_plural': 'orders'},
        ),
        migrations.AlterModelOptions(
            name='orderitem',
            options={'ordering': ['order', 'position', 'id'], 'verbose_name': 'order item', 'verbose_name_plural': 'order items'},
        ),
        migrations.AlterModelOptions(
            name='payment',
            options={'ordering': ['-created_at', '-id'], 'verbose_name': 'payment', 'verbose_name_plural': 'payments'},
        ),
        migrations.AlterModelOptions(
            name='subscription',
            options={'ordering': ['-created_at', '-id'], 'verbose_name': 'subscription', 'verbose_name_plural': 'subscriptions'},
        ),
        migrations.AlterModelOptions(
            name='subscriptioninvoice',
            options={'ordering': ['subscription', 'period_start'], 'verbose_name': 'subscription invoice', 'verbose_name_plural': 'subscription invoices'},
        ),
        migrations.AlterModelOptions(
            name='subscriptionplan',
            options={'ordering': ['display_order', 'id'], 'verbose_name': 'subscription plan', 'verbose_name_plural': 'subscription plans'},
        ),
        migrations.AlterField(
            model_name='customer',
            name='address',
            field=models.CharField(blank=True, default='', max_length=500, verbose_name='address'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='business_registration_number',
            field=models.CharField(blank=True, default='', max_length=10, validators=[billing.validators.validate_business_registration_number], verbose_name='business registration number'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='credit_balance',
            field=models.BigIntegerField(default=0, help_text='Minor units of `currency`, used by next invoices.', verbose_name='credit balance'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='currency',
            field=models.CharField(default='KRW', help_text='Currency of the credit balance.', max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='display_name',
            field=models.CharField(max_length=200, verbose_name='display name'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='email',
            field=models.EmailField(blank=True, max_length=254, verbose_name='email'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='preferred_language',
            field=models.CharField(choices=[('ko', '한국어'), ('en', 'English')], default='ko', max_length=2, verbose_name='preferred language'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='tax_treatment',
            field=models.CharField(choices=[('taxable', 'Taxable (과세)'), ('zero_rated', 'Zero-rated (영세율)'), ('exempt', 'Exempt (면세)')], default='taxable', help_text="VAT treatment of this customer's invoices: taxable 10%, zero-rated (영세율) or exempt (면세).", max_length=16, verbose_name='tax treatment'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='customer',
            name='user',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='billing_customer', to=settings.AUTH_USER_MODEL, verbose_name='user'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='completed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='completed at'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='expires_at',
            field=models.DateTimeField(db_index=True, verbose_name='expires at'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='key',
            field=models.CharField(max_length=255, verbose_name='key'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='request_fingerprint',
            field=models.CharField(help_text='sha256 of method, path and canonical body.', max_length=64, verbose_name='request fingerprint'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='request_method',
            field=models.CharField(max_length=10, verbose_name='request method'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='request_path',
            field=models.CharField(max_length=500, verbose_name='request path'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='response_body',
            field=models.TextField(blank=True, default='', verbose_name='response body'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='response_status',
            field=models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='response status'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='state',
            field=models.CharField(choices=[('in_progress', 'In progress'), ('completed', 'Completed')], default='in_progress', max_length=16, verbose_name='state'),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='amount_paid',
            field=models.BigIntegerField(default=0, verbose_name='amount paid'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='amount_remaining',
            field=models.BigIntegerField(default=0, help_text='total - amount_paid.', verbose_name='amount remaining'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='buyer_address',
            field=models.CharField(blank=True, default='', max_length=500, verbose_name='buyer address'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='buyer_business_number',
            field=models.CharField(blank=True, default='', max_length=10, verbose_name='buyer business number'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='buyer_email',
            field=models.EmailField(blank=True, default='', max_length=254, verbose_name='buyer email'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='buyer_name',
            field=models.CharField(blank=True, default='', max_length=200, verbose_name='buyer name'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='currency',
            field=models.CharField(default='KRW', max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='billing.customer', verbose_name='customer'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='days_until_due',
            field=models.PositiveSmallIntegerField(default=30, verbose_name='days until due'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='description',
            field=models.CharField(blank=True, default='', max_length=500, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='due_date',
            field=models.DateField(blank=True, null=True, verbose_name='due date'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='finalized_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='finalized at'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='issue_date',
            field=models.DateField(blank=True, help_text='Asia/Seoul date of finalization.', null=True, verbose_name='issue date'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='language',
            field=models.CharField(choices=[('ko', '한국어'), ('en', 'English')], default='ko', max_length=2, verbose_name='language'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='marked_uncollectible_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='marked uncollectible at'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='number',
            field=models.CharField(blank=True, help_text='YYYYMMDD-NNNN; set at finalization.', max_length=20, null=True, unique=True, verbose_name='number'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='order',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='billing.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='paid_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='paid at'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='pdf_error',
            field=models.CharField(blank=True, default='', max_length=500, verbose_name='pdf error'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='pdf_file',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='storage.storedfile', verbose_name='pdf file'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='pdf_rendered_revision',
            field=models.PositiveIntegerField(default=0, verbose_name='pdf rendered revision'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='pdf_revision',
            field=models.PositiveIntegerField(default=0, verbose_name='pdf revision'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='pdf_status',
            field=models.CharField(choices=[('none', 'No PDF (draft)'), ('pending', 'Pending'), ('ready', 'Ready')], default='none', max_length=8, verbose_name='pdf status'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='status',
            field=models.CharField(choices=[('draft', 'Draft'), ('open', 'Open'), ('paid', 'Paid'), ('void', 'Void'), ('uncollectible', 'Uncollectible')], default='draft', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='stripe_hosted_invoice_url',
            field=models.URLField(blank=True, default='', max_length=1000, verbose_name='stripe hosted invoice url'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='stripe_invoice_id',
            field=models.CharField(blank=True, default='', max_length=255, verbose_name='stripe invoice id'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='subtotal',
            field=models.BigIntegerField(default=0, help_text='Supply amount (공급가액), minor units.', verbose_name='subtotal'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='tax',
            field=models.BigIntegerField(default=0, help_text='VAT (부가세), minor units.', verbose_name='tax'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='total',
            field=models.BigIntegerField(default=0, help_text='subtotal + tax (합계), minor units.', verbose_name='total'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='invoice',
            name='voided_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='voided at'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='amount',
            field=models.BigIntegerField(help_text='quantity x unit_amount.', verbose_name='amount'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='description',
            field=models.CharField(max_length=500, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='invoice',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='billing.invoice', verbose_name='invoice'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='period_end',
            field=models.DateField(blank=True, null=True, verbose_name='period end'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='period_start',
            field=models.DateField(blank=True, null=True, verbose_name='period start'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='position',
            field=models.PositiveSmallIntegerField(default=0, verbose_name='position'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='quantity',
            field=models.PositiveIntegerField(default=1, verbose_name='quantity'),
        ),
        migrations.AlterField(
            model_name='invoiceline',
            name='unit_amount',
            field=models.BigIntegerField(help_text="Minor units of the invoice's currency.", verbose_name='unit amount'),
        ),
        migrations.AlterField(
            model_name='invoicenumbersequence',
            name='day',
            field=models.DateField(primary_key=True, serialize=False, verbose_name='day'),
        ),
        migrations.AlterField(
            model_name='invoicenumbersequence',
            name='last_number',
            field=models.PositiveIntegerField(default=0, verbose_name='last number'),
        ),
        migrations.AlterField(
            model_name='order',
            name='canceled_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='canceled at'),
        ),
        migrations.AlterField(
            model_name='order',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='order',
            name='currency',
            field=models.CharField(default='KRW', max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='order',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='billing.customer', verbose_name='customer'),
        ),
        migrations.AlterField(
            model_name='order',
            name='description',
            field=models.CharField(blank=True, default='', max_length=500, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='order',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('invoiced', 'Invoiced'), ('paid', 'Paid'), ('canceled', 'Canceled')], default='pending', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='order',
            name='subtotal',
            field=models.BigIntegerField(help_text='Supply amount (공급가액), minor units.', verbose_name='subtotal'),
        ),
        migrations.AlterField(
            model_name='order',
            name='tax',
            field=models.BigIntegerField(help_text='VAT (부가세), minor units.', verbose_name='tax'),
        ),
        migrations.AlterField(
            model_name='order',
            name='total',
            field=models.BigIntegerField(help_text='subtotal + tax (합계), minor units.', verbose_name='total'),
        ),
        migrations.AlterField(
            model_name='order',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='orderitem',
            name='amount',
            field=models.BigIntegerField(help_text='quantity x unit_amount.', verbose_name='amount'),
        ),
        migrations.AlterField(
            model_name='orderitem',
            name='description',
            field=models.CharField(max_length=500, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='orderitem',
            name='order',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='billing.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='orderitem',
            name='position',
            field=models.PositiveSmallIntegerField(default=0, verbose_name='position'),
        ),
        migrations.AlterField(
            model_name='orderitem',
            name='quantity',
            field=models.PositiveIntegerField(default=1, verbose_name='quantity'),
        ),
        migrations.AlterField(
            model_name='orderitem',
            name='unit_amount',
            field=models.BigIntegerField(help_text="Minor units of the order's currency.", verbose_name='unit amount'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='amount',
            field=models.BigIntegerField(verbose_name='amount'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='currency',
            field=models.CharField(default='KRW', max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='billing.customer', verbose_name='customer'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='failed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='failed at'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='failure_reason',
            field=models.CharField(blank=True, default='', max_length=500, verbose_name='failure reason'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='invoice',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='billing.invoice', verbose_name='invoice'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='method',
            field=models.CharField(choices=[('card', 'Card'), ('bank_transfer', 'Bank transfer'), ('other', 'Other')], max_length=16, verbose_name='method'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='note',
            field=models.CharField(blank=True, default='', max_length=500, verbose_name='note'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='provider_reference',
            field=models.CharField(blank=True, default='', max_length=255, verbose_name='provider reference'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='received_at',
            field=models.DateTimeField(blank=True, help_text='When the money arrived, if known.', null=True, verbose_name='received at'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='recorded_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='recorded by'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='refunded_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='refunded at'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('refunded', 'Refunded')], default='pending', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='succeeded_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='succeeded at'),
        ),
        migrations.AlterField(
            model_name='payment',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='stripewebhookevent',
            name='received_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='received at'),
        ),
        migrations.AlterField(
            model_name='stripewebhookevent',
            name='status',
            field=models.CharField(choices=[('received', 'Received, not processed yet'), ('processed', 'Processed'), ('failed', 'Failed')], default='received', max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='stripewebhookevent',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='billing_cycle_anchor',
            field=models.DateField(help_text='Every period boundary is this day plus whole periods.', verbose_name='billing cycle anchor'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='billing_period',
            field=models.CharField(choices=[('monthly', '월간 (monthly)'), ('annual', '연간 (annual)')], max_length=8, verbose_name='billing period'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='cancel_at_period_end',
            field=models.BooleanField(default=False, verbose_name='cancel at period end'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='canceled_at',
            field=models.DateTimeField(blank=True, help_text='When the cancellation was asked for.', null=True, verbose_name='canceled at'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='cancellation_reason',
            field=models.CharField(blank=True, choices=[('', '—'), ('requested', 'Canceled by the customer or staff'), ('replaced', 'Replaced by another plan'), ('incomplete_expired', 'First invoice not paid in time')], default='', max_length=20, verbose_name='cancellation reason'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='currency',
            field=models.CharField(default='KRW', max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='current_period_end',
            field=models.DateField(help_text='Excluded from the period: the next billing date.', verbose_name='current period end'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='current_period_start',
            field=models.DateField(verbose_name='current period start'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='subscriptions', to='billing.customer', verbose_name='customer'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='ended_at',
            field=models.DateTimeField(blank=True, help_text='When the service stopped.', null=True, verbose_name='ended at'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='plan',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='subscriptions', to='billing.subscriptionplan', verbose_name='plan'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='price_amount',
            field=models.BigIntegerField(help_text='Supply amount of one period, minor units of `currency`.', verbose_name='price amount'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='replaces',
            field=models.OneToOneField(blank=True, help_text='The subscription this one replaced (plan change).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='replaced_by', to='billing.subscription', verbose_name='replaces'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='status',
            field=models.CharField(choices=[('incomplete', 'Incomplete'), ('active', 'Active'), ('past_due', 'Past due'), ('canceled', 'Canceled')], max_length=16, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='stripe_subscription_id',
            field=models.CharField(blank=True, default='', max_length=255, verbose_name='stripe subscription id'),
        ),
        migrations.AlterField(
            model_name='subscription',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
        migrations.AlterField(
            model_name='subscriptioninvoice',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='subscriptioninvoice',
            name='invoice',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='subscription_link', to='billing.invoice', verbose_name='invoice'),
        ),
        migrations.AlterField(
            model_name='subscriptioninvoice',
            name='period_end',
            field=models.DateField(help_text='Excluded from the period, like Subscription.current_period_end.', verbose_name='period end'),
        ),
        migrations.AlterField(
            model_name='subscriptioninvoice',
            name='period_start',
            field=models.DateField(verbose_name='period start'),
        ),
        migrations.AlterField(
            model_name='subscriptioninvoice',
            name='reason',
            field=models.CharField(choices=[('subscription_create', 'First period'), ('subscription_cycle', 'Renewal')], max_length=24, verbose_name='reason'),
        ),
        migrations.AlterField(
            model_name='subscriptioninvoice',
            name='subscription',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='period_invoices', to='billing.subscription', verbose_name='subscription'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='annual_price',
            field=models.BigIntegerField(help_text='Per year, VAT excluded, minor units of `currency`.', verbose_name='annual price'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='created_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created at'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='currency',
            field=models.CharField(default='KRW', max_length=3, verbose_name='currency'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='display_order',
            field=models.PositiveIntegerField(default=0, verbose_name='display order'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='features',
            field=models.JSONField(blank=True, default=list, help_text='Korean feature lines, in display order.', verbose_name='features'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='features_en',
            field=models.JSONField(blank=True, default=list, help_text='English feature lines, in display order.', verbose_name='features en'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='is_active',
            field=models.BooleanField(default=True, help_text='Offered to new subscribers.', verbose_name='is active'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='max_projects',
            field=models.PositiveIntegerField(blank=True, help_text='Empty: unlimited.', null=True, verbose_name='max projects'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='monthly_price',
            field=models.BigIntegerField(help_text='Per month, VAT excluded, minor units of `currency`.', verbose_name='monthly price'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='name',
            field=models.CharField(help_text='Korean name, e.g. 프로.', max_length=100, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='name_en',
            field=models.CharField(blank=True, default='', max_length=100, verbose_name='name en'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='slug',
            field=models.SlugField(unique=True, verbose_name='slug'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='stripe_annual_price_id',
            field=models.CharField(blank=True, default='', max_length=255, verbose_name='stripe annual price id'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='stripe_monthly_price_id',
            field=models.CharField(blank=True, default='', max_length=255, verbose_name='stripe monthly price id'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='stripe_product_id',
            field=models.CharField(blank=True, default='', max_length=255, verbose_name='stripe product id'),
        ),
        migrations.AlterField(
            model_name='subscriptionplan',
            name='updated_at',
            field=models.DateTimeField(auto_now=True, verbose_name='updated at'),
        ),
    ]
