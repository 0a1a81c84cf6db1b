"""Usage event ingestion (billing.services.usage_ingest): every refusal code, duplicates within and across batches,
rollups equal to a brute-force count over the stored events, and on PostgreSQL two concurrent batches and the race
with the invoice that closes a period."""

import random
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection, transaction

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
from billing.models.usage import MAX_USAGE_VALUE
from billing.selectors.usage import usage_quantities, usage_quantities_brute_force
from billing.services import usage_ingest
from billing.services.usage_ingest import IngestResult, usage_events_ingest
from billing.services.usage_invoicing import usage_period_close
from billing.tests.factories import BillableMetricFactory, CustomerFactory
from billing_site.errors import ApplicationError

from ..helpers import run_concurrently

NOW = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
# Seoul midnights around NOW: the window every quantity below is read over.
WINDOW = (datetime(2026, 10, 31, 15, tzinfo=UTC), datetime(2026, 11, 30, 15, tzinfo=UTC))
STAMP = "2026-11-20T12:00:00+09:00"


@pytest.fixture
def metrics(db: None) -> dict[str, BillableMetric]:
    return {
        aggregation: BillableMetricFactory.create(code=f"m_{aggregation}", aggregation=aggregation)
        for aggregation in MetricAggregation.values
    }


@pytest.fixture
def usage_key(db: None) -> ApiKey:
    return ApiKey.objects.create(
        name="backend", prefix="bsk_0a1b2c3d", secret_hash="0" * 64, scopes=[ApiKeyScope.USAGE_WRITE]
    )


def event(event_id: object = "e-1", **changes: Any) -> dict[str, Any]:
    return {"event_id": event_id, "metric": "m_count", "value": 1, "timestamp": STAMP, **changes}


def ingest(events: object, *, caller: Customer | None = None, api_key: ApiKey | None = None) -> IngestResult:
    return usage_events_ingest(events=events, caller=caller, api_key=api_key, now=NOW)


def codes(result: IngestResult) -> list[tuple[int, str]]:
    return [(rejection.index, rejection.code) for rejection in result.rejected]


def quantities(customer: Customer, metrics: dict[str, BillableMetric]) -> dict[int, int]:
    rolled = usage_quantities(customer_id=customer.pk, metrics=list(metrics.values()), start=WINDOW[0], end=WINDOW[1])
    brute = usage_quantities_brute_force(
        customer_id=customer.pk, metrics=list(metrics.values()), start=WINDOW[0], end=WINDOW[1]
    )
    assert rolled == brute
    return rolled


# --- refusals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("not an object", "invalid_event"),
        (["e-1", "m_count", 1, STAMP], "invalid_event"),
        (None, "invalid_event"),
        ({"event_id": "e-1", "metric": "m_count", "value": 1}, "invalid_event"),
        (event(extra="field"), "invalid_event"),
        (event(""), "invalid_event_id"),
        (event("x" * 101), "invalid_event_id"),
        (event("line\nbreak"), "invalid_event_id"),
        (event("nul\x00"), "invalid_event_id"),
        (event("\ud800"), "invalid_event_id"),
        (event(12345), "invalid_event_id"),
        (event(None), "invalid_event_id"),
        (event(metric="no_such_metric"), "unknown_metric"),
        (event(metric=["m_count"]), "unknown_metric"),
        (event(metric={"code": "m_count"}), "unknown_metric"),
        (event(value=True), "invalid_value"),
        (event(value=1.0), "invalid_value"),
        (event(value=1.5), "invalid_value"),
        (event(value="5"), "invalid_value"),
        (event(value=None), "invalid_value"),
        (event(value=-1), "invalid_value"),
        (event(value=MAX_USAGE_VALUE + 1), "invalid_value"),
        (event(value=10**40), "invalid_value"),
        (event(value=[1]), "invalid_value"),
        (event(timestamp="2026-11-20T12:00:00"), "invalid_timestamp"),
        (event(timestamp="2026-11-20"), "invalid_timestamp"),
        (event(timestamp="yesterday"), "invalid_timestamp"),
        (event(timestamp=1763607600), "invalid_timestamp"),
        (event(timestamp="２０２６-11-20T12:00:00+09:00"), "invalid_timestamp"),
        (event(timestamp="2026-11-20T12:00:00+09:00" + " " * 40), "invalid_timestamp"),
        (event(timestamp="0001-01-01T00:00:00+09:00"), "invalid_timestamp"),
        (event(timestamp="2026-11-20T03:35:01Z"), "timestamp_in_future"),
        (event(timestamp="9999-12-31T23:59:59+00:00"), "timestamp_in_future"),
    ],
)
def test_a_malformed_event_is_refused_with_its_code(customer, metrics, sent, code):
    result = ingest([sent], caller=customer)

    assert codes(result) == [(0, code)]
    assert result.accepted == result.duplicates == []
    assert not UsageEvent.objects.exists() and not UsageRollup.objects.exists()


def test_five_minutes_ahead_is_still_accepted_and_an_inactive_metric_is_not(customer, metrics):
    BillableMetricFactory.create(code="retired", is_active=False)
    result = ingest(
        [event("on-time", timestamp="2026-11-20T03:35:00Z"), event("retired", metric="retired")], caller=customer
    )

    assert result.accepted == ["on-time"]
    assert codes(result) == [(1, "unknown_metric")]


def test_customer_naming_rules(customer, other_customer, metrics, usage_key):
    as_customer = ingest(
        [event("own", customer=customer.pk), event("other", customer=other_customer.pk), event("text", customer="1")],
        caller=customer,
    )
    assert as_customer.accepted == ["own"]
    assert codes(as_customer) == [(1, "customer_mismatch"), (2, "invalid_customer")]

    with_key = ingest(
        [
            event("a", customer=other_customer.pk),
            event("b"),
            event("c", customer=other_customer.pk + 1000),
            event("d", customer=0),
            event("e", customer=2**70),
            event("f", customer=True),
            event("g", customer=None),
        ],
        api_key=usage_key,
    )
    assert with_key.accepted == ["a"]
    assert codes(with_key) == [
        (1, "customer_required"),
        (2, "unknown_customer"),
        (3, "unknown_customer"),
        (4, "unknown_customer"),
        (5, "invalid_customer"),
        (6, "customer_required"),
    ]
    assert UsageEvent.objects.get(event_id="a").customer_id == other_customer.pk


def test_events_before_the_invoiced_moment_are_refused_and_repeats_of_them_acknowledged(customer, metrics):
    assert ingest([event("kept", timestamp="2026-11-01T00:00:00+09:00")], caller=customer).accepted == ["kept"]
    Customer.objects.filter(pk=customer.pk).update(usage_billed_until=datetime(2026, 11, 10, 15, tzinfo=UTC))

    result = ingest(
        [
            event("late", timestamp="2026-11-10T23:59:59+09:00"),
            event("kept", timestamp="2026-11-01T00:00:00+09:00"),
            event("open", timestamp="2026-11-11T00:00:00+09:00"),
        ],
        caller=customer,
    )

    assert codes(result) == [(0, "period_closed")]
    assert result.duplicates == ["kept"]
    assert result.accepted == ["open"]
    assert UsageEvent.objects.count() == 2

    # Within a batch too: a repeat of an id accepted earlier in it is a duplicate, even stamped in the closed period;
    # a closed one before the first acceptable one is refused, and does not make the later one a repeat.
    in_batch = ingest(
        [
            event("twice", timestamp="2026-11-12T00:00:00+09:00"),
            event("twice", timestamp="2026-11-01T00:00:00+09:00"),
            event("late-first", timestamp="2026-11-01T00:00:00+09:00"),
            event("late-first", timestamp="2026-11-12T00:00:00+09:00"),
        ],
        caller=customer,
    )
    assert (in_batch.accepted, in_batch.duplicates, codes(in_batch)) == (
        ["twice", "late-first"],
        ["twice"],
        [(2, "period_closed")],
    )


@pytest.mark.parametrize(
    ("events", "code"),
    [
        ({"events": []}, "validation_error"),
        ("[]", "validation_error"),
        ([], "validation_error"),
        (None, "validation_error"),
    ],
)
def test_a_batch_that_is_not_a_list_of_events_is_refused_whole(customer, metrics, events, code):
    with pytest.raises(ApplicationError) as refused:
        ingest(events, caller=customer)
    assert (refused.value.status_code, refused.value.code) == (400, code)


def test_a_batch_of_more_than_a_thousand_events_is_refused_whole(customer, metrics):
    with pytest.raises(ApplicationError) as refused:
        ingest([event(f"e-{index}") for index in range(1001)], caller=customer)
    assert (refused.value.status_code, refused.value.code) == (400, "too_many_events")
    assert not UsageEvent.objects.exists()


def test_an_api_key_without_usage_write_may_not_send(customer, metrics, usage_key):
    usage_key.scopes = [ApiKeyScope.ENTITLEMENTS_READ]
    with pytest.raises(ApplicationError) as refused:
        ingest([event(customer=customer.pk)], api_key=usage_key)
    assert (refused.value.status_code, refused.value.code) == (403, "permission_denied")


def test_the_sender_is_exactly_one_of_a_customer_and_an_api_key(customer, metrics, usage_key):
    with pytest.raises(ValueError):
        ingest([event()])
    with pytest.raises(ValueError):
        ingest([event()], caller=customer, api_key=usage_key)


# --- what is stored ---------------------------------------------------------------------------------------------


def test_a_mixed_batch_reports_each_event_and_stores_only_the_accepted(customer, metrics):
    ingest([event("seen-before", value=7)], caller=customer)

    result = ingest(
        [
            event("a", value=2),
            event("bad", value=-3),
            event("seen-before", value=100),
            event("a", value=50),
            event("b", metric="m_sum", value=10),
            {"junk": {"nested": [1, {"deeper": None}]}},
            event("with-extra", colour="red"),
        ],
        caller=customer,
    )

    assert result.accepted == ["a", "b"]
    assert result.duplicates == ["seen-before", "a"]
    assert codes(result) == [(1, "invalid_value"), (5, "invalid_event"), (6, "invalid_event")]
    assert [(rejection.event_id, rejection.message != "") for rejection in result.rejected] == [
        ("bad", True),
        (None, True),
        ("with-extra", True),
    ]
    # The first of a repeated id wins: "a" counts with value 2, not 50.
    assert dict(UsageEvent.objects.filter(metric__code="m_count").values_list("event_id", "value")) == {
        "seen-before": 7,
        "a": 2,
    }
    assert quantities(customer, metrics)[metrics["count"].pk] == 2
    assert quantities(customer, metrics)[metrics["sum"].pk] == 10


def test_a_batch_sent_again_is_acknowledged_and_counted_once(customer, metrics):
    batch = [event(f"e-{index}", value=index) for index in range(20)]
    first = ingest(batch, caller=customer)
    again = ingest(batch, caller=customer)

    assert first.accepted == again.duplicates == [f"e-{index}" for index in range(20)]
    assert again.accepted == first.duplicates == []
    assert UsageEvent.objects.count() == UsageEventKey.objects.count() == 20
    assert UsageRollup.objects.get().event_count == 20


def test_event_ids_are_stored_verbatim_whatever_they_look_like(customer, metrics):
    hostile = ["=SUM(A1:A9)", "+1+1", "-2", "@cmd", "' OR 1=1 --", "<script>x</script>", "사용량 🚀", "a" * 100, " "]
    result = ingest([event(event_id) for event_id in hostile], caller=customer)

    assert result.accepted == hostile
    assert sorted(UsageEvent.objects.values_list("event_id", flat=True)) == sorted(hostile)


def test_the_same_event_id_of_two_customers_is_two_events(customer, other_customer, metrics, usage_key):
    result = ingest([event("same", customer=customer.pk), event("same", customer=other_customer.pk)], api_key=usage_key)

    assert result.accepted == ["same", "same"]
    assert quantities(customer, metrics)[metrics["count"].pk] == 1
    assert quantities(other_customer, metrics)[metrics["count"].pk] == 1


def test_rollups_match_the_events_for_every_aggregation(customer, metrics):
    """Random batches (repeats, equal timestamps with different values, offsets other than Seoul's) read the same
    from rollups as from the events themselves."""
    chooser = random.Random(16)
    codes_by_aggregation = {aggregation: metric.code for aggregation, metric in metrics.items()}
    zones = [timezone(timedelta(hours=9)), UTC, timezone(timedelta(hours=-5))]
    for _ in range(6):
        batch = []
        for _ in range(150):
            # Whole minutes over 19 days before NOW, so that equal timestamps (ties for `latest`) happen.
            moment = WINDOW[0] + timedelta(minutes=chooser.randrange(0, 60 * 24 * 19, 7))
            batch.append(
                event(
                    f"r-{chooser.randrange(400)}",
                    metric=codes_by_aggregation[chooser.choice(MetricAggregation.values)],
                    value=chooser.choice([0, 1, 2, 3, 5, 8, MAX_USAGE_VALUE]),
                    timestamp=moment.astimezone(chooser.choice(zones)).isoformat(),
                )
            )
        ingest(batch, caller=customer)
    stored = quantities(customer, metrics)
    assert all(stored[metric.pk] > 0 for metric in metrics.values())
    assert UsageDistinctValue.objects.filter(metric=metrics["unique_count"]).exists()


def test_an_old_event_lands_in_the_default_partition(customer, metrics):
    result = ingest([event("old", timestamp="2019-03-01T10:00:00+09:00", value=4)], caller=customer)

    assert result.accepted == ["old"]
    old_window = (datetime(2019, 2, 28, 15, tzinfo=UTC), datetime(2019, 3, 31, 15, tzinfo=UTC))
    assert usage_quantities(
        customer_id=customer.pk, metrics=[metrics["count"]], start=old_window[0], end=old_window[1]
    ) == {metrics["count"].pk: 1}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT tableoid::regclass::text FROM billing_usageevent WHERE event_id = 'old'")
            assert cursor.fetchone() == ("billing_usageevent_default",)


# --- concurrency (PostgreSQL) -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_with_the_same_ids_count_each_event_once(postgresql):
    customer = CustomerFactory.create()
    counted = BillableMetricFactory.create(code="m_count", aggregation=MetricAggregation.COUNT)
    # Overlapping halves in opposite orders, across several hours: the worst case for lock ordering.
    ids = [f"c-{index}" for index in range(600)]
    batches = [
        [event(event_id, value=1, timestamp=f"2026-11-20T{index % 6:02d}:00:00+09:00") for index, event_id in shard]
        for shard in (list(enumerate(ids))[:400], list(reversed(list(enumerate(ids))[200:])))
    ]

    results = run_concurrently(lambda worker: ingest(batches[worker], caller=customer), 2)

    assert not [result for result in results if isinstance(result, BaseException)], results
    accepted = results[0].accepted + results[1].accepted
    assert sorted(accepted) == sorted(ids)
    assert len(results[0].duplicates) + len(results[1].duplicates) == 200
    assert UsageEvent.objects.count() == 600
    assert usage_quantities(customer_id=customer.pk, metrics=[counted], start=WINDOW[0], end=WINDOW[1]) == {
        counted.pk: 600
    }


def _close_period_while(customer: Customer, counted: BillableMetric, until: datetime, during: Any) -> int:
    """Lock the customer as invoicing does, run `during` (which waits for or signals the batch), read the quantity
    before `until` and close the usage up to it; the quantity invoiced."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        during()
        quantity = usage_quantities(customer_id=customer.pk, metrics=[counted], start=WINDOW[0], end=until)
        usage_period_close(customer=locked, until=until)
    return quantity[counted.pk]


@pytest.mark.django_db(transaction=True)
def test_a_batch_waiting_behind_the_invoice_that_closes_its_period_is_refused(postgresql):
    customer = CustomerFactory.create()
    counted = BillableMetricFactory.create(code="m_count", aggregation=MetricAggregation.COUNT)
    until = datetime(2026, 11, 19, 15, tzinfo=UTC)
    locked = threading.Event()

    def hold_the_lock() -> None:
        locked.set()
        time.sleep(0.3)  # the batch starts now and waits for the customer's lock

    def invoice_then_batch(worker: int) -> Any:
        if worker == 0:
            return _close_period_while(customer, counted, until, hold_the_lock)
        locked.wait(5)
        return ingest(
            [event(f"late-{index}", timestamp="2026-11-19T20:00:00+09:00") for index in range(50)], caller=customer
        )

    invoiced, result = run_concurrently(invoice_then_batch, 2)

    assert invoiced == 0
    assert {rejection.code for rejection in result.rejected} == {"period_closed"} and not result.accepted
    assert not UsageEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_invoice_waiting_behind_a_batch_counts_it(postgresql, monkeypatch):
    customer = CustomerFactory.create()
    counted = BillableMetricFactory.create(code="m_count", aggregation=MetricAggregation.COUNT)
    until = datetime(2026, 11, 20, 15, tzinfo=UTC)
    storing = threading.Event()
    store = usage_ingest._events_store

    def slow_store(*args: Any, **kwargs: Any) -> set[int]:
        stored = store(*args, **kwargs)
        storing.set()
        time.sleep(0.3)  # still inside the batch's transaction, customer key-share locked
        return stored

    monkeypatch.setattr(usage_ingest, "_events_store", slow_store)

    def batch_then_invoice(worker: int) -> Any:
        if worker == 0:
            return ingest([event(f"early-{index}") for index in range(50)], caller=customer)
        storing.wait(5)
        return _close_period_while(customer, counted, until, lambda: None)

    result, invoiced = run_concurrently(batch_then_invoice, 2)

    assert len(result.accepted) == 50
    assert invoiced == 50
    assert Customer.objects.get(pk=customer.pk).usage_billed_until == until
