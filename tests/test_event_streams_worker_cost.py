"""The worker's cost per create (issue 16) without a weaker guarantee: one ready delivery task per stream however
many creates (and the create that finds it is still delivered by it, without the sweep), a batch's attempts
recorded together with the exact run of failures, the stream disabled at exactly the limit, one kept-alive
connection per stream whose address is checked again for every task."""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any
from unittest import mock

import pytest
from django.db import connections, transaction
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.actors import SYSTEM
from events.delivery import (
    CLAIM_BATCH,
    IDLE_POOLS,
    RECHECK_EVERY,
    Outcome,
    Sender,
    claim_due,
    record_attempts,
    send_batch,
)
from events.fanout import fan_out
from events.models import Delivery, DeliveryStatus, EventStream, EventStreamStatus
from events.outbox import emit
from events.recovery import sweep_deliveries
from events.services import WebhookAuthorization, create_event_stream, update_event_stream
from events.tasks import deliver_due, deliver_stream, enqueue_delivery
from jobs.taskworker import TaskWorker
from tests.helpers import STRONG_PASSWORD, USERS
from tests.receiver import read_request, receiver, tls_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def insecure() -> Iterator[None]:
    """The local receiver is http on 127.0.0.1: allowed only with the development flag. No connection is left
    open from one test to the next."""
    IDLE_POOLS.close_all()
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True, EVENT_STREAMS_RETRY_BASE_SECONDS=60):
        yield
    IDLE_POOLS.close_all()


def make_stream(url: str, name: str = "crm") -> EventStream:
    return create_event_stream(
        name=name,
        subscriptions=["user.created"],
        webhook_endpoint=url,
        authorization=WebhookAuthorization(method="bearer", token="t0ken"),
        actor=SYSTEM,
    )


def ready_delivery_tasks(stream: EventStream) -> list[DBTaskResult]:
    return [
        task
        for task in DBTaskResult.objects.filter(status="READY", task_path=deliver_stream.module_path)
        if task.args_kwargs["args"] == [stream.id]
    ]


def profile(subject: str) -> list[tuple[str, dict[str, Any]]]:
    return [(subject, {"user_id": subject})]


def emit_users(*subjects: str) -> None:
    """``user.created`` events for ``subjects``, one transaction (a create's) each."""
    for subject in subjects:
        with transaction.atomic():
            emit("user.created", partial(profile, subject))


def run_ready_tasks() -> int:
    """The worker's loop without its housekeeping (so without the sweep): claim and run until nothing is ready."""
    worker = TaskWorker(worker_id="test-worker", interval=0, batch=True)
    ran = 0
    while (task := worker.claim_next()) is not None:
        worker.run_task(task)
        ran += 1
    return ran


@contextmanager
def _another_worker_claiming(stream: EventStream, hook: Any) -> Iterator[list[int]]:
    """Another worker's task, on a thread of its own: once ``hook`` got its first request, it claims the stream's due
    deliveries every 50 ms until the block ends; yields the ids of those it won."""
    won: list[int] = []
    done = threading.Event()

    def other_worker() -> None:
        try:
            hook.wait_for(1, timeout=10)
            while not done.is_set():
                won.extend(delivery.pk for delivery in claim_due(stream.pk, "other-worker"))
                time.sleep(0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        yield won
    finally:
        done.set()
        thread.join()


def test_a_hundred_creates_leave_one_ready_delivery_task_per_stream(api, connection, run_tasks, monkeypatch):
    monkeypatch.setattr("events.tasks.COALESCE_WINDOW", timedelta(hours=1))  # however slow the machine
    with receiver() as crm, receiver() as audit:
        streams = [make_stream(crm.url, "crm"), make_stream(audit.url, "audit")]
        for n in range(100):
            body = {"connection": connection.name, "email": f"u{n}@example.com", "password": STRONG_PASSWORD}
            assert api.post(USERS, {**body, "verify_email": False}, format="json").status_code == 201
        assert [len(ready_delivery_tasks(stream)) for stream in streams] == [1, 1]
        run_tasks()
        assert (len(crm.received), len(audit.received)) == (100, 100)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_an_emit_adds_a_task_when_the_ready_one_is_deferred_and_a_retry_none_when_one_runs_sooner():
    with receiver() as hook:
        stream = make_stream(hook.url)
        later = timezone.now() + timedelta(minutes=5)
        enqueue_delivery(stream.id, run_after=later)
        enqueue_delivery(stream.id, run_after=later + timedelta(minutes=1))  # the deferred one runs sooner
        assert len(ready_delivery_tasks(stream)) == 1
        enqueue_delivery(stream.id)  # a deferred task does not send now: a task is added
        enqueue_delivery(stream.id, run_after=later)  # the one due now runs sooner
        enqueue_delivery(stream.id)
        assert len(ready_delivery_tasks(stream)) == 2


def test_a_ready_task_older_than_the_window_takes_no_more_creates():
    with receiver() as hook:
        stream = make_stream(hook.url)
        emit_users("auth0|a")
        (old,) = ready_delivery_tasks(stream)
        DBTaskResult.objects.filter(pk=old.pk).update(enqueued_at=timezone.now() - timedelta(seconds=2))
        emit_users("auth0|b", "auth0|c")
        assert len(ready_delivery_tasks(stream)) == 2  # a fresh one, which the next create joined
        assert run_ready_tasks() == 2 and len(hook.received) == 3


@pytest.mark.django_db(transaction=True)
def test_a_create_committing_while_the_streams_task_is_ready_is_delivered_by_that_task_without_the_sweep():
    with receiver() as hook:
        stream = make_stream(hook.url)
        emit_users("auth0|first")
        (ready,) = ready_delivery_tasks(stream)
        emitted, committed_at = threading.Event(), []

        def create_and_commit_later() -> None:
            try:
                with transaction.atomic():
                    emit("user.created", partial(profile, "auth0|second"))
                    emitted.set()
                    time.sleep(0.5)  # the worker tries to claim the task meanwhile
                committed_at.append(time.monotonic())
            finally:
                connections.close_all()

        emitter = threading.Thread(target=create_and_commit_later)
        emitter.start()
        assert emitted.wait(10)
        worker = TaskWorker(worker_id="test-worker", interval=0, batch=True)
        deadline = time.monotonic() + 10
        while (task := worker.claim_next()) is None and time.monotonic() < deadline:
            time.sleep(0.02)  # PostgreSQL: the row is passed by while the emitter holds it
        claimed_at = time.monotonic()
        emitter.join()
        assert task is not None and task.pk == ready.pk  # the create added no task of its own
        assert committed_at[0] <= claimed_at  # the task could not start before the create committed
        worker.run_task(task)
        assert [event["data"]["object"]["user_id"] for event in hook.events()] == ["auth0|first", "auth0|second"]
        assert DBTaskResult.objects.filter(task_path=deliver_stream.module_path).count() == 1


@override_settings(EVENT_STREAMS_DISABLE_AFTER_FAILURES=10)
def test_a_batch_records_every_attempt_in_order_and_the_run_of_failures_as_one_at_a_time_would():
    with receiver(answers=[(500, {}, 0), (200, {}, 0), (503, {}, 0), (404, {}, 0)]) as hook:
        stream = make_stream(hook.url)
        EventStream.objects.filter(pk=stream.pk).update(consecutive_failures=4)
        emit_users("auth0|a", "auth0|b", "auth0|c", "auth0|d")
        assert run_ready_tasks() == 1
        assert len(hook.received) == 4
    rows = {d.subject: d for d in Delivery.objects.prefetch_related("attempts")}
    assert [(rows[s].status, rows[s].attempt_count, rows[s].last_status_code) for s in sorted(rows)] == [
        (DeliveryStatus.PENDING, 1, 500),  # retried later
        (DeliveryStatus.DELIVERED, 1, 200),
        (DeliveryStatus.PENDING, 1, 503),
        (DeliveryStatus.FAILED, 1, 404),  # not worth trying again
    ]
    assert [[a.status for a in rows[s].attempts.all()] for s in sorted(rows)] == [
        ["failed"],
        ["delivered"],
        ["failed"],
        ["failed"],
    ]
    assert rows["auth0|a"].next_attempt_at > timezone.now() and rows["auth0|a"].claimed_by == ""
    assert rows["auth0|b"].delivered_at is not None and rows["auth0|b"].claimed_until is None
    stream.refresh_from_db()
    # 4 before, +1 (a), reset by b, +1 (c), +1 (d): 2, not 4 + 3 failures.
    assert (stream.status, stream.consecutive_failures) == (EventStreamStatus.ENABLED, 2)


@override_settings(EVENT_STREAMS_DISABLE_AFTER_FAILURES=3)
def test_the_stream_is_disabled_at_exactly_the_limit_inside_a_batch_and_the_rest_is_not_sent():
    with receiver(default=(500, {}, 0)) as hook:
        stream = make_stream(hook.url)
        EventStream.objects.filter(pk=stream.pk).update(consecutive_failures=1)
        emit_users("auth0|a", "auth0|b", "auth0|c", "auth0|d")
        run_ready_tasks()
        assert [event["data"]["object"]["user_id"] for event in hook.events()] == [
            "auth0|a",
            "auth0|b",
        ]  # 1 + 2 = the limit
    stream.refresh_from_db()
    assert (stream.status, stream.disabled_reason, stream.consecutive_failures) == ("disabled", "failures", 3)
    rows = {d.subject: d for d in Delivery.objects.all()}
    assert [(rows[s].status, rows[s].attempt_count) for s in sorted(rows)] == [
        (DeliveryStatus.FAILED, 1),
        (DeliveryStatus.FAILED, 1),
        (DeliveryStatus.FAILED, 0),  # never sent: failed with the stream
        (DeliveryStatus.FAILED, 0),
    ]
    assert {rows[s].claimed_by for s in rows} == {""}
    assert rows["auth0|d"].last_error == "the event stream was disabled after failed deliveries"


def test_one_kept_alive_connection_serves_a_batch_and_the_streams_next_task():
    with receiver(keep_alive=True) as hook:
        make_stream(hook.url)
        emit_users("auth0|a", "auth0|b", "auth0|c")
        run_ready_tasks()
        emit_users("auth0|d")
        run_ready_tasks()
        assert len(hook.received) == 4
        assert len({request.port for request in hook.received}) == 1


def test_the_next_task_checks_the_address_again_before_using_the_kept_connection(monkeypatch: Any):
    import events.delivery

    with receiver(keep_alive=True) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        run_ready_tasks()
        resolve = mock.Mock(side_effect=OSError("no such host"))
        monkeypatch.setattr(events.delivery, "resolve", resolve)
        emit_users("auth0|b")
        run_ready_tasks()
        assert resolve.called and len(hook.received) == 1  # not sent over the connection the first check allowed
    failed = Delivery.objects.get(subject="auth0|b")
    assert (failed.status, failed.last_error) == (DeliveryStatus.PENDING, "OSError: no such host")


def test_a_retry_waited_on_by_later_deliveries_of_its_subject_gets_its_task_without_the_sweep():
    with receiver(answers=[(500, {}, 0)]) as hook:
        stream = make_stream(hook.url)
        emit_users("auth0|a", "auth0|a")  # the second waits on the first, which fails and waits for its retry
        assert run_ready_tasks() == 1 and len(hook.received) == 1
        first, second = Delivery.objects.order_by("pk")
        assert (first.status, first.attempt_count, second.attempt_count) == (DeliveryStatus.PENDING, 1, 0)
        assert second.next_attempt_at < timezone.now() < first.next_attempt_at
        (retry,) = ready_delivery_tasks(stream)  # the task for the first one's retry (the second is due, but waits)
        assert retry.run_after == first.next_attempt_at


def test_the_sweep_leaves_alone_a_stream_whose_overdue_delivery_waits_on_its_subjects_retry():
    with receiver(answers=[(500, {}, 0)]) as hook:
        stream = make_stream(hook.url)
        emit_users("auth0|a", "auth0|a")
        assert run_ready_tasks() == 1
        first, second = Delivery.objects.order_by("pk")
        Delivery.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))
        assert first.next_attempt_at > timezone.now()
        assert sweep_deliveries() == []  # nothing can be sent before the retry, whose task is queued
        Delivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=1))
        assert sweep_deliveries() == [stream.id]


def test_a_kept_alive_connection_closed_under_a_request_is_replaced_at_once_without_a_failed_attempt():
    """The receiver's idle timeout closes the kept connection as the next task's request arrives: the request goes
    again at once on a new connection, and no attempt fails (nor waits for a backoff)."""
    with receiver(keep_alive=True, close_idle_after=0.2) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        run_ready_tasks()
        time.sleep(0.3)  # idle for longer than the receiver keeps a connection
        emit_users("auth0|b")
        run_ready_tasks()
        assert (len(hook.received), hook.dropped) == (2, 1)
        assert hook.received[0].port != hook.received[1].port  # the second went on a new connection
    rows = Delivery.objects.prefetch_related("attempts").order_by("pk")
    assert [(d.status, [a.status for a in d.attempts.all()]) for d in rows] == [
        (DeliveryStatus.DELIVERED, ["delivered"]),
        (DeliveryStatus.DELIVERED, ["delivered"]),
    ]


def test_a_new_connection_closed_under_its_request_is_a_failed_attempt_sent_once():
    with receiver(keep_alive=True, drop=1) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        run_ready_tasks()
        assert (len(hook.received), hook.dropped) == (0, 1)  # not sent again: the receiver itself refused it
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)  # retried after the backoff
    assert delivery.last_error.startswith("ProtocolError")


def test_a_kept_alive_connection_closed_under_a_request_and_its_resend_is_one_failed_attempt():
    with receiver(keep_alive=True, close_idle_after=0.2) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        run_ready_tasks()
        time.sleep(0.3)
        hook.drop = 2  # the kept connection's request, and the new connection's as well
        emit_users("auth0|b")
        run_ready_tasks()
        assert (len(hook.received), hook.dropped) == (1, 2)  # sent again once, not more
    delivery = Delivery.objects.get(subject="auth0|b")
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)
    assert [a.status for a in delivery.attempts.all()] == ["failed"]


def test_an_answer_cut_on_a_kept_alive_connection_is_a_failed_attempt_never_sent_again():
    """The receiver got the request and began its answer (status line, headers, part of the body) before the
    connection was reset: not the idle-timeout race the resend is for. Sending it again would deliver it twice."""
    with receiver(keep_alive=True) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        run_ready_tasks()
        hook.cut_answer = 1
        emit_users("auth0|b")
        run_ready_tasks()
        assert [request.event["data"]["object"]["user_id"] for request in hook.received] == ["auth0|a", "auth0|b"]
    delivery = Delivery.objects.get(subject="auth0|b")
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 1)  # retried after the backoff
    assert [a.status for a in delivery.attempts.all()] == ["failed"]
    assert delivery.last_error.startswith("ProtocolError") and "Connection broken" in delivery.last_error


def test_an_answer_trickling_without_end_costs_one_timeout_not_the_workers_time():
    """A receiver that sends its status line, then its body a byte at a time (each within the read timeout):
    reading it all held the worker (one task at a time, every stream's) as long as the receiver wished, past the
    claim. The body is read for the request's timeout at most; the status decides the attempt."""
    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.5), receiver(trickle=(0.05, 3.0)) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        started = time.monotonic()
        run_ready_tasks()
        assert time.monotonic() - started < 2.5
        assert len(hook.received) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 200)


@pytest.mark.django_db(transaction=True)  # the other worker's claims, from another thread, see the batch's
def test_a_batch_slower_than_its_claim_keeps_it_and_no_other_worker_claims_its_deliveries_meanwhile():
    """Eight subjects' deliveries, each answered in 0.3 s, with a claim of 1 s: the batch outlasted its claim, and
    another worker's task (here: claims made every 50 ms from another thread) took the deliveries not yet recorded,
    sent or not, and sent them at the same time (and a subject's next event could overtake the first worker's copy
    of the one before it). The claim is renewed while the batch is sent, and no request outlasts it."""
    with (
        override_settings(EVENT_STREAMS_CLAIM_SECONDS=1.0, EVENT_STREAMS_TIMEOUT_SECONDS=0.6),
        receiver(default=(200, {}, 0.3), keep_alive=True) as hook,
    ):
        stream = make_stream(hook.url)
        emit_users(*(f"auth0|{n}" for n in range(8)))
        fan_out()
        with _another_worker_claiming(stream, hook) as won:
            deliver_due(stream.pk)
        assert won == []
        assert sorted(r.event["data"]["object"]["user_id"] for r in hook.received) == [f"auth0|{n}" for n in range(8)]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


@pytest.mark.django_db(transaction=True)
def test_no_request_outlasts_its_claim():
    """A claim shorter than the answer's deadlines (1 s, against 2 x 1 s) and a receiver answering in 1.6 s: the
    request went on past the claim, which another worker's task took and sent it with. The request is cut where
    the claim ends, a failed attempt to be retried; meanwhile nobody else claims the delivery."""
    with (
        override_settings(EVENT_STREAMS_CLAIM_SECONDS=1.0, EVENT_STREAMS_TIMEOUT_SECONDS=1.0),
        receiver(default=(200, {}, 1.6)) as hook,
    ):
        stream = make_stream(hook.url)
        emit_users("auth0|a")
        fan_out()
        with _another_worker_claiming(stream, hook) as won:
            deliver_due(stream.pk)
            time.sleep(0.8)  # past the end of the request the receiver would have answered
    assert won == []
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.claimed_by) == (DeliveryStatus.PENDING, "")
    assert (
        delivery.last_error == "AnswerTimeout: no answer before the delivery's claim ran out (status line and headers)"
    )


def test_a_slow_receivers_backlog_leaves_the_worker_to_other_streams_between_its_turns(monkeypatch: Any):
    """Eleven deliveries to a receiver answering in 0.3 s each, then one to another stream: the slow stream's task
    sent its whole backlog before the worker (one task at a time) ran anything else. After its turn (0.5 s here) it
    queues the rest in a new task, behind the other stream's."""
    monkeypatch.setattr("events.tasks.TURN_SECONDS", 0.5)
    with receiver(default=(200, {}, 0.3), keep_alive=True) as slow, receiver() as fast:
        make_stream(slow.url, "slow")
        emit_users(*(f"auth0|{n:02}" for n in range(10)))
        make_stream(fast.url, "fast")
        emit_users("auth0|fast")
        run_ready_tasks()
        assert (len(slow.received), len(fast.received)) == (11, 1)
        assert fast.received[0].at < slow.received[4].at  # after the slow stream's first turn, not its backlog
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_an_attempt_recorded_after_another_worker_took_the_delivery_over_leaves_it_to_that_worker():
    """A worker whose claim lapsed (stalled past it) records its attempt: the delivery, which another worker claimed
    meanwhile and is sending, is not marked delivered under it (a subject's next event would then be claimable
    before that worker's copy went out). The attempt itself is listed."""
    stream = make_stream("http://127.0.0.1:9/hooks")
    emit_users("auth0|a")
    fan_out()
    [delivery] = claim_due(stream.pk, "first-worker")
    Delivery.objects.filter(pk=delivery.pk).update(claimed_by="second-worker")  # its claim lapsed and was taken
    record_attempts(stream.pk, "first-worker", [delivery], [Outcome(True, False, 200, "", 1.0)])
    row = Delivery.objects.get()
    assert (row.status, row.claimed_by, row.attempt_count) == (DeliveryStatus.PENDING, "second-worker", 0)
    assert [attempt.status for attempt in row.attempts.all()] == ["delivered"]


def test_an_answer_whose_trailer_lines_never_end_costs_one_deadline_not_the_workers_time():
    """A chunked answer whose last chunk is followed by trailer lines, one at a time within the read timeout:
    http.client reads trailer lines until an empty one, however many, inside one read of the body, so the worker
    (one task at a time, for every stream and mail) was held as long as the receiver liked, past the delivery's
    claim. The body's read has a deadline too; the status decides the attempt."""
    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.5), receiver(trailers=(0.05, 5.0)) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        started = time.monotonic()
        run_ready_tasks()
        assert time.monotonic() - started < 3.0
        assert len(hook.received) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 200)


def test_an_answer_whose_headers_trickle_without_end_costs_one_deadline_not_the_workers_time():
    """A receiver that sends its status line and then a header a byte at a time, each within the read timeout:
    urllib3's timeouts bound each read, so the worker (one task at a time, for every stream and mail) was held as
    long as the receiver liked. The answer has a deadline (a timeout to connect and one to answer): past it the
    connection is shut and the attempt fails, to be retried."""
    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.5), receiver(trickle_headers=(0.05, 5.0)) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        started = time.monotonic()
        run_ready_tasks()
        assert time.monotonic() - started < 3.0
        assert len(hook.received) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, None)
    assert delivery.last_error == "AnswerTimeout: no answer within 1 s (status line and headers)"


def test_a_slow_answer_within_the_deadline_is_delivered():
    """An honest receiver that takes most of the timeout to answer is not cut by the deadline."""
    # 0.6 of a 1 s timeout: the answer waits most of it, with room for a loaded machine's scheduling (0.4 of 0.5
    # left 0.1 s).
    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=1.0), receiver(default=(200, {}, 0.6)) as hook:
        make_stream(hook.url)
        emit_users("auth0|a", "auth0|b")
        run_ready_tasks()
    assert sorted(Delivery.objects.values_list("status", flat=True)) == [DeliveryStatus.DELIVERED] * 2


def test_an_answer_cut_in_its_headers_leaves_no_endpoint_path_or_query_in_the_logs(caplog):
    """urllib3 logs a URL whose headers do not parse (WARNING: "Failed to parse headers (url=...)", which the
    deadline causes when it cuts trickling headers) and every request (DEBUG): the endpoint's path and query, which
    may carry a token, are not written; the address is."""
    caplog.set_level(logging.DEBUG)
    # A deadline of 2 s for the status line and headers (twice the timeout): at 0.6 s a loaded machine's receiver
    # thread sometimes had not sent the status line yet, and the answer failed before its headers were parsed.
    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=1.0), receiver(trickle_headers=(0.02, 5.0)) as hook:
        make_stream(hook.url.replace("/hooks", "/hooks/p4th-k3y") + "?token=qu3ry-k3y")
        emit_users("auth0|a")
        run_ready_tasks()
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any(line.startswith("Failed to parse headers (url=http://127.0.0.1:") for line in urllib3_lines)
    assert any('"POST /… HTTP/1.1"' in line for line in urllib3_lines)
    assert not [line for line in caplog.messages if "k3y" in line]


def _trickle_headers(conn: socket.socket, seconds: float) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        conn.sendall(b"X")  # one header line, never finished
        time.sleep(0.05)


def test_tls_answers_headers_trickling_without_end_cost_one_deadline_and_honest_ones_keep_their_connection(
    monkeypatch,
):
    """Over TLS the deadline shuts the TLS socket's connection under the reading thread: the attempt fails with
    ``AnswerTimeout`` at the deadline. An honest TLS receiver keeps one connection for two tasks."""

    def trickling(index: int, raw: socket.socket, wrap: Any) -> None:
        conn = wrap(raw)
        read_request(conn)
        _trickle_headers(conn, 5.0)

    def honest(index: int, raw: socket.socket, wrap: Any) -> None:
        conn = wrap(raw)
        while read_request(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.5), tls_server(trickling) as hook:
        monkeypatch.setenv("SSL_CERT_FILE", hook.cert_file)
        make_stream(hook.url)
        emit_users("auth0|a")
        started = time.monotonic()
        run_ready_tasks()
        assert time.monotonic() - started < 3.0
    assert Delivery.objects.get().last_error == "AnswerTimeout: no answer within 1 s (status line and headers)"
    EventStream.objects.all().delete()
    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.5), tls_server(honest) as hook:
        monkeypatch.setenv("SSL_CERT_FILE", hook.cert_file)
        make_stream(hook.url, "honest")
        emit_users("auth0|b")
        run_ready_tasks()
        emit_users("auth0|c")
        run_ready_tasks()
        assert hook.connections == 1
    assert list(Delivery.objects.values_list("status", flat=True)) == [DeliveryStatus.DELIVERED] * 2


def test_a_resend_still_connecting_at_the_deadline_is_cut_once_connected(monkeypatch):
    """The deadline found no socket to shut (the resend's new connection was in its TLS handshake, which the
    receiver held) and gave the request up: the receiver then trickled the headers for as long as it liked. Here:
    on the kept-alive connection, a status line and a header trickle for 0.7 s (1.4 timeouts), then a reset (the
    sender's resend-once case); the new connection's handshake waits 0.4 s, past the 1 s deadline, and its headers
    then trickle for 8 s."""
    timeout = 0.5

    def script(index: int, raw: socket.socket, wrap: Any) -> None:
        if index > 0:
            time.sleep(0.8 * timeout)
            conn = wrap(raw)
            read_request(conn)
            _trickle_headers(conn, 8.0)
            return
        conn = wrap(raw)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        read_request(conn)
        _trickle_headers(conn, 1.4 * timeout)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # the close resets
        socket.socket(fileno=conn.detach()).close()

    with override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=timeout), tls_server(script) as hook:
        monkeypatch.setenv("SSL_CERT_FILE", hook.cert_file)
        make_stream(hook.url)
        emit_users("auth0|a")
        run_ready_tasks()
        emit_users("auth0|b")
        started = time.monotonic()
        run_ready_tasks()
        assert time.monotonic() - started < 3.0
        assert hook.connections == 2  # the resend's connection was made
    assert Delivery.objects.get(subject="auth0|b").last_error == (
        "AnswerTimeout: no answer within 1 s (status line and headers)"
    )


def _disabling_after(sends: int, stream: EventStream) -> Any:
    """``Sender.send`` that has the operator disable the stream (committed: the worker's reads see it) once
    ``sends`` requests were made: the PATCH arriving while the worker sends a batch."""
    real, made = Sender.send, []

    def send(self: Sender, delivery: Delivery, **kwargs: Any) -> Any:
        outcome = real(self, delivery, **kwargs)
        made.append(delivery.pk)
        if len(made) == sends:
            update_event_stream(stream_id=stream.id, status=EventStreamStatus.DISABLED, actor=SYSTEM)
        return outcome

    return mock.patch.object(Sender, "send", send)


def test_an_operator_disabling_the_stream_mid_batch_stops_it_within_the_bound_and_the_rest_waits():
    with receiver() as hook:
        stream = make_stream(hook.url)
        emit_users(*(f"auth0|{n:02}" for n in range(CLAIM_BATCH)))
        with _disabling_after(2, stream):
            run_ready_tasks()
        assert 2 < len(hook.received) <= 2 + RECHECK_EVERY  # not the whole batch of 20
        sent = len(hook.received)
        rows = list(Delivery.objects.order_by("pk"))
        assert [row.status for row in rows] == [DeliveryStatus.DELIVERED] * sent + [DeliveryStatus.PENDING] * (
            CLAIM_BATCH - sent
        )
        assert {row.claimed_by for row in rows} == {""}  # released, not left claimed until the claim lapses
        assert all(row.attempt_count == 0 for row in rows[sent:])
        update_event_stream(stream_id=stream.id, status=EventStreamStatus.ENABLED, actor=SYSTEM)
        run_ready_tasks()
        assert len(hook.received) == CLAIM_BATCH == len({request.event["id"] for request in hook.received})


def test_a_slow_send_has_the_stream_read_again_before_the_next_one(monkeypatch: Any):
    monkeypatch.setattr("events.delivery.RECHECK_SECONDS", 0.1)
    with receiver(default=(200, {}, 0.15)) as hook:
        stream = make_stream(hook.url)
        emit_users("auth0|a", "auth0|b", "auth0|c")
        with _disabling_after(1, stream):
            run_ready_tasks()
        assert len(hook.received) == 1
    assert [row.status for row in Delivery.objects.order_by("pk")] == [
        DeliveryStatus.DELIVERED,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
    ]


def test_a_full_batch_of_fast_sends_reads_the_stream_a_few_times_not_once_per_delivery(
    django_assert_max_num_queries: Any,
):
    with receiver() as hook:
        stream = make_stream(hook.url)
        emit_users(*(f"auth0|{n:02}" for n in range(CLAIM_BATCH)))
        run_ready_tasks()  # fan-out, claim: only the sends are measured below
        assert len(hook.received) == CLAIM_BATCH
        Delivery.objects.update(status=DeliveryStatus.PENDING)
        batch = list(Delivery.objects.select_related("event").order_by("pk"))
        sender = Sender(EventStream.objects.get(pk=stream.pk))
        try:
            with django_assert_max_num_queries(CLAIM_BATCH // RECHECK_EVERY - 1):
                outcomes = send_batch(sender, batch, consecutive_failures=0)
        finally:
            sender.close()
    assert [outcome.delivered for outcome in outcomes] == [True] * CLAIM_BATCH


def test_a_subjects_next_delivery_is_sent_by_the_same_task_once_the_one_before_it_is_delivered():
    with receiver() as hook:
        stream = make_stream(hook.url)
        emit_users("auth0|a", "auth0|a", "auth0|b")  # a's second waits on its first, claimed in the first batch
        assert run_ready_tasks() == 1
        assert [event["data"]["object"]["user_id"] for event in hook.events()] == ["auth0|a", "auth0|b", "auth0|a"]
        assert ready_delivery_tasks(stream) == []  # nothing left for another task or the sweep
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_plain_reads_build_the_rows_the_orm_builds():
    """``core.db.read_models`` (the worker's stream, delivery, event and task reads): every field as a queryset
    gives it (aware datetimes, decoded JSON)."""
    from core.db import columns, read_models
    from events.models import Event

    with receiver(answers=[(500, {}, 0)]) as hook:
        make_stream(hook.url)
        emit_users("auth0|a")
        run_ready_tasks()
    for model in (EventStream, Delivery, Event, DBTaskResult):
        table = connections["default"].ops.quote_name(model._meta.db_table)
        plain = read_models(model, f"SELECT {columns(model)} FROM {table}", [])  # noqa: S608 (our names)
        orm = list(model.objects.all())
        assert plain and {row.pk for row in plain} == {row.pk for row in orm}
        by_pk = {row.pk: row for row in orm}
        for row in plain:
            for field in model._meta.concrete_fields:
                assert getattr(row, field.attname) == getattr(by_pk[row.pk], field.attname), field.name
    some = ("pk", "created_at", "name")  # only these, as ``only()`` would: the others are deferred
    table = connections["default"].ops.quote_name(EventStream._meta.db_table)
    sql = f"SELECT {columns(EventStream, fields=some)} FROM {table}"  # noqa: S608 (our names)
    (stream,) = read_models(EventStream, sql, [], fields=some)
    concrete = {field.attname for field in EventStream._meta.concrete_fields}
    assert stream.get_deferred_fields() == concrete - {"id", "name", "created_at"}
    assert (stream.name, stream.created_at) == EventStream.objects.values_list("name", "created_at").get()


def test_a_delivery_task_for_one_event_runs_a_dozen_statements():
    """The idle worker's case (each create's task taken at once, nothing to coalesce): the fan-out, the stream, the
    claim, the record and one look at what is left, in plain statements (16 before issue 16's second pass)."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from events.tasks import deliver_due

    with receiver() as hook:
        stream = make_stream(hook.url)
        emit_users("auth0|a")
        with CaptureQueriesContext(db) as queries:
            assert deliver_due(stream.id) == 1
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 12 + (db.vendor == "postgresql"), statements  # PostgreSQL: the fan-outs' lock


def test_a_streams_next_sender_reuses_its_decrypted_secrets_until_a_secret_endpoint_or_key_changes():
    """``Sender`` keeps what it derives from the stream's stored secrets (decrypting them was a twentieth of a
    one-event task) for the stream's next task, but decrypts again when the stored secrets, the endpoint or the
    configured keys change: a SECRET_KEY rotated without its fallback still makes the next ``Sender`` fail."""
    from core.crypto import SecretDecryptionError, decrypt_secret

    stream = make_stream("http://127.0.0.1:9/events")
    with mock.patch("events.delivery.decrypt_secret", wraps=decrypt_secret) as spy:
        first = Sender(EventStream.objects.get(pk=stream.pk))
        again = Sender(EventStream.objects.get(pk=stream.pk))
        assert spy.call_count == 2  # the authorization and the signing secret, once
        assert (again.authorization, again.webhook, again.endpoint) == (
            first.authorization,
            first.webhook,
            first.endpoint,
        )
        assert first.authorization == "Bearer t0ken"

        update_event_stream(
            stream_id=stream.id, authorization=WebhookAuthorization(method="bearer", token="n3w"), actor=SYSTEM
        )
        spy.reset_mock()
        changed = Sender(EventStream.objects.get(pk=stream.pk))
        assert changed.authorization == "Bearer n3w" and spy.call_count == 2

        rotated = override_settings(SECRET_KEY="another-key-entirely", SECRET_KEY_FALLBACKS=[])
        with rotated, pytest.raises(SecretDecryptionError):
            Sender(EventStream.objects.get(pk=stream.pk))
        assert Sender(EventStream.objects.get(pk=stream.pk)).authorization == "Bearer n3w"


def test_an_earlier_deadline_wakes_the_watchdog_and_later_ones_need_no_wake():
    """``AnswerDeadlines`` wakes its thread only for a deadline earlier than the one it sleeps until: a request's
    deadline is later than those before it, so requests in a row cost no wake each, yet a shorter deadline (another
    thread's request with a smaller timeout) still expires on time."""
    from types import SimpleNamespace

    from events.delivery import AnswerDeadlines

    deadlines = AnswerDeadlines()
    late = deadlines.watch(SimpleNamespace(current=None), time.monotonic() + 30)  # type: ignore[arg-type]
    time.sleep(0.05)  # the thread now sleeps until the late deadline
    soon = deadlines.watch(SimpleNamespace(current=None), time.monotonic() + 0.2)  # type: ignore[arg-type]
    deadline = time.monotonic() + 2
    while not soon.expired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert soon.expired and not late.expired
    deadlines.unwatch(soon)
    deadlines.unwatch(late)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_the_watchdog_holds_its_lock_can_still_send():
    """A process forked while the deadlines' thread held its lock (it was shutting a socket) gets a fresh
    ``ANSWER_DEADLINES`` (``os.register_at_fork``): its first request's watch would otherwise wait for a lock no
    thread of the child will ever release."""
    from types import SimpleNamespace

    from events.delivery import ANSWER_DEADLINES

    with ANSWER_DEADLINES._changed:  # as the thread holds it while it looks at the watches
        pid = os.fork()
        if pid == 0:  # the child: a watch that expires, within two seconds, or the alarm ends it
            code = 1
            try:
                signal.alarm(2)
                watch = ANSWER_DEADLINES.watch(SimpleNamespace(current=None), time.monotonic() + 0.05)  # type: ignore[arg-type]
                while not watch.expired:
                    time.sleep(0.01)
                ANSWER_DEADLINES.unwatch(watch)
                code = 0
            finally:
                os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_slow_streams_tasks_queued_before_its_turn_ended_take_no_turn_of_their_own(monkeypatch: Any):
    """A stream under load gets a task a second, and the worker claims the ready tasks together: each of a slow
    stream's tasks took a whole turn, one after another, the other stream's task behind them all. The task queued at
    the end of a turn stands for those queued before it, which end at once; it runs behind the other stream's."""
    monkeypatch.setattr("events.tasks.TURN_SECONDS", 0.5)
    with receiver(default=(200, {}, 0.3), keep_alive=True) as slow, receiver() as fast:
        slow_stream = make_stream(slow.url, "slow")
        emit_users(*(f"auth0|{n:02}" for n in range(8)))
        for _ in range(3):  # what a second of creates each would have queued
            deliver_stream.enqueue(slow_stream.id)
        make_stream(fast.url, "fast")
        emit_users("auth0|fast")
        run_ready_tasks()
        assert (len(slow.received), len(fast.received)) == (9, 1)
        # The slow stream's first turn (two answers), then the other stream, not three more turns first.
        assert slow.received[1].at < fast.received[0].at < slow.received[2].at
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_a_task_joined_after_its_turns_successor_ran_sends_what_it_was_joined_for(monkeypatch: Any):
    """A turn's end notes the stream's ready task as stood for by the turn's successor. Joined afterwards (a create's
    ``enqueue_delivery``: on PostgreSQL the create holds its row ``FOR SHARE``, and the worker's claim, passing it
    by, takes the successor and runs it before the create commits), it must still send the create's delivery when
    its successor ran already: it ended at once, and the delivery waited for the sweep."""
    monkeypatch.setattr("events.tasks.TURN_SECONDS", 0.0)
    monkeypatch.setattr("events.tasks.COALESCE_WINDOW", timedelta(hours=1))  # however slow the machine
    with receiver() as hook:
        stream = make_stream(hook.url)
        emit_users(*(f"auth0|{n:02}" for n in range(CLAIM_BATCH + 1)))
        [queued] = ready_delivery_tasks(stream)
        deliver_due(stream.pk)  # another task's turn, then a successor, which stands for ``queued``
        # The successor runs while a create holds ``queued`` (kept from this claim here by a later run_after).
        DBTaskResult.objects.filter(pk=queued.pk).update(run_after=timezone.now() + timedelta(hours=1))
        run_ready_tasks()
        assert len(hook.received) == CLAIM_BATCH + 1
        DBTaskResult.objects.filter(pk=queued.pk).update(run_after=queued.run_after)
        emit_users("auth0|late")  # the create commits: its delivery joins ``queued``
        assert [task.pk for task in ready_delivery_tasks(stream)] == [queued.pk]
        run_ready_tasks()
        assert len(hook.received) == CLAIM_BATCH + 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


@pytest.mark.parametrize("retryable", [True, False], ids=["retryable", "final"])
def test_a_failure_recorded_after_another_worker_delivered_the_delivery_leaves_it_delivered(retryable: bool):
    """A worker whose claim lapsed (its request ended at the claim's end, then it stalled) records its failure after
    another worker claimed the delivery, sent it and recorded it delivered (released: ``claimed_by`` empty, as a
    disable leaves it): the delivery stays delivered, neither failed nor with a retry; the attempt is listed."""
    stream = make_stream("http://127.0.0.1:9/hooks")
    emit_users("auth0|a")
    fan_out()
    [delivery] = claim_due(stream.pk, "first-worker")
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))  # lapsed
    [again] = claim_due(stream.pk, "second-worker")
    record_attempts(stream.pk, "second-worker", [again], [Outcome(True, False, 200, "", 1.0)])
    failure = Outcome(False, retryable, 503 if retryable else 400, "HTTP 503" if retryable else "HTTP 400", 1.0)
    record_attempts(stream.pk, "first-worker", [delivery], [failure])
    row = Delivery.objects.get()
    assert (row.status, row.attempt_count, row.last_error) == (DeliveryStatus.DELIVERED, 1, "")
    assert sorted(attempt.status for attempt in row.attempts.all()) == ["delivered", "failed"]
