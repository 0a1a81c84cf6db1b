"""Response bodies of the usage reads (GET /api/usage, the `usage` of the entitlements) and the `customer` query
parameter an API key names the customer with. Quantities are integers in the metric's unit; money is integer minor
units of the plan's currency."""

from rest_framework import serializers

CUSTOMER_ID_PATTERN = r"^[0-9]{1,18}$"


class UsageMetricSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The metric's code, as events name it (e.g. api_calls).")
    name = serializers.CharField(help_text="In the request's language.")
    unit = serializers.CharField(help_text="In the request's language (건 / calls).")
    quantity = serializers.IntegerField(help_text="Used in the current period so far (Asia/Seoul days).")
    included = serializers.IntegerField(help_text="What the plan includes per period at no charge.")
    billable = serializers.IntegerField(help_text="quantity - included, at least 0.")
    projected_amount = serializers.IntegerField(
        allow_null=True,
        help_text=(
            "What the billable quantity costs if the period ended now (minor units, VAT excluded); null when it is "
            "more than one invoice can hold."
        ),
    )


class UsageSerializer(serializers.Serializer):
    period_start = serializers.DateField(allow_null=True, help_text="First day of the current period; null: none.")
    period_end = serializers.DateField(
        allow_null=True, help_text="The day after the current period (excluded), when it is billed; null: none."
    )
    currency = serializers.CharField(allow_null=True, help_text="The plan's currency; null without a subscription.")
    metrics = UsageMetricSerializer(many=True, help_text="One per metric the plan charges; empty without one.")


class UsageCustomerQuerySerializer(serializers.Serializer):
    customer = serializers.RegexField(
        CUSTOMER_ID_PATTERN,
        help_text="The customer's id; required with an API key (a customer's own token always reads its own).",
        error_messages={"invalid": "A customer id: 1 to 18 digits."},
        trim_whitespace=False,
    )
