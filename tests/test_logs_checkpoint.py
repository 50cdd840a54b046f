"""GET /api/v2/logs by checkpoint (``from``, ``take``), as Auth0's "Retrieve logs by checkpoint" describes it: the
events after a given event, oldest first, a Link to the next call, no 1,000-record limit, every other parameter
ignored. Checkpoints are the event's (date, id), so events of one instant are neither skipped nor repeated."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import Event
from tests.helpers import STRONG_PASSWORD, management_error, query_error

pytestmark = pytest.mark.django_db

LOGS = "/api/v2/logs"
INSTANT = datetime(2026, 5, 4, 3, 2, 1, 123000, tzinfo=UTC)


@pytest.fixture
def logs(scoped_client):
    return scoped_client("read:logs")


def _events(count: int, *, same_instant: bool = False) -> list[Event]:
    """``count`` events in insertion order; with ``same_instant`` all share one date to the microsecond."""
    made = [
        Event.objects.create(type="sapi", description=f"event {n}", actor_kind="client", actor_id="x")
        for n in range(count)
    ]
    if same_instant:
        Event.objects.filter(pk__in=[e.pk for e in made]).update(date=INSTANT)
    return made


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [entry["log_id"] for entry in response.json()]


def _drain(client: Any, checkpoint: str, take: int) -> list[str]:
    """Follow checkpoints until an empty answer, as a log exporter does; the list of every id received."""
    seen: list[str] = []
    while True:
        batch = _ids(client.get(LOGS, {"from": checkpoint, "take": take}))
        if not batch:
            return seen
        seen += batch
        checkpoint = batch[-1]


def test_from_answers_the_events_after_it_oldest_first_up_to_take(logs):
    events = _events(6)
    response = logs.get(LOGS, {"from": events[1].log_id, "take": 3})
    assert _ids(response) == [e.log_id for e in events[2:5]]
    assert response["Link"] == f'<http://testserver{LOGS}?from={events[4].log_id}&take=3>; rel="next"'


def test_take_defaults_to_fifty(logs):
    events = _events(53)
    assert _ids(logs.get(LOGS, {"from": events[0].log_id})) == [e.log_id for e in events[1:51]]


def test_nothing_newer_is_an_empty_array_whose_next_link_is_the_same_call(logs):
    last = _events(2)[-1]
    response = logs.get(LOGS, {"from": last.log_id, "take": 10})
    assert (response.status_code, response.json()) == (200, [])
    assert response["Link"] == f'<http://testserver{LOGS}?from={last.log_id}&take=10>; rel="next"'


def test_events_of_one_instant_are_neither_skipped_nor_repeated(logs):
    events = _events(7, same_instant=True)
    assert len({e.date for e in Event.objects.all()}) == 1
    expected = [e.log_id for e in events[1:]]
    for take in (1, 2, 3, 6):
        assert _drain(logs, events[0].log_id, take) == expected, take
    # A checkpoint in the middle of the instant answers only the events inserted after it.
    assert _ids(logs.get(LOGS, {"from": events[3].log_id})) == [e.log_id for e in events[4:]]


def test_the_log_id_order_does_not_matter_only_the_events_order(logs):
    # Random ids: sorted by log_id these events would come out in another order.
    events = _events(12, same_instant=True)
    assert sorted(e.log_id for e in events) != [e.log_id for e in events]
    assert _drain(logs, events[0].log_id, 5) == [e.log_id for e in events[1:]]


def test_checkpoint_paging_has_no_thousand_record_limit(logs):
    Event.objects.bulk_create(
        Event(type="sapi", description="Create a User", actor_kind="client", actor_id="x") for _ in range(1250)
    )
    everything = list(Event.objects.order_by("date", "id").values_list("log_id", flat=True))
    assert _drain(logs, everything[0], 100) == everything[1:]


@pytest.mark.parametrize(
    "ignored",
    [
        {"page": "3", "per_page": "2", "include_totals": "true", "sort": "date:-1"},
        # What auth0-python 4's logs.search(from_param=..., take=...) sends alongside: its defaults.
        {"page": "0", "per_page": "50", "include_totals": "true", "include_fields": "true"},
        {"fields": "log_id", "include_fields": "true"},
    ],
)
def test_every_other_parameter_is_ignored_with_from(logs, ignored):
    events = _events(5)
    response = logs.get(LOGS, {"from": events[0].log_id, "take": 2, **ignored})
    assert _ids(response) == [e.log_id for e in events[1:3]]
    assert set(response.json()[0]) > {"log_id", "date", "type", "description"}


def test_take_without_from_is_ignored_and_an_empty_from_is_no_checkpoint(logs):
    events = _events(3)
    newest_first = [e.log_id for e in reversed(events)]
    assert _ids(logs.get(LOGS, {"take": 1})) == newest_first
    assert _ids(logs.get(LOGS, {"from": "", "take": 1})) == newest_first
    assert logs.get(LOGS, {"from": "", "include_totals": "true"}).json()["total"] == 3


def _checkpoint_error(field: str, code: str, text: str) -> dict[str, Any]:
    descriptions = {
        "from": "Log event id from which to start retrieving logs (checkpoint paging)",
        "take": "Number of entries to retrieve when using the from parameter",
    }
    return query_error(field, code, text, descriptions[field])


UNKNOWN_CHECKPOINT = management_error(
    400,
    "No log event has the id given in 'from': use the log_id of an event as the checkpoint.",
    "invalid_query_string",
)
INVALID_CHARACTERS = management_error(400, "The query string contains invalid characters.", "invalid_query_string")


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        ("from=nope", 400, UNKNOWN_CHECKPOINT),
        # The right length and alphabet, but no event's id.
        ("from=" + "0" * 56, 400, UNKNOWN_CHECKPOINT),
        (
            "from=" + "a" * 10_000,
            400,
            _checkpoint_error("from", "MAX_LENGTH", "String is too long (10000 chars), maximum 64"),
        ),
        ("from=%00", 400, INVALID_CHARACTERS),
        ("from=%ED%A0%80", 400, INVALID_CHARACTERS),  # a lone surrogate, UTF-8-encoded
        ("from=CHECKPOINT&take=0", 400, _checkpoint_error("take", "MINIMUM", "Value 0 is less than minimum 1")),
        ("from=CHECKPOINT&take=-1", 400, _checkpoint_error("take", "MINIMUM", "Value -1 is less than minimum 1")),
        (
            "from=CHECKPOINT&take=101",
            400,
            _checkpoint_error("take", "MAXIMUM", "Value 101 is greater than maximum 100"),
        ),
        (
            "from=CHECKPOINT&take=1e9",
            400,
            _checkpoint_error("take", "INVALID_TYPE", "Expected type integer but found type string"),
        ),
        (
            "from=CHECKPOINT&take=abc",
            400,
            _checkpoint_error("take", "INVALID_TYPE", "Expected type integer but found type string"),
        ),
        ("take=0", 400, _checkpoint_error("take", "MINIMUM", "Value 0 is less than minimum 1")),
        (
            "from=CHECKPOINT&from=CHECKPOINT",
            400,
            _checkpoint_error("from", "INVALID_TYPE", "Expected type string but found type array"),
        ),
    ],
)
def test_bad_checkpoints_and_takes_are_refused_whole(logs, query, status, body):
    checkpoint = _events(1)[0].log_id
    response = logs.get(f"{LOGS}?{query.replace('CHECKPOINT', checkpoint)}")
    assert (response.status_code, response.json()) == (status, body)


def test_read_logs_users_also_reads_the_log(scoped_client):
    events = _events(2)
    response = scoped_client("read:logs_users").get(LOGS, {"from": events[0].log_id})
    assert _ids(response) == [events[1].log_id]


def test_a_poller_sees_every_event_once_in_order_while_events_are_written(logs, api, connection):
    """``auth0 logs tail``-style: remember the last log_id, ask for what follows, again and again, while the
    directory keeps changing between (and during) the polls."""
    start = checkpoint = _events(1)[0].log_id
    received: list[str] = []
    for round_ in range(6):
        for n in range(round_ + 1):  # writes through the real API: each create is a sapi event
            body = {"connection": connection.name, "email": f"u{round_}-{n}@example.com", "password": STRONG_PASSWORD}
            assert api.post("/api/v2/users", body, format="json").status_code == 201
        if round_ % 2:
            # Some writes land in the same instant as the last one seen.
            Event.objects.filter(date__gt=INSTANT).update(date=INSTANT)
        batch = _ids(logs.get(LOGS, {"from": checkpoint, "take": 2}))
        received += batch
        if batch:
            checkpoint = batch[-1]
    received += _drain(logs, checkpoint, 2)
    written = list(Event.objects.order_by("date", "id").values_list("log_id", flat=True))
    assert received == written[written.index(start) + 1 :]
    assert len(received) == len(set(received)) == 21


def test_events_after_a_checkpoint_are_an_index_range_scan(logs):
    """The query behind ``from`` reads the (date, id) index from the checkpoint on, on SQLite and PostgreSQL."""
    events = _events(3)
    with CaptureQueriesContext(connection) as queries:
        assert _ids(logs.get(LOGS, {"from": events[0].log_id}))
    after = next(q["sql"] for q in queries.captured_queries if '"audit_event"."id") >' in q["sql"])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A three-row table is cheaper to scan whole; forbid that to see which index the plan can use.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {after}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {after}")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "audit_event_date_id" in plan, plan
    if connection.vendor == "postgresql":
        assert "Index Cond: (ROW(date, id) > ROW(" in plan, plan
    else:
        # SQLite seeks the index at the checkpoint's date and checks the id there; the order is the index's own.
        assert "SEARCH audit_event USING INDEX audit_event_date_id (date>?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
