"""Usage event ingestion: a batch of up to 1,000 events checked one by one, the new ones stored with their hourly
rollups (and distinct values) in one transaction, repeats acknowledged and never counted twice."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billing.enums import ApiKeyScope, MetricAggregation
from billing.models import (
    ApiKey,
    BillableMetric,
    Customer,
    UsageDistinctValue,
    UsageEvent,
    UsageEventKey,
    UsageRollup,
)
from billing.models.usage import MAX_EVENT_ID_LENGTH, MAX_USAGE_VALUE
from billing.periods import BILLING_TIME_ZONE
from billing_site.errors import ApplicationError

MAX_BATCH_EVENTS = 1000
# Clocks of the sender and ours differ a little; an event further ahead than this is a bug or a forgery.
FUTURE_TOLERANCE = timedelta(minutes=5)
REQUIRED_FIELDS = frozenset({"event_id", "metric", "value", "timestamp"})
EVENT_FIELDS = REQUIRED_FIELDS | {"customer"}
# The longest ISO 8601 moment worth parsing (2026-01-31T12:00:00.123456+09:00 is 32 characters).
MAX_TIMESTAMP_LENGTH = 40
MAX_DATABASE_ID = 2**63 - 1

MESSAGES = {
    "invalid_event": "An event is an object with event_id, metric, value, timestamp and (with an API key) customer.",
    "invalid_event_id": f"event_id is 1 to {MAX_EVENT_ID_LENGTH} printable characters.",
    "unknown_metric": "metric is not the code of an active metric.",
    "invalid_value": f"value is an integer from 0 to {MAX_USAGE_VALUE}.",
    "invalid_timestamp": "timestamp is an ISO 8601 date and time with a time zone, e.g. 2026-01-31T12:00:00+09:00.",
    "timestamp_in_future": "timestamp is more than 5 minutes in the future.",
    "period_closed": "timestamp falls in a period whose usage is already invoiced.",
    "customer_required": "customer (the customer's id) is required in each event sent with an API key.",
    "unknown_customer": "customer is not the id of a customer.",
    "customer_mismatch": "customer names another customer; events sent as a customer are that customer's own.",
    "invalid_customer": "customer is a customer id (an integer).",
}


@dataclass(frozen=True)
class Rejection:
    """An event refused: its position in the batch, its id when it had a valid one, why (a stable code)."""

    index: int
    event_id: str | None
    code: str
    message: str


@dataclass
class IngestResult:
    """What became of each event of a batch: stored now, stored before (or earlier in the batch), or refused."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


# A checked event: (index, customer id, metric id, event id, value, timestamp in UTC). Tuples, not objects: a batch
# is 1,000 of them and ingestion is the hot path.
Checked = tuple[int, int, int, str, int, datetime]


def _batch_error(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, fields={"events": [message]})


def _events_list(events: object) -> list[object]:
    if not isinstance(events, list):
        raise _batch_error("validation_error", "events must be a list of events.")
    if not events:
        raise _batch_error("validation_error", "events must hold at least one event.")
    if len(events) > MAX_BATCH_EVENTS:
        raise _batch_error("too_many_events", f"A batch holds at most {MAX_BATCH_EVENTS} events.")
    return events


def _reject(index: int, event_id: str | None, code: str) -> Rejection:
    return Rejection(index=index, event_id=event_id, code=code, message=MESSAGES[code])


def _sender_check(caller: Customer | None, api_key: ApiKey | None) -> None:
    if (caller is None) == (api_key is None):
        raise ValueError("usage_events_ingest takes exactly one of caller and api_key.")
    if api_key is not None and ApiKeyScope.USAGE_WRITE not in (api_key.scopes or []):
        raise ApplicationError("permission_denied", "This API key may not send usage events.", status_code=403)


def _events_check(
    events: list[object], *, metrics: dict[str, int], caller: Customer | None, latest_allowed: datetime
) -> tuple[list[Checked], list[Rejection]]:
    """Each event checked on its own (no database): the well-formed ones, and why the others are refused.

    Hand-written rather than a serializer per event: this loop runs for every event of every batch."""
    checked: list[Checked] = []
    rejected: list[Rejection] = []
    caller_id = caller.pk if caller is not None else None
    for index, event in enumerate(events):
        if type(event) is not dict or not (REQUIRED_FIELDS <= event.keys() <= EVENT_FIELDS):
            rejected.append(_reject(index, _event_id_of(event), "invalid_event"))
            continue
        event_id = _event_id_of(event)
        if event_id is None:
            rejected.append(_reject(index, None, "invalid_event_id"))
            continue
        code = event["metric"]
        metric_id = metrics.get(code) if type(code) is str else None
        if metric_id is None:
            rejected.append(_reject(index, event_id, "unknown_metric"))
            continue
        value = event["value"]
        # type() is: a bool is an int to isinstance, and 1.0 or "1" are not integers here.
        if type(value) is not int or not 0 <= value <= MAX_USAGE_VALUE:
            rejected.append(_reject(index, event_id, "invalid_value"))
            continue
        moment = _timestamp_parse(event["timestamp"])
        if moment is None:
            rejected.append(_reject(index, event_id, "invalid_timestamp"))
            continue
        if moment > latest_allowed:
            rejected.append(_reject(index, event_id, "timestamp_in_future"))
            continue
        customer_id = event.get("customer")
        if customer_id is None:
            if caller_id is None:
                rejected.append(_reject(index, event_id, "customer_required"))
                continue
            customer_id = caller_id
        elif type(customer_id) is not int:
            rejected.append(_reject(index, event_id, "invalid_customer"))
            continue
        elif caller_id is not None and customer_id != caller_id:
            rejected.append(_reject(index, event_id, "customer_mismatch"))
            continue
        elif not 0 < customer_id <= MAX_DATABASE_ID:
            rejected.append(_reject(index, event_id, "unknown_customer"))
            continue
        checked.append((index, customer_id, metric_id, event_id, value, moment))
    return checked, rejected


def _event_id_of(event: object) -> str | None:
    """The event's id if it is a valid one: 1 to 100 printable characters (control characters, and lone surrogates,
    which PostgreSQL cannot store, are never part of an id)."""
    event_id = event.get("event_id") if type(event) is dict else None
    if type(event_id) is not str or not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH or not event_id.isprintable():
        return None
    return event_id


def _timestamp_parse(stamp: object) -> datetime | None:
    """An aware moment in UTC, or None: only ISO 8601 strings with an offset (a naive time means nothing)."""
    if type(stamp) is not str or len(stamp) > MAX_TIMESTAMP_LENGTH or not stamp.isascii():
        return None
    try:
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None or moment.utcoffset() is None:
            return None
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO 8601, or beyond year 1..9999 once moved to UTC
        return None


def usage_events_ingest(
    *, events: object, caller: Customer | None, api_key: ApiKey | None, now: datetime | None = None
) -> IngestResult:
    """Store a batch of usage events sent by a customer (`caller`, their own) or by the SaaS backend (`api_key`
    with usage:write, each event naming its `customer`).

    A batch that is not a list, is empty or holds more than 1,000 events is refused whole (400); otherwise each
    event is accepted, acknowledged as a duplicate (its (customer, event_id) was stored before, or came earlier in
    this batch: the first wins) or refused with a code (Rejection), without failing the rest.

    One transaction: the batch's customers are read under a key-share lock (in id order), so an invoice closing
    their usage (which locks the customer for update) either sees this batch's rollups or moves
    `usage_billed_until` before this batch reads it; events before that moment are refused (`period_closed`).
    """
    moment = now or timezone.now()
    batch = _events_list(events)
    _sender_check(caller, api_key)
    metrics: dict[str, int] = {}
    unique_metric_ids: set[int] = set()
    for code, metric_id, aggregation in BillableMetric.objects.filter(is_active=True).values_list(
        "code", "pk", "aggregation"
    ):
        metrics[code] = metric_id
        if aggregation == MetricAggregation.UNIQUE_COUNT:
            unique_metric_ids.add(metric_id)
    checked, rejected = _events_check(batch, metrics=metrics, caller=caller, latest_allowed=moment + FUTURE_TOLERANCE)
    result = IngestResult(rejected=rejected)
    if checked:
        with transaction.atomic():
            billed_until = _customers_lock(sorted({row[1] for row in checked}))
            to_store, repeats = _customer_checks(checked, billed_until, rejected)
            stored = _events_store(to_store, unique_metric_ids=unique_metric_ids, now=moment) if to_store else set()
        duplicate_indexes = repeats | {row[0] for row in to_store if row[0] not in stored}
        for row in checked:
            if row[0] in stored:
                result.accepted.append(row[3])
            elif row[0] in duplicate_indexes:
                result.duplicates.append(row[3])
    result.rejected.sort(key=lambda rejection: rejection.index)
    return result


def _customers_lock(customer_ids: list[int]) -> dict[int, datetime | None]:
    """usage_billed_until of each existing customer of the batch, read under FOR KEY SHARE in id order: batches
    share the lock, an invoice closing a period (FOR UPDATE) waits for them or they for it, and the id order keeps
    two of them from deadlocking. SQLite locks the whole database for a write instead."""
    if connection.vendor != "postgresql":
        return dict(Customer.objects.filter(pk__in=customer_ids).values_list("pk", "usage_billed_until"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, usage_billed_until FROM billing_customer WHERE id = ANY(%s::bigint[]) ORDER BY id "
            "FOR KEY SHARE",
            [customer_ids],
        )
        return dict(cursor.fetchall())


def _customer_checks(
    checked: list[Checked], billed_until: dict[int, datetime | None], rejected: list[Rejection]
) -> tuple[list[Checked], set[int]]:
    """The events to store (their customer exists, their period is open, first of their id in the batch) and the
    indexes of repeats; the refused ones go to `rejected`. An event of a closed period whose id was stored before,
    or came earlier in this batch, is a repeat, not a refusal: a sender retrying a batch that did succeed learns
    nothing went wrong."""
    to_store: list[Checked] = []
    repeats: set[int] = set()
    closed: list[Checked] = []
    seen: set[tuple[int, str]] = set()
    for row in checked:
        index, customer_id, _, event_id, _, moment = row
        if customer_id not in billed_until:
            rejected.append(_reject(index, event_id, "unknown_customer"))
            continue
        key = (customer_id, event_id)
        if key in seen:
            repeats.add(index)
            continue
        until = billed_until[customer_id]
        if until is not None and moment < until:
            closed.append(row)
            continue
        seen.add(key)
        to_store.append(row)
    if closed:
        stored_before = _keys_stored({(row[1], row[3]) for row in closed})
        for row in closed:
            if (row[1], row[3]) in stored_before:
                repeats.add(row[0])
            else:
                rejected.append(_reject(row[0], row[3], "period_closed"))
    return to_store, repeats


def _keys_stored(keys: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (customer id, event id) pairs were accepted before."""
    by_customer: dict[int, list[str]] = {}
    for customer_id, event_id in keys:
        by_customer.setdefault(customer_id, []).append(event_id)
    found: set[tuple[int, str]] = set()
    for customer_id, event_ids in by_customer.items():
        found.update(
            UsageEventKey.objects.filter(customer_id=customer_id, event_id__in=event_ids).values_list(
                "customer_id", "event_id"
            )
        )
    return found


def _events_store(rows: list[Checked], *, unique_metric_ids: set[int], now: datetime) -> set[int]:
    """Store the events whose (customer, event_id) is new, with their rollups; the batch indexes stored."""
    if connection.vendor == "postgresql":
        return _events_store_postgresql(rows, unique_metric_ids=unique_metric_ids, now=now)
    return _events_store_portable(rows, unique_metric_ids=unique_metric_ids, now=now)


# One statement, whatever the batch size. Everything that waits for another transaction (a key or distinct value
# being inserted, a rollup row being updated) is taken in one global order, so concurrent batches never deadlock:
# keys sorted, then rollups sorted (their aggregate reads every new key first), then distinct values sorted (the
# one-time filter on `rollups` runs that insert to completion first).
INGEST_SQL = """
WITH batch AS (
    SELECT * FROM unnest(%(ords)s::int[], %(customers)s::bigint[], %(metrics)s::bigint[], %(event_ids)s::text[],
                         %(values)s::bigint[], %(moments)s::timestamptz[])
        AS batch(ord, customer_id, metric_id, event_id, value, moment)
),
new_keys AS (
    INSERT INTO billing_usageeventkey (customer_id, event_id)
    SELECT customer_id, event_id FROM batch ORDER BY customer_id, event_id COLLATE "C"
    ON CONFLICT (customer_id, event_id) DO NOTHING
    RETURNING customer_id, event_id
),
fresh AS (
    SELECT batch.* FROM batch JOIN new_keys USING (customer_id, event_id)
),
stored_events AS (
    INSERT INTO billing_usageevent (customer_id, metric_id, event_id, value, "timestamp", received_at)
    SELECT customer_id, metric_id, event_id, value, moment, %(now)s FROM fresh
),
rollups AS (
    INSERT INTO billing_usagerollup AS rollup
        (customer_id, metric_id, hour, event_count, value_sum, value_max, latest_value, latest_at, updated_at)
    SELECT customer_id, metric_id, date_trunc('hour', moment, 'UTC'), count(*), sum(value), max(value),
           (array_agg(value ORDER BY moment DESC, value DESC))[1], max(moment), %(now)s
    FROM fresh
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, metric_id, hour) DO UPDATE SET
        event_count = rollup.event_count + EXCLUDED.event_count,
        value_sum = rollup.value_sum + EXCLUDED.value_sum,
        value_max = GREATEST(rollup.value_max, EXCLUDED.value_max),
        latest_value = CASE
            WHEN (EXCLUDED.latest_at, EXCLUDED.latest_value) > (rollup.latest_at, rollup.latest_value)
            THEN EXCLUDED.latest_value ELSE rollup.latest_value END,
        latest_at = GREATEST(rollup.latest_at, EXCLUDED.latest_at),
        updated_at = EXCLUDED.updated_at
    RETURNING 1
)%(distinct)s
SELECT ord FROM fresh
"""

DISTINCT_SQL = """,
distinct_values AS (
    INSERT INTO billing_usagedistinctvalue (customer_id, metric_id, day, value)
    SELECT DISTINCT customer_id, metric_id, (moment AT TIME ZONE 'Asia/Seoul')::date, value
    FROM fresh
    WHERE metric_id = ANY(%(unique_metrics)s::bigint[]) AND (SELECT count(*) FROM rollups) >= 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING
)"""


def _events_store_postgresql(rows: list[Checked], *, unique_metric_ids: set[int], now: datetime) -> set[int]:
    ords, customers, metrics, event_ids, values, moments = zip(*rows, strict=True)
    # Array literals written here rather than adapted by the driver, which quotes 6,000 elements one by one (about
    # a third of the whole request's time).
    params: dict[str, Any] = {
        "ords": _integers_literal(ords),
        "customers": _integers_literal(customers),
        "metrics": _integers_literal(metrics),
        "event_ids": _texts_literal(event_ids),
        "values": _integers_literal(values),
        # UTC ISO 8601 (digits, -, :, ., +, T): nothing an array literal would need quoted.
        "moments": "{" + ",".join(moment.isoformat() for moment in moments) + "}",
        "now": now,
    }
    unique_in_batch = unique_metric_ids.intersection(metrics)
    if unique_in_batch:
        params["unique_metrics"] = _integers_literal(sorted(unique_in_batch))
    sql = INGEST_SQL.replace("%(distinct)s", DISTINCT_SQL if unique_in_batch else "")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {ord_ for (ord_,) in cursor.fetchall()}


def _integers_literal(values: Iterable[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _texts_literal(values: Iterable[str]) -> str:
    """A PostgreSQL text array literal: each element double-quoted, its backslashes and double quotes escaped
    (event ids hold no NUL, which no PostgreSQL text can)."""
    return "{" + ",".join('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values) + "}"


def _events_store_portable(rows: list[Checked], *, unique_metric_ids: set[int], now: datetime) -> set[int]:
    """The same writes through the ORM, for SQLite (`make run`): the database is locked for the transaction."""
    known = _keys_stored({(row[1], row[3]) for row in rows})
    fresh = [row for row in rows if (row[1], row[3]) not in known]
    if not fresh:
        return set()
    UsageEventKey.objects.bulk_create(
        UsageEventKey(customer_id=customer_id, event_id=event_id) for _, customer_id, _, event_id, _, _ in fresh
    )
    UsageEvent.objects.bulk_create(
        UsageEvent(
            customer_id=customer_id,
            metric_id=metric_id,
            event_id=event_id,
            value=value,
            timestamp=moment,
            received_at=now,
        )
        for _, customer_id, metric_id, event_id, value, moment in fresh
    )
    _rollups_add_portable(fresh, now=now)
    UsageDistinctValue.objects.bulk_create(
        (
            UsageDistinctValue(
                customer_id=customer_id,
                metric_id=metric_id,
                day=moment.astimezone(BILLING_TIME_ZONE).date(),
                value=value,
            )
            for _, customer_id, metric_id, _, value, moment in fresh
            if metric_id in unique_metric_ids
        ),
        ignore_conflicts=True,
    )
    return {row[0] for row in fresh}


def _rollups_add_portable(fresh: Iterable[Checked], *, now: datetime) -> None:
    groups: dict[tuple[int, int, datetime], list[tuple[datetime, int]]] = {}
    for _, customer_id, metric_id, _, value, moment in fresh:
        hour = moment.replace(minute=0, second=0, microsecond=0)
        groups.setdefault((customer_id, metric_id, hour), []).append((moment, value))
    for (customer_id, metric_id, hour), pairs in sorted(groups.items()):
        latest_at, latest_value = max(pairs)
        rollup = UsageRollup.objects.filter(customer_id=customer_id, metric_id=metric_id, hour=hour).first()
        if rollup is None:
            rollup = UsageRollup(
                customer_id=customer_id,
                metric_id=metric_id,
                hour=hour,
                event_count=0,
                value_sum=0,
                value_max=0,
                latest_value=latest_value,
                latest_at=latest_at,
            )
        rollup.event_count += len(pairs)
        rollup.value_sum += sum(value for _, value in pairs)
        rollup.value_max = max(rollup.value_max, max(value for _, value in pairs))
        if (latest_at, latest_value) > (rollup.latest_at, rollup.latest_value):
            rollup.latest_at, rollup.latest_value = latest_at, latest_value
        rollup.updated_at = now
        rollup.save()
