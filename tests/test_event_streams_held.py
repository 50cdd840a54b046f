"""An outbox row whose events cannot be made (its renderer raises: the code changed while it waited, say) is held:
the fan-out passes it by, so the other rows, the deliveries list and the admin go on; an ERROR names it, with the
exception's type and place but never its message; an operator releases it (command, admin) once fixed, or discards
it (by id, audited) when it can never succeed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids: est_3F... is est?...
from django.core.management import CommandError, call_command
from django.db import (
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    connection,
)
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from audit.models import Event as AuditEvent
from core.actors import SYSTEM, Actor
from events.fanout import fan_out
from events.models import Delivery, EventStream, PendingEvents
from events.outbox import emit, emit_values
from events.recovery import sweep_deliveries
from events.services import (
    DiscardedRow,
    WebhookAuthorization,
    create_event_stream,
    discard_held_events,
    release_held_events,
)

pytestmark = pytest.mark.django_db

SECRET_VALUE = "do-not-log-me@example.com"
RENDERS: list[dict[str, Any]] = []
BROKEN = {"render": True}


def render(values: dict[str, Any], *, suffix: str) -> dict[str, Any]:
    """A renderer that fails (quoting a value in its message) while ``BROKEN["render"]`` is set."""
    RENDERS.append(values)
    if BROKEN["render"]:
        raise ValueError(f"cannot render {values['email']}")
    return {"email": values["email"], "suffix": suffix}


def nan(values: dict[str, Any]) -> dict[str, Any]:
    return {"score": float("nan")}


@pytest.fixture(autouse=True)
def broken() -> Iterator[None]:
    BROKEN["render"], RENDERS[:] = True, []
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        yield


@pytest.fixture
def stream() -> EventStream:
    return create_event_stream(
        name="crm",
        subscriptions=["user.created"],
        webhook_endpoint="http://127.0.0.1:9/events",
        authorization=WebhookAuthorization(method="bearer", token="t0ken"),
        actor=SYSTEM,
    )


def _good(subject: str) -> None:
    emit("user.created", lambda: [(subject, {"user_id": subject})])


def _broken() -> PendingEvents:
    emit_values(
        "user.created",
        lambda: [("auth0|broken", [SECRET_VALUE])],
        render=f"{__name__}.render",
        keys=["email"],
        kwargs={"suffix": "!"},
    )
    return PendingEvents.objects.order_by("-pk")[0]


def test_a_row_whose_events_cannot_be_made_is_held_and_the_others_go_on(stream, caplog):
    _good("auth0|before")
    held = _broken()
    _good("auth0|after")
    with caplog.at_level(logging.ERROR, logger="events.fanout"):
        assert fan_out() == 2  # in one group first, then row by row
    assert [d.subject for d in Delivery.objects.order_by("pk")] == ["auth0|before", "auth0|after"]
    held.refresh_from_db()
    assert held.held_at is not None
    assert held.held_reason.startswith("builtins.ValueError at test_event_streams_held.py:")
    assert list(PendingEvents.objects.values_list("pk", flat=True)) == [held.pk]
    [record] = caplog.records
    assert f"outbox row {held.pk} held" in record.getMessage()
    assert f"release_held_events {held.pk}" in record.getMessage()
    assert SECRET_VALUE not in caplog.text and SECRET_VALUE not in held.held_reason


def test_a_held_row_is_passed_by_later_fan_outs_and_by_the_sweep(stream):
    held = _broken()
    fan_out()
    tries = len(RENDERS)
    PendingEvents.objects.filter(pk=held.pk).update(time=held.time.replace(year=2000))  # long overdue
    DBTaskResult.objects.all().delete()
    assert fan_out() == 0
    assert len(RENDERS) == tries  # not tried again
    assert sweep_deliveries() == []  # it waits for an operator, not for a task
    assert not DBTaskResult.objects.exists()


def test_the_deliveries_list_and_the_admin_answer_while_a_row_is_held(stream, scoped_client, admin_client):
    _good("auth0|listed")
    _broken()
    api = scoped_client("read:event_streams read:event_deliveries")
    response = api.get(f"/api/v2/event-streams/{stream.id}/deliveries", {"statuses": "pending"})
    assert response.status_code == 200, response.content
    assert [d["event"]["data"]["object"]["user_id"] for d in response.json()["deliveries"]] == ["auth0|listed"]
    assert admin_client.get("/admin/events/delivery/").status_code == 200
    assert admin_client.get(f"/admin/events/eventstream/{quote(stream.id)}/change/").status_code == 200


def test_a_released_row_is_fanned_out_once_its_cause_is_fixed(stream):
    held = _broken()
    fan_out()
    DBTaskResult.objects.all().delete()
    BROKEN["render"] = False
    assert release_held_events(ids=[held.pk], actor=SYSTEM) == 1
    held.refresh_from_db()
    assert (held.held_at, held.held_reason) == (None, "")
    assert DBTaskResult.objects.filter(task_path="events.tasks.deliver_stream").count() == 1  # the worker's cue
    assert fan_out() == 1
    [delivery] = Delivery.objects.all()
    assert delivery.event.data == {"object": {"email": SECRET_VALUE, "suffix": "!"}}
    assert not PendingEvents.objects.exists()


def test_a_row_released_but_still_broken_is_held_again(stream):
    held = _broken()
    fan_out()
    release_held_events(actor=SYSTEM)
    assert fan_out() == 0
    held.refresh_from_db()
    assert held.held_at is not None


def test_release_leaves_rows_not_held_alone(stream):
    _good("auth0|waiting")
    assert release_held_events(actor=SYSTEM) == 0
    assert release_held_events(ids=[PendingEvents.objects.get().pk, 999_999], actor=SYSTEM) == 0


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("database is locked"),
        InterfaceError("connection closed"),
        ProgrammingError('column "purpose" of relation "events_event" does not exist'),
        IntegrityError('null value in column "extra" of relation "events_delivery" violates not-null constraint'),
        InternalError("cannot execute INSERT in a read-only transaction"),
        NotSupportedError("cached plan must not change result type"),
    ],
)
def test_the_databases_own_trouble_is_raised_and_holds_nothing(stream, monkeypatch, error):
    from events import fanout

    _good("auth0|one")

    def fails(taken: list[PendingEvents]) -> int:
        raise error

    monkeypatch.setattr(fanout, "_write", fails)
    with pytest.raises(type(error)):
        fan_out()
    assert PendingEvents.objects.get().held_at is None


def test_a_value_the_database_refuses_holds_its_row(stream, monkeypatch):
    from events import fanout

    _good("auth0|refused")
    _good("auth0|fine")
    real = fanout._write

    def refuses(taken: list[PendingEvents]) -> int:
        if any("auth0|refused" in row.events for row in taken):
            raise DataError("value too long for type character varying(255)")
        return real(taken)

    monkeypatch.setattr(fanout, "_write", refuses)
    assert fan_out() == 1
    held = PendingEvents.objects.get()
    assert "auth0|refused" in held.events and held.held_reason.startswith("django.db.utils.DataError at ")


def test_the_command_lists_held_rows_and_releases_those_named_or_all(stream, capsys):
    first, second = _broken(), _broken()
    fan_out()
    call_command("release_held_events")
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == [str(first.pk), str(second.pk)]
    assert all("builtins.ValueError" in line and SECRET_VALUE not in line for line in listed)
    assert PendingEvents.objects.filter(held_at__isnull=False).count() == 2  # listing releases nothing

    call_command("release_held_events", str(first.pk))
    assert "released 1 held row(s)" in capsys.readouterr().out
    assert list(PendingEvents.objects.filter(held_at__isnull=True).values_list("pk", flat=True)) == [first.pk]
    call_command("release_held_events", "--all")
    assert "released 1 held row(s)" in capsys.readouterr().out
    assert not PendingEvents.objects.filter(held_at__isnull=False).exists()
    with pytest.raises(CommandError):
        call_command("release_held_events", "--all", str(first.pk))

    PendingEvents.objects.all().delete()
    call_command("release_held_events")
    assert capsys.readouterr().out.strip() == "no held rows"


def test_the_admin_lists_held_rows_without_their_events_and_releases_them(stream, admin_client):
    held = _broken()
    fan_out()
    page = admin_client.get("/admin/events/pendingevents/", {"held": "yes"})
    assert page.status_code == 200
    assert "builtins.ValueError" in page.text and stream.id in page.text
    assert SECRET_VALUE not in page.text
    detail = admin_client.get(f"/admin/events/pendingevents/{held.pk}/change/")
    assert detail.status_code == 200 and SECRET_VALUE not in detail.text
    admin_client.post("/admin/events/pendingevents/", {"action": "release", "_selected_action": [held.pk]})
    held.refresh_from_db()
    assert held.held_at is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite stores a text of any length")
def test_a_subject_longer_than_the_column_holds_its_row_and_the_others_go_on(stream):
    _good("auth0|" + "x" * 400)  # the database refuses it: a real DataError inside the fan-out's transaction
    _good("auth0|fine")
    assert fan_out() == 1
    assert [d.subject for d in Delivery.objects.all()] == ["auth0|fine"]
    held = PendingEvents.objects.get()
    assert held.held_reason.startswith("django.db.utils.DataError at ")


@pytest.mark.parametrize("fails", ["the next row", "the hold"])
def test_an_error_after_a_rows_failure_does_not_carry_its_message(stream, monkeypatch, fails):
    """The row's exception (its message quotes a user's value) is not the context of a database error raised
    after it, while the rows are tried one by one or the row held: that error's traceback is logged by the worker,
    stored with the failed task, or logged with the 500."""
    import traceback

    from events import fanout

    _good("auth0|before")
    _broken()
    _good("auth0|after")
    if fails == "the next row":
        real, calls = fanout._target_streams, []

        def locked(stream_ids: list[str]) -> dict[str, tuple[str, str]]:
            calls.append(stream_ids)
            if len(calls) == 2:  # the group's went by; the first row's own
                raise OperationalError("database is locked")
            return real(stream_ids)

        monkeypatch.setattr(fanout, "_target_streams", locked)
    else:

        def gone(*args: Any) -> None:
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(fanout, "_hold", gone)
    with pytest.raises(OperationalError) as raised:
        fan_out()
    assert SECRET_VALUE not in "".join(traceback.format_exception(raised.value))


def test_a_row_another_fan_out_held_meanwhile_is_passed_by(stream, caplog):
    """Two fan-outs that found the same row: the one that comes second neither renders it again nor logs another
    ERROR for it."""
    from events import fanout

    held = _broken()
    fan_out()
    tries = len(RENDERS)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="events.fanout"):
        assert fanout._fan_out_group(connection.ops.quote_name(PendingEvents._meta.db_table), [held.pk]) == 0
    assert len(RENDERS) == tries
    assert not caplog.records


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite reports a missing column as OperationalError")
@pytest.mark.parametrize(
    "ddl",
    [
        # a migration applied while an older worker still runs: each row would be refused alike
        "ALTER TABLE events_delivery ADD COLUMN added integer NOT NULL",
        "ALTER TABLE events_event RENAME COLUMN purpose TO renamed",
    ],
)
def test_a_schema_every_row_fails_on_holds_nothing(stream, ddl):
    _good("auth0|one")
    _good("auth0|two")
    with connection.cursor() as cursor:
        cursor.execute(ddl)
    with pytest.raises((IntegrityError, ProgrammingError)):
        fan_out()
    assert not PendingEvents.objects.filter(held_at__isnull=False).exists()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("events", '[["evt_malformed0000000000000", {"not": "a subject"}, {}]]'),
        ("events", '[[null, "auth0|malformed", {}]]'),
        ("events", '{"not": "a list of events"}'),
        ("stream_ids", [5]),
        ("stream_ids", 5),
    ],
)
def test_a_row_whose_events_are_malformed_is_held_and_the_others_go_on(stream, column, value):
    """What the database would refuse with other errors than ``DataError`` (a value it cannot bind, a NULL id) is
    refused first, as the row's error: the row is held, not every fan-out failed."""
    _good("auth0|before")
    _good("auth0|malformed")
    _good("auth0|after")
    malformed = PendingEvents.objects.order_by("pk")[1]
    PendingEvents.objects.filter(pk=malformed.pk).update(**{column: value})
    assert fan_out() == 2
    assert [d.subject for d in Delivery.objects.order_by("pk")] == ["auth0|before", "auth0|after"]
    assert PendingEvents.objects.get().held_reason.startswith("builtins.ValueError at fanout.py:")


def test_a_rendered_nan_holds_its_row_on_every_database(stream):
    """JSON has no NaN: PostgreSQL refuses it (``DataError``), SQLite's JSON check too (``IntegrityError``, which
    would be raised as the schema's trouble): it is refused first, as the row's error, on both."""
    _good("auth0|before")
    emit_values("user.created", lambda: [("auth0|nan", [1])], render=f"{__name__}.nan", keys=["score"], kwargs={})
    assert fan_out() == 1
    assert PendingEvents.objects.get().held_reason.startswith("builtins.ValueError at ")


def test_the_admin_does_not_filter_on_a_rows_events(stream, client):
    """The page shows no events; Django would let its query string filter on them (``?events__contains=``), telling
    a staff user who may view the page what users' values they hold, a guess at a time."""
    from django.contrib.auth.models import Permission, User

    _broken()
    fan_out()
    staff = User.objects.create_user("viewer", password="not-used-here-1", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_pendingevents"))
    client.force_login(staff)
    assert client.get("/admin/events/pendingevents/").status_code == 200
    for lookup in ("events__contains", "events__startswith", "render_args__icontains"):
        assert client.get("/admin/events/pendingevents/", {lookup: SECRET_VALUE[:4]}).status_code == 400, lookup
    assert client.get("/admin/events/pendingevents/", {"type": "user.created", "held": "yes"}).status_code == 200


@pytest.mark.parametrize("stream_ids", [5, [["est_nested"]], [None], "est_text"])
def test_a_held_row_with_malformed_stream_ids_fails_neither_the_admin_nor_the_release_of_others(
    stream, admin_client, stream_ids
):
    malformed, other = _broken(), _broken()
    fan_out()
    PendingEvents.objects.filter(pk=malformed.pk).update(stream_ids=stream_ids)
    assert admin_client.get("/admin/events/pendingevents/").status_code == 200
    assert admin_client.get(f"/admin/events/pendingevents/{malformed.pk}/change/").status_code == 200
    DBTaskResult.objects.all().delete()
    assert release_held_events(actor=SYSTEM) == 2
    assert DBTaskResult.objects.count() == 1  # the other row's stream gets its cue
    PendingEvents.objects.filter(pk=other.pk).delete()
    PendingEvents.objects.filter(pk=malformed.pk).update(time=malformed.time.replace(year=2000))
    assert sweep_deliveries() == []  # waiting, not held yet: the sweep passes it by rather than failing
    assert fan_out() == 0
    assert PendingEvents.objects.get().held_at is not None


def test_release_passes_by_an_id_no_row_can_have(stream, capsys):
    held = _broken()
    fan_out()
    assert release_held_events(ids=[10**30, -1, 0], actor=SYSTEM) == 0
    call_command("release_held_events", str(10**30), str(held.pk))
    assert "released 1 held row(s)" in capsys.readouterr().out


# Discarding: a held row that can never succeed is deleted for good, by id, audited; a waiting row never.


def _held_rows(count: int) -> list[PendingEvents]:
    rows = [_broken() for _ in range(count)]
    fan_out()
    return [PendingEvents.objects.get(pk=row.pk) for row in rows]


def _discard_audits() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(description__startswith="Discard held outbox row").order_by("id"))


def test_discard_deletes_only_held_rows_and_names_the_others(stream):
    first, second = _held_rows(2)
    _good("auth0|waiting")
    waiting = PendingEvents.objects.get(held_at__isnull=True)
    outcome = discard_held_events(ids=[second.pk, waiting.pk, first.pk, 999_999, 10**30, 0], actor=SYSTEM)
    assert [row.id for row in outcome.discarded] == [first.pk, second.pk]
    assert outcome.discarded[0] == DiscardedRow(
        id=first.pk, type="user.created", purpose="", held_reason=first.held_reason, events=1
    )
    assert outcome.not_held == [waiting.pk]
    assert outcome.not_found == [0, 999_999, 10**30]
    assert list(PendingEvents.objects.values_list("pk", flat=True)) == [waiting.pk]  # its events are still owed
    assert fan_out() == 1


def test_discard_writes_one_audit_row_per_discarded_row_naming_it_without_its_events(stream):
    first, second = _held_rows(2)
    PendingEvents.objects.filter(pk=second.pk).update(purpose="test")
    _good("auth0|waiting")
    actor = Actor(kind="system", id="operator")
    discard_held_events(ids=[first.pk, second.pk, PendingEvents.objects.get(held_at__isnull=True).pk], actor=actor)
    audits = _discard_audits()
    assert first.held_at is not None
    assert [a.description for a in audits] == [
        f"Discard held outbox row {first.pk} (user.created): {first.held_reason}",
        f"Discard held outbox row {second.pk} (user.created, purpose test): {second.held_reason}",
    ]
    assert all(a.type == "sapi" and (a.actor_kind, a.actor_id) == ("system", "operator") for a in audits)
    assert audits[0].details == {
        "pending_events_id": first.pk,
        "type": "user.created",
        "purpose": "",
        "held_at": first.held_at.isoformat(),
        "held_reason": first.held_reason,
        "render": f"{__name__}.render",
        "stream_ids": [stream.id],
        "events": 1,
    }
    for audit in audits:
        assert SECRET_VALUE not in audit.description and SECRET_VALUE not in json.dumps(audit.details)
        assert audit.user_id == audit.user_name == ""


def test_discard_of_a_row_whose_events_are_malformed_records_no_count(stream):
    [held] = _held_rows(1)
    PendingEvents.objects.filter(pk=held.pk).update(events="[not json")
    [row] = discard_held_events(ids=[held.pk], actor=SYSTEM).discarded
    assert row.events is None
    assert _discard_audits()[0].details["events"] is None


def test_discard_is_all_or_nothing(stream, monkeypatch):
    """The rows and their audit rows commit together: when one audit row cannot be written, no row is deleted."""
    from events import services

    first, second = _held_rows(2)
    real = services.record_held_row_discarded

    def fails_on_the_second(row: PendingEvents, **kwargs: Any) -> None:
        if row.pk == second.pk:
            raise OperationalError("database is locked")
        real(row, **kwargs)

    monkeypatch.setattr(services, "record_held_row_discarded", fails_on_the_second)
    with pytest.raises(OperationalError):
        discard_held_events(ids=[first.pk, second.pk], actor=SYSTEM)
    assert PendingEvents.objects.filter(held_at__isnull=False).count() == 2
    assert _discard_audits() == []


def test_discard_leaves_a_row_released_meanwhile(stream):
    [held] = _held_rows(1)
    release_held_events(ids=[held.pk], actor=SYSTEM)  # another operator, between the listing and the discard
    outcome = discard_held_events(ids=[held.pk], actor=SYSTEM)
    assert (outcome.discarded, outcome.not_held) == ([], [held.pk])
    assert PendingEvents.objects.filter(pk=held.pk).exists()
    assert _discard_audits() == []


def test_the_discard_command_reports_each_id_and_fails_when_nothing_was_discarded(stream, capsys):
    first, second = _held_rows(2)
    _good("auth0|waiting")
    waiting = PendingEvents.objects.get(held_at__isnull=True)
    call_command("discard_held_events", str(first.pk), str(waiting.pk), "999999")
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"discarded {first.pk}\tuser.created\t1 event(s) lost\t{first.held_reason}",
        "discarded 1 held row(s)",
    ]
    assert err.splitlines() == [
        f"not discarded {waiting.pk}: not held (waiting for the fan-out; its events will be delivered)",
        "not discarded 999999: no such row",
    ]
    assert SECRET_VALUE not in out + err
    assert set(PendingEvents.objects.values_list("pk", flat=True)) == {second.pk, waiting.pk}
    [audit] = _discard_audits()
    assert (audit.actor_kind, audit.actor_id) == ("system", "manage.py discard_held_events")

    with pytest.raises(CommandError, match="no held row discarded"):  # manage.py exits 1
        call_command("discard_held_events", str(first.pk), str(waiting.pk))
    assert PendingEvents.objects.filter(pk=waiting.pk).exists()


def test_the_discard_command_takes_explicit_ids_only_and_says_it_is_irreversible():
    from events.management.commands.discard_held_events import Command

    with pytest.raises(CommandError):
        call_command("discard_held_events")  # no "every held row"
    with pytest.raises(CommandError):
        call_command("discard_held_events", "--all")
    help_text = " ".join(Command().create_parser("manage.py", "discard_held_events").format_help().split())
    assert "cannot be undone" in help_text and "--all" not in help_text


def _confirm(client: Any, ids: list[int], query: str = "") -> Any:
    return client.post(
        f"/admin/events/pendingevents/{query}",
        {"action": "discard", "post": "yes", "_selected_action": ids},
        follow=True,
    )


def test_the_admin_asks_for_confirmation_listing_the_held_rows_then_discards_them(stream, admin_client):
    first, second = _held_rows(2)
    _good("auth0|waiting")
    waiting = PendingEvents.objects.get(held_at__isnull=True)
    page = admin_client.post(
        "/admin/events/pendingevents/", {"action": "discard", "_selected_action": [first.pk, waiting.pk]}
    )
    assert page.status_code == 200
    assert page.templates[0].name == "admin/events/pendingevents/discard_confirmation.html"
    assert "never delivered" in page.text and "cannot be undone" in page.text
    assert first.held_reason in page.text and stream.id in page.text
    assert [row.pk for row, _streams in page.context["held"]] == [first.pk]
    assert [row.pk for row in page.context["waiting"]] == [waiting.pk]
    assert f'name="_selected_action" value="{first.pk}"' in page.text
    assert f'name="_selected_action" value="{waiting.pk}"' not in page.text  # not offered for discarding
    assert SECRET_VALUE not in page.text and "suffix" not in page.text  # neither events nor renderer arguments
    assert PendingEvents.objects.count() == 3  # asking deletes nothing
    assert _discard_audits() == []

    done = _confirm(admin_client, [first.pk])
    assert "1 held row discarded: its events are lost." in done.text
    assert set(PendingEvents.objects.values_list("pk", flat=True)) == {second.pk, waiting.pk}
    [audit] = _discard_audits()
    assert (audit.actor_kind, audit.actor_id) == ("admin", "admin")


def test_the_admin_discards_nothing_when_no_selected_row_is_held(stream, admin_client):
    _good("auth0|waiting")
    waiting = PendingEvents.objects.get()
    page = admin_client.post(
        "/admin/events/pendingevents/", {"action": "discard", "_selected_action": [waiting.pk]}, follow=True
    )
    assert "None of the selected rows is held" in page.text
    done = _confirm(admin_client, [waiting.pk])  # posted as if confirmed: the service still refuses it
    assert f"Not discarded, not held (their events will be delivered): {waiting.pk}" in done.text
    assert PendingEvents.objects.filter(pk=waiting.pk).exists()


def test_a_row_released_between_the_confirmation_page_and_the_confirm_is_not_discarded(stream, admin_client):
    first, second = _held_rows(2)
    page = admin_client.post(
        "/admin/events/pendingevents/?held=yes", {"action": "discard", "_selected_action": [first.pk, second.pk]}
    )
    assert [row.pk for row, _streams in page.context["held"]] == [first.pk, second.pk]
    release_held_events(ids=[first.pk], actor=SYSTEM)  # another operator
    PendingEvents.objects.filter(pk=second.pk).delete()  # or gone meanwhile
    done = _confirm(admin_client, [first.pk, second.pk], "?held=yes")
    assert f"Not discarded, not held (their events will be delivered): {first.pk}" in done.text
    assert f"Not discarded, no longer there: {second.pk}" in done.text
    assert "discarded: its events are lost" not in done.text
    assert PendingEvents.objects.get().pk == first.pk
    assert _discard_audits() == []


def _staff(client: Any, *codenames: str) -> None:
    from django.contrib.auth.models import Permission, User

    staff = User.objects.create_user("operator", password="not-used-here-1", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="events", codename__in=codenames))
    client.force_login(staff)


def test_discarding_needs_the_delete_permission(stream, client):
    [held] = _held_rows(1)
    _staff(client, "view_pendingevents", "change_pendingevents")
    page = client.get("/admin/events/pendingevents/")
    assert 'value="release"' in page.text and 'value="discard"' not in page.text
    asked = client.post("/admin/events/pendingevents/", {"action": "discard", "_selected_action": [held.pk]})
    assert asked.status_code == 302  # "No action selected": no confirmation page
    _confirm(client, [held.pk])
    assert PendingEvents.objects.filter(pk=held.pk).exists()
    assert _discard_audits() == []


def test_the_delete_permission_discards_held_rows_only_through_the_action(stream, client):
    [held] = _held_rows(1)
    _good("auth0|waiting")
    waiting = PendingEvents.objects.get(held_at__isnull=True)
    _staff(client, "view_pendingevents", "delete_pendingevents")
    page = client.get("/admin/events/pendingevents/")
    assert 'value="discard"' in page.text
    assert 'value="delete_selected"' not in page.text and 'value="release"' not in page.text
    # Django's own delete stays off: it would take a waiting row as readily, unaudited.
    for pk in (held.pk, waiting.pk):
        assert client.post(f"/admin/events/pendingevents/{pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(
        "/admin/events/pendingevents/", {"action": "delete_selected", "post": "yes", "_selected_action": [waiting.pk]}
    )
    assert PendingEvents.objects.count() == 2
    _confirm(client, [held.pk])
    assert list(PendingEvents.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert [a.actor_id for a in _discard_audits()] == ["operator"]


def test_release_writes_one_audit_row_per_released_row_without_its_events(stream):
    first, second = _held_rows(2)
    _good("auth0|waiting")
    actor = Actor(kind="system", id="operator")
    assert release_held_events(ids=[second.pk, first.pk], actor=actor) == 2
    audits = list(AuditEvent.objects.filter(description__startswith="Release held outbox row").order_by("id"))
    assert [a.description for a in audits] == [
        f"Release held outbox row {first.pk} (user.created): {first.held_reason}",
        f"Release held outbox row {second.pk} (user.created): {second.held_reason}",
    ]
    assert all(a.type == "sapi" and (a.actor_kind, a.actor_id) == ("system", "operator") for a in audits)
    assert first.held_at is not None
    assert audits[0].details == {
        "pending_events_id": first.pk,
        "type": "user.created",
        "purpose": "",
        "held_at": first.held_at.isoformat(),
        "held_reason": first.held_reason,
        "stream_ids": [stream.id],
    }
    for audit in audits:
        assert SECRET_VALUE not in audit.description and SECRET_VALUE not in json.dumps(audit.details)
    assert release_held_events(ids=[first.pk], actor=actor) == 0  # released already: nothing more is audited
    assert AuditEvent.objects.filter(description__startswith="Release held outbox row").count() == 2
