"""The request and response bodies of POST /api/usage/events, for the OpenAPI schema only: the events themselves
are checked by billing.services.usage_ingest (a serializer per event would cost more than the database work)."""

from rest_framework import serializers

from billing.models.usage import MAX_EVENT_ID_LENGTH, MAX_USAGE_VALUE
from billing.services.usage_ingest import MAX_BATCH_EVENTS


class UsageEventSerializer(serializers.Serializer):
    event_id = serializers.CharField(
        max_length=MAX_EVENT_ID_LENGTH,
        help_text=(
            "Your id of the event, unique per customer: sending it again is acknowledged as a duplicate and never "
            "counted twice. Printable characters, no control characters."
        ),
    )
    metric = serializers.CharField(help_text="The code of an active metric, e.g. api_calls.")
    value = serializers.IntegerField(
        min_value=0,
        max_value=MAX_USAGE_VALUE,
        help_text='A JSON integer (not 1.0, not "1"): 1 per call for a counted metric, the amount otherwise.',
    )
    timestamp = serializers.DateTimeField(
        help_text=(
            "When it happened: ISO 8601 with a time zone (2026-01-31T12:00:00+09:00 or ...Z), at most 5 minutes "
            "ahead of our clock, not in a period already invoiced."
        )
    )
    customer = serializers.IntegerField(
        required=False,
        help_text="The customer's id: required with an API key; with a customer's token it may only be their own.",
    )


class UsageEventBatchSerializer(serializers.Serializer):
    # Items are free JSON in the schema: a malformed event is refused on its own in the answer (`rejected`, code
    # `invalid_event` and the rest), with a 200 for the batch, never a 400 that would drop its valid neighbours.
    # UsageEventSerializer above documents, in code, what a valid event is.
    events = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=MAX_BATCH_EVENTS,
        help_text=(
            f"1 to {MAX_BATCH_EVENTS} events, each an object with event_id, metric, value, timestamp and (with an "
            "API key) customer (docs/api/usage.md); an event that is not is rejected alone, in the answer."
        ),
    )


class UsageRejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the batch, from 0.")
    event_id = serializers.CharField(allow_null=True, help_text="The event's id; null when it had no valid one.")
    code = serializers.ChoiceField(
        choices=[
            "invalid_event",
            "invalid_event_id",
            "unknown_metric",
            "invalid_value",
            "invalid_timestamp",
            "timestamp_in_future",
            "period_closed",
            "customer_required",
            "invalid_customer",
            "unknown_customer",
            "customer_mismatch",
        ],
        help_text="Why the event was refused (stable, machine-readable).",
    )
    message = serializers.CharField(help_text="Human-readable explanation.")


class UsageIngestResultSerializer(serializers.Serializer):
    accepted = serializers.ListField(child=serializers.CharField(), help_text="Ids of the events stored now.")
    duplicates = serializers.ListField(
        child=serializers.CharField(),
        help_text="Ids of events stored before, or earlier in this batch (the first wins): acknowledged, not counted.",
    )
    rejected = UsageRejectionSerializer(many=True, help_text="The refused events, in batch order.")
