"""The ingestion half of bench/usage.py: fresh batches sent through the API by concurrent keep-alive clients, the
SQL check that rollups still equal the events afterwards, and the raw COPY of as many rows beside it.

The leading underscore keeps `python -m bench` from running this module as a benchmark.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import resource
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._http import HttpConnection

BATCH = 1000
WINDOW_SECONDS = 10
# (lowest, highest) value of an event of each bench metric (billing_usage_bench_seed's): calls count 1 each, bytes
# of one call, the id of one of a customer's users.
METRIC_VALUES = {"bench_calls": (1, 1), "bench_bytes": (1, 1_000_000), "bench_users": (1, 200)}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def batch_body(prefix: str, sequence: int, customers: list[int], rng: random.Random) -> bytes:
    now = time.time()
    codes = list(METRIC_VALUES)
    events = []
    for index in range(BATCH):
        code = codes[index % 3]
        low, high = METRIC_VALUES[code]
        moment = datetime.fromtimestamp(now - rng.random() * 60, UTC)
        events.append(
            {
                "event_id": f"{prefix}{sequence}-{index}",
                "metric": code,
                "value": rng.randint(low, high),
                "timestamp": moment.isoformat(),
                "customer": rng.choice(customers),
            }
        )
    return json.dumps({"events": events}).encode()


def ingest_run(
    port: int, api_key: str, customers: list[int], clients: int, seconds: float, *, partitioned: bool = False
) -> dict[str, Any]:
    """`clients` keep-alive connections send fresh batches for `seconds`; every batch mixes events of all the
    customers, or with `partitioned` each client's batches hold only its own share of them."""
    run = uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Api-Key {api_key}", "Content-Type": "application/json"}
    done: list[tuple[float, int, float]] = []  # (finished, accepted, milliseconds)
    errors: list[str] = []
    first_moment = datetime.now(UTC) - timedelta(seconds=61)

    async def client(number: int, started: float) -> None:
        connection = HttpConnection("127.0.0.1", port)
        rng = random.Random(f"{run}-{number}")
        mine = customers[number::clients] if partitioned else customers
        sequence = 0
        try:
            while time.perf_counter() - started < seconds:
                body = batch_body(f"b{run}-{number}-", sequence, mine, rng)
                sequence += 1
                sent = time.perf_counter()
                answer = await connection.request("POST", "/api/usage/events", headers=headers, body=body)
                finished = time.perf_counter()
                if answer.status != 200:
                    errors.append(f"{answer.status}: {answer.body[:300]!r}")
                    continue
                result = answer.json()
                if len(result["accepted"]) != BATCH or result["duplicates"] or result["rejected"]:
                    errors.append(f"not all accepted: {json.dumps(result)[:300]}")
                done.append((finished - started, len(result["accepted"]), (finished - sent) * 1000))
        finally:
            connection.close()

    async def all_clients() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(client(number, started) for number in range(clients)))
        return time.perf_counter() - started

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = asyncio.run(all_clients())
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    accepted = sum(count for _, count, _ in done)
    windows = [0] * max(1, int(seconds // WINDOW_SECONDS))
    for finished, count, _ in done:
        slot = int(finished // WINDOW_SECONDS)
        if slot < len(windows):
            windows[slot] += count
    latencies = [milliseconds for _, _, milliseconds in done]
    client_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {
        "run": run,
        "clients": clients,
        "partitioned": partitioned,
        "seconds": round(elapsed, 2),
        "batches": len(done),
        "accepted": accepted,
        "events_per_second": round(accepted / elapsed, 1),
        "windows_events_per_second": [round(count / WINDOW_SECONDS, 1) for count in windows],
        "batch_ms": {
            "p50": round(percentile(latencies, 0.5), 1) if latencies else None,
            "p95": round(percentile(latencies, 0.95), 1) if latencies else None,
        },
        "errors": len(errors),
        "error_samples": errors[:5],
        "client_cpu_share": round(client_cpu / elapsed, 3),
        "first_moment": first_moment.isoformat(),
        "last_moment": datetime.now(UTC).isoformat(),
    }


CONSISTENCY_SQL = """
WITH events AS (
    SELECT customer_id, metric_id, date_trunc('hour', "timestamp", 'UTC') AS hour, count(*) AS event_count,
           sum(value) AS value_sum, max(value) AS value_max, max("timestamp") AS latest_at,
           (array_agg(value ORDER BY "timestamp" DESC, value DESC))[1] AS latest_value
    FROM billing_usageevent WHERE "timestamp" >= %(low)s AND "timestamp" < %(high)s
    GROUP BY 1, 2, 3
), rollups AS (
    SELECT customer_id, metric_id, hour, event_count, value_sum, value_max, latest_at, latest_value
    FROM billing_usagerollup WHERE hour >= %(low)s AND hour < %(high)s
)
SELECT count(*) FROM events FULL JOIN rollups USING (customer_id, metric_id, hour)
WHERE (events.event_count, events.value_sum, events.value_max, events.latest_at, events.latest_value)
      IS DISTINCT FROM (rollups.event_count, rollups.value_sum, rollups.value_max, rollups.latest_at,
                        rollups.latest_value)
"""

MISSING_DISTINCT_SQL = """
SELECT count(*) FROM billing_usageevent event JOIN billing_billablemetric metric ON metric.id = event.metric_id
WHERE event."timestamp" >= %(low)s AND event."timestamp" < %(high)s AND metric.aggregation = 'unique_count'
  AND NOT EXISTS (
      SELECT 1 FROM billing_usagedistinctvalue seen
      WHERE seen.customer_id = event.customer_id AND seen.metric_id = event.metric_id
        AND seen.day = (event."timestamp" AT TIME ZONE 'Asia/Seoul')::date AND seen.value = event.value)
"""


def consistency_check(ingest: dict[str, Any]) -> dict[str, Any]:
    """Over every whole hour the run's events fall in: rollups equal the events grouped (count, sum, max, latest),
    every event of the run stored once with its key, every unique-count value in the distinct values."""
    from django.db import connection

    low = datetime.fromisoformat(ingest["first_moment"]).replace(minute=0, second=0, microsecond=0)
    high = datetime.fromisoformat(ingest["last_moment"]).replace(minute=0, second=0, microsecond=0)
    params: dict[str, Any] = {"low": low, "high": high + timedelta(hours=1), "ids": f"b{ingest['run']}-%"}
    with connection.cursor() as cursor:
        # The hours may hold millions of events (a kept cluster, several runs within the hour): no request's limit.
        cursor.execute("SET statement_timeout = 0")
        cursor.execute(CONSISTENCY_SQL, params)
        rollups_differing = cursor.fetchone()[0]
        cursor.execute(MISSING_DISTINCT_SQL, params)
        distinct_missing = cursor.fetchone()[0]
        cursor.execute(
            'SELECT count(*) FROM billing_usageevent WHERE "timestamp" >= %(low)s AND "timestamp" < %(high)s'
            " AND event_id LIKE %(ids)s",
            params,
        )
        events = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM billing_usageeventkey WHERE event_id LIKE %(ids)s", params)
        keys = cursor.fetchone()[0]
    return {
        "hours": [low.isoformat(), high.isoformat()],
        "rollups_differing": rollups_differing,
        "distinct_values_missing": distinct_missing,
        "events_stored": events,
        "keys_stored": keys,
        "ok": rollups_differing == 0 and distinct_missing == 0 and events == keys == ingest["accepted"],
    }


def copy_runs(rows: int, customers: list[int], metric_ids: dict[str, int], runs: int = 3) -> dict[str, Any]:
    """COPY `rows` rows like the API's into billing_usageevent, timed, then rolled back; the median of `runs`."""
    import psycopg

    rng = random.Random(rows)
    now = time.time()
    codes = list(METRIC_VALUES)
    lines = io.StringIO()
    for index in range(rows):
        code = codes[index % 3]
        low, high = METRIC_VALUES[code]
        moment = datetime.fromtimestamp(now - rng.random() * 60, UTC).isoformat()
        customer = rng.choice(customers)
        lines.write(f"{customer}\t{metric_ids[code]}\tcopy-{index}\t{rng.randint(low, high)}\t{moment}\t{moment}\n")
    data = lines.getvalue().encode()
    chunk = 1 << 20
    seconds = []
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        for _ in range(runs):
            with connection.cursor() as cursor:
                started = time.perf_counter()
                with cursor.copy(
                    'COPY billing_usageevent (customer_id, metric_id, event_id, value, "timestamp", received_at)'
                    " FROM STDIN"
                ) as copy:
                    for offset in range(0, len(data), chunk):
                        copy.write(data[offset : offset + chunk])
                seconds.append(time.perf_counter() - started)
            connection.rollback()
    median = statistics.median(seconds)
    return {
        "rows": rows,
        "seconds": [round(value, 3) for value in seconds],
        "events_per_second": round(rows / median, 1) if rows else 0.0,
    }
