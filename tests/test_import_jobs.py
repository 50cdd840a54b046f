"""Bulk import jobs: ``POST /api/v2/jobs/users-imports``, ``GET /api/v2/jobs/{id}[/errors]`` and the
``run_jobs`` worker (claims, heartbeats, take-overs, restarts, the 24 h purge), through real URLs and tokens."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import DataError
from django.utils import timezone

from audit.models import Event
from clients.services import create_client
from core.actors import SYSTEM, Actor
from core.jsonsize import stored_json_size
from jobs import worker as jobs_worker
from jobs.models import Job, JobStatus
from jobs.services import beat, claim_job, release_job
from jobs.worker import Worker, _Heartbeat
from tests.helpers import stored_emails
from tests.live import ROOT, database_url
from users.imports import ImportSummary, import_users
from users.models import User

URL = "/api/v2/jobs/users-imports"
GOOD_USERS: list[dict[str, Any]] = [
    {"email": "ann@example.com", "email_verified": True},
    {"email": "bob@example.com"},
    {"email": "cat@example.com", "given_name": "Cat"},
]
BAD_USER = {"email": "not-an-email", "password_hash": "$2b$10$secretsecretsecretsecretsecretsecretsecretsecretsecre"}


def users_file(users: object = None, name: str = "users.json") -> SimpleUploadedFile:
    content = users if isinstance(users, bytes) else json.dumps(GOOD_USERS if users is None else users).encode()
    return SimpleUploadedFile(name, content, content_type="application/json")


@pytest.fixture
def importer(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users read:users')}")
    return api_client


@pytest.fixture
def post_import(importer, connection):
    def post(users: object = None, **parts: object):
        headers = _headers(parts)
        data: dict[str, object] = {"connection_id": connection.id, **parts}
        if users is not False:
            data["users"] = users_file(users)
        data = {key: value for key, value in data.items() if value is not None}
        return importer.post(URL, data, format="multipart", **headers)

    return post


def _headers(parts: dict[str, object]) -> dict[str, str]:
    language = parts.pop("_language", None)
    return {"HTTP_ACCEPT_LANGUAGE": str(language)} if language else {}


def envelope(status: int, error: str, message: str, code: str) -> dict[str, object]:
    return {"statusCode": status, "error": error, "message": message, "errorCode": code}


def without_errors(body: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in body.items() if key != "errors"}


# --- POST /api/v2/jobs/users-imports -------------------------------------------------------------------------


def test_create_answers_202_with_auth0s_job_body(post_import, connection):
    response = post_import(external_id="migration-7", upsert="true", send_completion_email="false")
    assert response.status_code == 202
    body = response.json()
    assert body == {
        "type": "users_import",
        "status": "pending",
        "connection_id": connection.id,
        "connection": "Username-Password-Authentication",
        "created_at": body["created_at"],
        "id": body["id"],
        "external_id": "migration-7",
    }
    assert len(body["id"]) == 20 and body["id"].startswith("job_") and body["id"][4:].isalnum()
    assert body["created_at"].endswith("Z")
    job = Job.objects.get(pk=body["id"])
    assert (job.upsert, job.send_completion_email, job.created_by) == (True, False, "test-client")
    assert json.loads(bytes(job.users_file)) == GOOD_USERS
    assert job.file_name == "users.json"


def test_create_defaults_upsert_false_and_completion_email_true_and_omits_external_id(post_import):
    body = post_import().json()
    assert "external_id" not in body
    job = Job.objects.get(pk=body["id"])
    assert (job.upsert, job.send_completion_email, job.external_id) == (False, True, "")


def test_create_records_an_audit_event_with_the_job(post_import, connection):
    job_id = post_import().json()["id"]
    event = Event.objects.get(description="Create import users job")
    assert (event.type, event.actor_kind, event.actor_id) == ("sapi", "client", "test-client")
    assert (event.connection, event.connection_id) == (connection.name, connection.id)
    assert event.details["job_id"] == job_id


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"users": False}, "Must provide 'users' file as multipart part."),
        ({"users": b""}, "Users file must not be empty."),
        ({"connection_id": None}, "Must provide 'connection_id' as multipart part."),
        (
            {"connection_id": "con_short"},
            "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' "
            "on property connection_id.",
        ),
        ({"connection_id": "con_0000000000000001"}, "The connection does not exist."),
        (
            {"upsert": "yes"},
            "Payload validation error: 'Expected type boolean but found type string' on property upsert.",
        ),
        (
            {"send_completion_email": "1"},
            "Payload validation error: 'Expected type boolean but found type string' on property "
            "send_completion_email.",
        ),
        ({"scopes": "x"}, "Payload validation error: 'Additional properties not allowed: scopes'."),
        (
            {"external_id": "x" * 256},
            "Payload validation error: 'String is too long (256 chars), maximum 255' on property external_id.",
        ),
    ],
)
def test_create_refuses_bad_parts_with_auth0s_messages(post_import, parts, message):
    users = parts.pop("users", None)
    response = post_import(users, **parts)
    assert response.status_code == 400
    code = "inexistent_connection" if message == "The connection does not exist." else "invalid_body"
    assert without_errors(response.json()) == envelope(400, "Bad Request", message, code)
    assert not Job.objects.exists()


def test_users_sent_as_a_text_part_is_not_a_file(importer, connection):
    response = importer.post(URL, {"users": "[]", "connection_id": connection.id}, format="multipart")
    assert response.status_code == 400
    assert response.json()["message"] == "Must provide 'users' file as multipart part."


def test_create_refuses_a_connection_that_is_not_a_database(importer, make_connection):
    sms = make_connection(name="sms", strategy="sms")
    response = importer.post(URL, {"users": users_file(), "connection_id": sms.id}, format="multipart")
    assert response.status_code == 400
    assert without_errors(response.json()) == envelope(
        400, "Bad Request", "Connection must be a database connection.", "invalid_body"
    )


def test_a_malformed_multipart_body_is_a_400(importer, connection):
    response = importer.generic("POST", URL, b"--nope\r\ngarbage", content_type="multipart/form-data")
    assert response.status_code == 400
    assert without_errors(response.json()) == envelope(
        400, "Bad Request", "Payload validation error: 'Invalid multipart payload format'.", "invalid_body"
    )


def test_a_json_body_is_415(importer, connection):
    response = importer.post(URL, {"connection_id": connection.id}, format="json")
    assert response.status_code == 415
    assert response.json()["errorCode"] == "unsupported_media_type"


def test_a_file_over_the_body_limit_is_413(post_import, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = post_import([{"email": f"user{i}@example.com"} for i in range(100)])
    assert response.status_code == 413
    assert without_errors(response.json()) == envelope(
        413,
        "Request Entity Too Large",
        "Payload content length greater than maximum allowed: 1000",
        "payload_too_large",
    )
    assert not Job.objects.exists()


def test_messages_follow_accept_language(post_import):
    response = post_import(False, _language="ja")
    assert response.status_code == 400
    assert response.json()["message"] == "'users' ファイルを multipart のパートとして指定してください。"


def test_a_third_active_job_is_refused_with_429(post_import):
    first, second = post_import(), post_import()
    assert first.status_code == second.status_code == 202
    Job.objects.filter(pk=first.json()["id"]).update(
        status=JobStatus.PROCESSING, claimed_by="w", heartbeat_at=timezone.now()
    )
    third = post_import()
    assert third.status_code == 429
    assert without_errors(third.json()) == envelope(
        429,
        "Too Many Requests",
        "There are 2 active import users jobs, please wait until some of them are finished and try again",
        "too_many_requests",
    )
    assert Job.objects.count() == 2
    # A finished job no longer counts.
    Job.objects.filter(pk=second.json()["id"]).update(status=JobStatus.COMPLETED, finished_at=timezone.now())
    assert post_import().status_code == 202


def test_create_needs_a_token_and_the_create_users_scope(api_client, token, connection):
    data = {"users": users_file(), "connection_id": connection.id}
    anonymous = api_client.post(URL, data, format="multipart")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users update:users')}")
    data = {"users": users_file(), "connection_id": connection.id}
    refused = api_client.post(URL, data, format="multipart")
    assert refused.status_code == 403
    assert without_errors(refused.json()) == envelope(
        403, "Forbidden", "Insufficient scope, expected any of: create:users", "insufficient_scope"
    )
    assert not Job.objects.exists()


# --- GET /api/v2/jobs/{id} and /errors -----------------------------------------------------------------------


@pytest.mark.parametrize("scopes", ["read:users", "create:users"])
def test_get_job_with_either_scope(post_import, api_client, token, scopes):
    job_id = post_import().json()["id"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(scopes)}")
    response = api_client.get(f"/api/v2/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert "summary" not in response.json()


def test_get_job_refuses_other_scopes_and_no_token(post_import, api_client, token):
    job_id = post_import().json()["id"]
    for path in (f"/api/v2/jobs/{job_id}", f"/api/v2/jobs/{job_id}/errors"):
        api_client.credentials()
        assert api_client.get(path).status_code == 401
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('update:users')}")
        refused = api_client.get(path)
        assert refused.status_code == 403
        assert refused.json()["message"] == "Insufficient scope, expected any of: create:users,read:users"


@pytest.mark.parametrize("path", ["/api/v2/jobs/job_0000000000000000", "/api/v2/jobs/nope/errors"])
def test_unknown_job_is_404(db, importer, path):
    response = importer.get(path)
    assert response.status_code == 404
    assert without_errors(response.json()) == envelope(404, "Not Found", "The job does not exist.", "inexistent_job")


# --- the worker ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_worker_runs_a_job_to_completed_with_summary_and_errors(post_import, importer):
    job_id = post_import([*GOOD_USERS, BAD_USER]).json()["id"]
    pending_errors = importer.get(f"/api/v2/jobs/{job_id}/errors")
    assert pending_errors.status_code == 200
    assert pending_errors.json()["status"] == "pending"

    call_command("run_jobs", "--once")

    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "completed"
    assert job["summary"] == {"failed": 1, "updated": 0, "inserted": 3, "total": 4}
    errors = importer.get(f"/api/v2/jobs/{job_id}/errors")
    assert errors.status_code == 200
    [rejected] = errors.json()
    assert rejected["user"]["email"] == "not-an-email"
    assert "password_hash" not in rejected["user"]
    assert rejected["errors"] and {"code", "message"} <= set(rejected["errors"][0])
    assert User.objects.filter(email__in=[u["email"] for u in GOOD_USERS]).count() == 3
    row = Job.objects.get(pk=job_id)
    assert row.claimed_by == "" and row.started_at and row.finished_at and row.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_user_that_exists_without_upsert_is_auth0s_duplicated_user(post_import, importer):
    # Auth0's answer, recorded by go-auth0 (test/data/recordings/TestJobManager_ReadErrors.yaml)
    post_import([{"email": "chuck@example.com"}])
    call_command("run_jobs", "--once")
    job_id = post_import([{"email": "chuck@example.com", "email_verified": True}]).json()["id"]
    call_command("run_jobs", "--once")
    errors = importer.get(f"/api/v2/jobs/{job_id}/errors")
    assert errors.json() == [
        {
            "user": {"email": "chuck@example.com", "email_verified": True},
            "errors": [{"code": "DUPLICATED_USER", "message": "The user already exist and upsert parameter is false"}],
        }
    ]


@pytest.mark.django_db(transaction=True)
def test_errors_of_a_job_that_refused_nobody_is_204(post_import, importer):
    job_id = post_import().json()["id"]
    call_command("run_jobs", "--once")
    response = importer.get(f"/api/v2/jobs/{job_id}/errors")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_file_fails_the_job_with_the_importers_message(post_import, importer):
    job_id = post_import(b"not json at all").json()["id"]
    call_command("run_jobs", "--once")
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert job["status_details"] == "The users file must be a JSON array of users or JSON lines (one user a line)."
    errors = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    assert errors["status"] == "failed" and errors["status_details"] == job["status_details"]


class WorkerDied(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_job_left_processing_by_a_dead_worker_is_taken_over_and_ends_with_each_user_once(post_import, importer):
    job_id = post_import().json()["id"]
    # A worker claimed the job, committed its first batch (two users), recorded that progress, and died.
    claimed = claim_job(worker_id="dead-worker")
    assert claimed is not None

    def die_after_first_batch(summary: ImportSummary, bytes_read: int) -> None:
        beat(job_id=claimed.id, worker_id="dead-worker", summary=summary.as_auth0(), bytes_read=bytes_read)
        raise WorkerDied()

    with pytest.raises(WorkerDied):
        import_users(
            BytesIO(bytes(claimed.users_file)),
            connection=claimed.connection,
            actor=Actor("client", "test-client"),
            batch_size=2,
            on_progress=die_after_first_batch,
        )
    assert User.objects.count() == 2
    stale = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    Job.objects.filter(pk=job_id).update(heartbeat_at=stale)
    assert importer.get(f"/api/v2/jobs/{job_id}").json()["status"] == "processing"

    call_command("run_jobs", "--once")

    job = Job.objects.get(pk=job_id)
    assert (job.status, job.attempts, job.claimed_by) == ("completed", 2, "")
    assert job.summary == {"failed": 0, "updated": 0, "inserted": 3, "total": 3}
    assert stored_emails() == sorted(u["email"] for u in GOOD_USERS)


@pytest.mark.django_db(transaction=True)
def test_a_running_job_shows_its_progress(post_import, importer):
    job_id = post_import().json()["id"]
    claim_job(worker_id="busy")
    size = Job.objects.get(pk=job_id).file_size
    Job.objects.filter(pk=job_id).update(
        bytes_read=size // 2, started_at=timezone.now() - timedelta(seconds=10), heartbeat_at=timezone.now()
    )
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "processing"
    assert job["percentage_done"] == 50 or job["percentage_done"] == 49
    assert 5 <= job["time_left_seconds"] <= 12
    assert "summary" not in job


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_runs_while_the_job_runs_and_notices_a_take_over(post_import):
    job_id = post_import().json()["id"]
    claim_job(worker_id="me")
    Job.objects.filter(pk=job_id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    heartbeat = _Heartbeat(job_id=job_id, worker_id="me", interval=0.05)

    def last_beat() -> datetime:
        beat = Job.objects.get(pk=job_id).heartbeat_at
        assert beat is not None  # set above, and a beat only moves it
        return beat

    heartbeat.start()
    try:
        deadline = time.monotonic() + 10
        while last_beat() < timezone.now() - timedelta(minutes=1):
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.05)
        Job.objects.filter(pk=job_id).update(claimed_by="someone-else")
        assert heartbeat.lost.wait(10)
    finally:
        heartbeat.done.set()
        heartbeat.join()


@pytest.mark.django_db(transaction=True)
def test_json_lines_import_and_the_file_is_dropped_once_finished(post_import, importer):
    lines = b"\n".join(json.dumps(user).encode() for user in GOOD_USERS)
    job_id = post_import(lines).json()["id"]
    call_command("run_jobs", "--once")
    assert importer.get(f"/api/v2/jobs/{job_id}").json()["summary"]["inserted"] == 3
    job = Job.objects.get(pk=job_id)
    assert bytes(job.users_file) == b""
    assert job.file_size == len(lines)


@pytest.mark.django_db(transaction=True)
def test_refused_users_are_kept_without_their_secrets(post_import, importer):
    refused = {"email": "bad@", "password": "Str0ng!Passw0rd-plain", "mfa_factors": [{"totp": {"secret": "S3CRET"}}]}
    job_id = post_import([refused, BAD_USER]).json()["id"]
    call_command("run_jobs", "--once")
    stored = json.dumps(Job.objects.get(pk=job_id).errors)
    answered = importer.get(f"/api/v2/jobs/{job_id}/errors").content.decode()
    for text in (stored, answered):
        assert "bad@" in text and "not-an-email" in text
        for secret in ("Str0ng!Passw0rd-plain", "S3CRET", "$2b$10$"):
            assert secret not in text


@pytest.mark.django_db(transaction=True)
def test_a_live_workers_job_is_not_taken_over(post_import):
    job_id = post_import().json()["id"]
    claimed = claim_job(worker_id="alive")
    assert claimed is not None and claimed.id == job_id
    call_command("run_jobs", "--once")
    assert Job.objects.get(pk=job_id).claimed_by == "alive"


@pytest.mark.django_db(transaction=True)
def test_a_job_interrupted_too_many_times_is_given_up(post_import, importer, settings):
    job_id = post_import().json()["id"]
    claim_job(worker_id="dead")
    Job.objects.filter(pk=job_id).update(
        attempts=settings.JOBS_MAX_ATTEMPTS, heartbeat_at=timezone.now() - timedelta(days=1)
    )
    call_command("run_jobs", "--once")
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert job["status_details"] == "The job was interrupted too many times and was given up."


@pytest.mark.django_db(transaction=True)
def test_a_stopped_worker_hands_its_job_back_and_a_new_worker_finishes_it(post_import, importer):
    job_id = post_import().json()["id"]
    first = Worker(worker_id="first")
    job = claim_job(worker_id="first")
    assert job is not None
    first.stop()  # SIGTERM arrived: the current batch ends, then the job goes back to the queue
    first.run_job(job)
    row = Job.objects.get(pk=job_id)
    assert (row.status, row.claimed_by, row.heartbeat_at) == ("pending", "", None)

    call_command("run_jobs", "--once")  # a restarted worker

    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "completed"
    assert job["summary"] == {"failed": 0, "updated": 0, "inserted": 3, "total": 3}
    assert User.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_claim_the_same_job(post_import):
    job_ids = {post_import().json()["id"], post_import().json()["id"]}
    claims: list[str | None] = []
    barrier = threading.Barrier(6)

    def claim(worker: str) -> None:
        from django.db import connection

        try:
            barrier.wait()
            job = claim_job(worker_id=worker)
            claims.append(job.id if job else None)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [job_id for job_id in claims if job_id]
    assert sorted(won) == sorted(job_ids)
    assert Job.objects.filter(status="processing").count() == 2
    assert len(set(Job.objects.values_list("claimed_by", flat=True))) == 2


@pytest.mark.django_db(transaction=True)
def test_release_only_works_for_the_owner(post_import):
    job_id = post_import().json()["id"]
    claim_job(worker_id="owner")
    assert release_job(job_id=job_id, worker_id="someone-else") is False
    assert Job.objects.get(pk=job_id).claimed_by == "owner"


@pytest.mark.django_db(transaction=True)
def test_finished_jobs_are_purged_after_24_hours(post_import):
    old_id, recent_id = post_import().json()["id"], post_import().json()["id"]
    now = timezone.now()
    Job.objects.filter(pk=old_id).update(status="completed", finished_at=now - timedelta(hours=25))
    Job.objects.filter(pk=recent_id).update(status="failed", finished_at=now - timedelta(hours=23))
    Job.objects.filter(pk=recent_id).update(created_at=now - timedelta(days=3))
    pending = Job.objects.create(
        type="users_import",
        connection=Job.objects.get(pk=recent_id).connection,
        connection_name="x",
        users_file=b"[]",
        created_by="c",
    )
    Job.objects.filter(pk=pending.pk).update(created_at=now - timedelta(days=3))
    Worker(worker_id="janitor").housekeeping()
    assert set(Job.objects.values_list("id", flat=True)) == {recent_id, pending.pk}


@pytest.mark.live
def test_the_worker_process_stops_on_sigterm(transactional_db):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DATA_DIR": str(settings.DATA_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_jobs", "--poll-interval", "30"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The worker says "running" once its signal handlers are in place: a signal sent before would kill it.
        seen = []
        assert process.stdout is not None  # stdout=PIPE
        for line in process.stdout:
            seen.append(line)
            if " running" in line:
                break
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=120)  # a safety net for a worker that never stops, not a measure
        output = "".join(seen) + rest
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopped after 0 task(s)" in output


# --- the official SDK, unmodified ---------------------------------------------------------------------------


@pytest.mark.live
def test_the_official_sdk_imports_users_and_reads_the_job(live_server_url, make_connection):
    from auth0.authentication import GetToken
    from auth0.management import Auth0

    connection = make_connection()
    client, secret = create_client(name="importer", scopes="create:users read:users", actor=SYSTEM)
    grant = GetToken(urlsplit(live_server_url).netloc, client.client_id, client_secret=secret, protocol="http")
    access = grant.client_credentials(settings.MANAGEMENT_API_AUDIENCE)["access_token"]
    api = Auth0(base_url=f"{live_server_url}/api/v2", token=access, max_retries=0)

    content = json.dumps([*GOOD_USERS, BAD_USER]).encode()
    created = api.jobs.users_imports.create(
        users=("users.json", content, "application/json"),
        connection_id=connection.id,
        upsert=True,
        external_id="sdk-run",
        send_completion_email=False,
    )
    assert created.status == "pending" and created.type == "users_import" and created.id.startswith("job_")
    assert created.connection_id == connection.id and created.external_id == "sdk-run"
    job = Job.objects.get(pk=created.id)
    assert (job.upsert, job.send_completion_email) == (True, False)

    minimal = api.jobs.users_imports.create(users=content, connection_id=connection.id)  # no optional parts
    assert minimal.status == "pending"

    call_command("run_jobs", "--once")

    fetched = api.jobs.get(created.id)
    assert fetched.status == "completed"
    assert fetched.summary.inserted == 3 and fetched.summary.failed == 1 and fetched.summary.total == 4
    failures = api.jobs.errors.get(created.id)
    assert len(failures) == 1
    assert failures[0].user["email"] == "not-an-email"


@pytest.mark.live
def test_concurrent_creates_never_exceed_two_active_jobs(live_server_url, make_connection, token):
    import requests

    connection = make_connection()
    headers = {"Authorization": f"Bearer {token('create:users')}"}
    content = json.dumps(GOOD_USERS).encode()
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def create() -> None:
        barrier.wait()
        response = requests.post(
            f"{live_server_url}{URL}",
            headers=headers,
            files={"users": ("users.json", content, "application/json")},
            data={"connection_id": connection.id},
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202, 202] + [429] * 6
    assert Job.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_crashed_run_is_retried_at_once_and_given_up_after_max_attempts(post_import, importer, monkeypatch):
    job_id = post_import().json()["id"]

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("importer bug")

    monkeypatch.setattr("jobs.worker.import_users", crash)
    call_command("run_jobs", "--once")  # crashes, retries at once, until JOBS_MAX_ATTEMPTS
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert job["status_details"] == "The job was interrupted too many times and was given up."
    assert Job.objects.get(pk=job_id).attempts == settings.JOBS_MAX_ATTEMPTS


# --- hostile files: no secret kept or served, no job stops the worker -----------------------------------------

SECRET = "Plain-Secret-1"


def _everything_kept(job_id: str, importer, output: str = "") -> str:
    """Every place a job's outcome is kept, served or printed, as one text."""
    row = Job.objects.get(pk=job_id)
    served = importer.get(f"/api/v2/jobs/{job_id}/errors").content.decode()
    body = importer.get(f"/api/v2/jobs/{job_id}").content.decode()
    return "\n".join([json.dumps(row.errors), row.failure_message, served, body, output])


@pytest.mark.django_db(transaction=True)
def test_an_unparseable_line_is_reported_by_number_and_code_without_its_text(post_import, importer, caplog):
    lines = b'{"email": "ok@example.com"}\n{"email":"a@example.com","password":"' + SECRET.encode() + b'",}\n'
    job_id = post_import(lines).json()["id"]
    with caplog.at_level(logging.INFO):
        call_command("run_jobs", "--once")
    kept = _everything_kept(job_id, importer, caplog.text)
    assert SECRET not in kept and "a@example.com" not in kept
    assert importer.get(f"/api/v2/jobs/{job_id}/errors").json() == [
        {"user": {}, "errors": [{"code": "INVALID_JSON", "message": "Line 2 is not valid JSON.", "path": ""}]}
    ]


@pytest.mark.django_db(transaction=True)
def test_a_broken_array_fails_the_job_without_the_parsers_excerpt(post_import, importer, caplog):
    content = b'[{"email": "ok@example.com"}, {"email": "a@example.com", "password": ' + SECRET.encode() + b"}]"
    job_id = post_import(content).json()["id"]
    with caplog.at_level(logging.INFO):
        call_command("run_jobs", "--once")
    assert "failed" in caplog.text  # the worker's report is among what is searched
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert job["status_details"] == "The users file is not valid JSON after 1 user."
    assert SECRET not in _everything_kept(job_id, importer, caplog.text)
    assert bytes(Job.objects.get(pk=job_id).users_file) == b""


@pytest.mark.django_db(transaction=True)
def test_keys_like_passwords_in_any_case_and_depth_are_never_kept(post_import, importer):
    refused = {
        "email": "bad@",
        "Password": SECRET,
        "PASSWORD_HASH": SECRET + "-h",
        "user_metadata": {"old": {"Secret": SECRET + "-s", "apiToken": SECRET + "-t"}, "plan": "gold"},
        "custom": [{"ldap_password": SECRET + "-l"}],
    }
    job_id = post_import([refused]).json()["id"]
    call_command("run_jobs", "--once")
    assert SECRET not in _everything_kept(job_id, importer)
    [entry] = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    assert entry["user"] == {"email": "bad@", "user_metadata": {"old": {}, "plan": "gold"}, "custom": [{}]}


@pytest.mark.django_db(transaction=True)
def test_an_error_about_a_secret_never_quotes_it(post_import, importer):
    hashed = {"algorithm": "md5", "hash": {"value": "a" * 32, "encoding": SECRET}}
    job_id = post_import([{"email": "a@example.com", "custom_password_hash": hashed}]).json()["id"]
    call_command("run_jobs", "--once")
    assert SECRET not in _everything_kept(job_id, importer)
    [entry] = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    assert entry["errors"] == [
        {
            "code": "ENUM_MISMATCH",
            "message": "The value is not valid (ENUM_MISMATCH); it is not shown because it is a secret.",
            "path": "custom_password_hash.hash.encoding",
        }
    ]


HOSTILE_LINES = [
    # (line, error code, path): each a user no database could store as given
    (b'{"email":"deep@example.com","user_metadata":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}", "MAX_DEPTH"),
    (b'{"email":"big@example.com","x":1e400}', "INVALID_NUMBER"),
    (b'{"email":"nul@example.com","user_metadata":{"k\\u0000":"v"}}', "INVALID_CHARACTERS"),
    (b'{"email":"lone\\ud800@example.com"}', "INVALID_CHARACTERS"),
]


@pytest.mark.django_db(transaction=True)
def test_hostile_users_are_per_user_errors_and_the_job_completes(post_import, importer):
    lines = b"\n".join([line for line, _code in HOSTILE_LINES] + [b'{"email": "ok@example.com"}'])
    job_id = post_import(lines).json()["id"]
    call_command("run_jobs", "--once")
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "completed"
    assert job["summary"] == {"failed": 4, "updated": 0, "inserted": 1, "total": 5}
    response = importer.get(f"/api/v2/jobs/{job_id}/errors")
    assert response.status_code == 200
    assert [entry["errors"][0]["code"] for entry in response.json()] == [code for _line, code in HOSTILE_LINES]
    assert list(User.objects.values_list("email", flat=True)) == ["ok@example.com"]


@pytest.mark.django_db(transaction=True)
def test_a_lone_surrogate_in_an_array_is_refused_not_rewritten(post_import, importer):
    content = b'[{"email": "lone\\ud800@example.com"}, {"email": "pair@example.com", "name": "\\ud83d\\ude00"}]'
    job_id = post_import(content).json()["id"]
    call_command("run_jobs", "--once")
    [entry] = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    assert entry["errors"][0]["code"] == "INVALID_CHARACTERS"
    assert entry["user"] == {"email": "lone\\ud800@example.com"}  # the report writes it as an escape
    assert not User.objects.filter(email__startswith="lone").exists()  # not "lone?@example.com"
    assert User.objects.get(email="pair@example.com").name == "\U0001f600"  # a pair is one character


@pytest.mark.django_db(transaction=True)
def test_a_job_that_cannot_be_finished_fails_and_the_worker_takes_the_next(post_import, importer, monkeypatch):
    first = post_import([BAD_USER]).json()["id"]
    second = post_import().json()["id"]
    real_finish = jobs_worker.finish_job

    def refuse_the_report(**kwargs: Any) -> bool:
        if kwargs["errors"]:
            raise DataError("unsupported Unicode escape sequence")  # what PostgreSQL said of a NUL
        return real_finish(**kwargs)

    monkeypatch.setattr("jobs.worker.finish_job", refuse_the_report)
    call_command("run_jobs", "--once")
    failed = importer.get(f"/api/v2/jobs/{first}").json()
    assert failed["status"] == "failed"
    assert failed["status_details"] == "The job's error report could not be stored."
    assert bytes(Job.objects.get(pk=first).users_file) == b""
    assert importer.get(f"/api/v2/jobs/{second}").json()["status"] == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_given_up_job_loses_its_file_at_once(post_import, settings):
    job_id = post_import([{"email": "a@example.com", "password": SECRET}]).json()["id"]
    claim_job(worker_id="dead")
    Job.objects.filter(pk=job_id).update(
        attempts=settings.JOBS_MAX_ATTEMPTS, heartbeat_at=timezone.now() - timedelta(days=1)
    )
    call_command("run_jobs", "--once")
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed"
    assert bytes(job.users_file) == b""


@pytest.mark.django_db(transaction=True)
def test_a_crash_is_logged_without_its_message(post_import, monkeypatch, caplog):
    post_import().json()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"bad value {SECRET}")

    monkeypatch.setattr("jobs.worker.import_users", crash)
    call_command("run_jobs", "--once")
    assert "RuntimeError" in caplog.text
    assert SECRET not in caplog.text


# --- attack1 (security test pass): each test below fails until its finding is fixed ---------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rejects_entry_with_unhashable_removed_paths_is_a_per_user_error(post_import, importer):
    # attack1: `"removed": [{...}]` made `_unwrap` raise TypeError (unhashable): the run crashed, was retried
    # JOBS_MAX_ATTEMPTS times and the job failed "interrupted too many times"; the CLI printed a traceback.
    content = (
        b'[{"user": {"email": "r@example.com"}, "errors": [], "removed": [{"a": 1}]}, {"email": "ok@example.com"}]'
    )
    job_id = post_import(content).json()["id"]
    call_command("run_jobs", "--once")
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    assert job["summary"] == {"failed": 1, "updated": 0, "inserted": 1, "total": 2}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("key", ["pass_word", "Pass-Word", "passphrase", "api_key", "apiKey", "private_key"])
def test_a_secret_under_another_spelling_of_a_password_key_is_not_shown(post_import, importer, key):
    # attack1: is_secret_key only looks for password/passwd/pwd/secret/hash/token, so these stay in /errors.
    user = {"email": "a@example.com", "name": 1, "user_metadata": {key: SECRET}}
    job_id = post_import([user]).json()["id"]
    call_command("run_jobs", "--once")
    assert SECRET not in _everything_kept(job_id, importer)


@pytest.mark.django_db(transaction=True)
def test_an_external_id_that_is_not_utf8_is_refused_not_rewritten(importer, connection):
    # attack1: Django decodes form fields with errors="replace": b"a\xff" was stored as "a\ufffd" with a 202.
    body = (
        b'--B\r\nContent-Disposition: form-data; name="users"; filename="u.json"\r\n\r\n[{"email": "a@example.com"}]'
        b'\r\n--B\r\nContent-Disposition: form-data; name="connection_id"\r\n\r\n' + connection.id.encode() + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="external_id"\r\n\r\na\xff\r\n--B--\r\n'
    )
    response = importer.generic("POST", URL, body, content_type="multipart/form-data; boundary=B")
    assert response.status_code == 400, response.content
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_escaped_backslash_before_a_surrogate_pair_look_alike_is_a_per_user_error(post_import, importer):
    # attack1: `x\\ud800\udc00` is a backslash, "ud800" and a LONE low surrogate; the scan took it for a pair,
    # so yajl read the array and failed on it: a valid JSON file failed whole ("not valid JSON after 0 users").
    content = b'[{"email": "a@example.com", "name": "x\\\\ud800\\udc00"}, {"email": "ok@example.com"}]'
    job_id = post_import(content).json()["id"]
    call_command("run_jobs", "--once")
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    [entry] = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    assert entry["errors"][0]["code"] == "INVALID_CHARACTERS"


# --- the edges of the attack1 fixes ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_user_that_is_not_an_object_is_reported_as_an_empty_one(post_import, importer):
    job_id = post_import(b'["' + SECRET.encode() + b'", {"email": "ok@example.com"}]').json()["id"]
    call_command("run_jobs", "--once")
    [entry] = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    assert entry["user"] == {} and entry["errors"][0]["code"] == "INVALID_TYPE"
    assert SECRET not in _everything_kept(job_id, importer)


@pytest.mark.django_db(transaction=True)
def test_secret_key_words_stand_alone_so_ordinary_keys_stay_in_the_report(post_import, importer):
    metadata = {"shipping": "by sea", "footprint": "small", "userPIN": SECRET, "otp": SECRET, "card-pin": SECRET}
    job_id = post_import([{"email": "a@example.com", "name": 1, "user_metadata": metadata}]).json()["id"]
    call_command("run_jobs", "--once")
    [entry] = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    assert entry["user"]["user_metadata"] == {"shipping": "by sea", "footprint": "small"}
    assert SECRET not in _everything_kept(job_id, importer)


@pytest.mark.django_db(transaction=True)
def test_text_parts_in_utf8_beyond_ascii_are_kept_as_sent(importer, connection):
    # The strict decoding goes through Latin-1 and back: nothing outside ASCII may be lost on the way.
    upload = users_file(name="utilisateurs-é.json")
    data = {"users": upload, "connection_id": connection.id, "external_id": "café-😀"}
    response = importer.post(URL, data, format="multipart")
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert (job.external_id, job.file_name) == ("café-😀", "utilisateurs-é.json")


@pytest.mark.django_db(transaction=True)
def test_a_text_part_that_is_not_utf8_gets_the_invalid_characters_error(importer, connection):
    body = (
        b'--B\r\nContent-Disposition: form-data; name="users"; filename="u.json"\r\n\r\n[{"email": "a@example.com"}]'
        b'\r\n--B\r\nContent-Disposition: form-data; name="connection_id"\r\n\r\n' + connection.id.encode() + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="upsert"\r\n\r\ntru\xc3\r\n--B--\r\n'
    )
    response = importer.generic("POST", URL, body, content_type="multipart/form-data; boundary=B")
    assert response.json() == {
        **envelope(
            400,
            "Bad Request",
            "Payload validation error: 'String is not valid UTF-8' on property upsert.",
            "invalid_body",
        ),
        "errors": [{"field": "upsert", "code": "INVALID_CHARACTERS", "message": "String is not valid UTF-8"}],
    }


# --- attack3 ------------------------------------------------------------------------------------------------


def _multipart(connection_id: str, *extra: bytes, filename: bytes = b"u.json") -> bytes:
    return (
        b'--B\r\nContent-Disposition: form-data; name="users"; filename="' + filename + b'"\r\n\r\n'
        b'[{"email": "a@example.com"}]\r\n'
        b'--B\r\nContent-Disposition: form-data; name="connection_id"\r\n\r\n'
        + connection_id.encode()
        + b"\r\n"
        + b"".join(extra)
        + b"--B--\r\n"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "charset", ["rot13", "hex", "utf-7", "unicode_escape", "raw_unicode_escape", "idna", "punycode", "bogus"]
)
def test_a_multipart_charset_that_is_not_a_text_encoding_is_a_400(importer, connection, charset):  # attack3
    # codecs.lookup("rot13") succeeds, so StrictMultiPartParser keeps it; _decoded() then calls
    # bytes.decode("ROT-13"), which raises LookupError (not a UnicodeError): 500.
    body = _multipart(connection.id)
    response = importer.generic("POST", URL, body, content_type=f"multipart/form-data; boundary=B; charset={charset}")
    assert response.status_code == 400, response.content
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["€.json", "ユーザー.json", "русские.json", "à-la-carte.json"])
def test_a_file_name_in_valid_utf8_is_kept_whatever_its_bytes(importer, connection, name):  # attack3
    # Django's sanitize_file_name runs on the Latin-1 view of the name and drops "non-printable" characters:
    # the UTF-8 continuation bytes 0x80-0x9F (C1 controls), 0xA0 (no-break space) and 0xAD (soft hyphen). So
    # "€" (E2 82 AC) loses its 0x82 and the valid name is refused as "String is not valid UTF-8".
    body = _multipart(connection.id, filename=name.encode())
    response = importer.generic("POST", URL, body, content_type="multipart/form-data; boundary=B")
    assert response.status_code == 202, response.content
    assert Job.objects.get().file_name == name


@pytest.mark.django_db(transaction=True)
def test_an_rfc2231_file_name_that_is_not_utf8_is_refused_not_stored_as_u_fffd(importer, connection):  # attack3
    # filename*=UTF-8''%FF.json: Django's RFC 2231 decoding replaces the bad byte with U+FFFD before the strict
    # re-decoding sees it, and the job was stored with file_name "\ufffd.json" (202).
    body = (
        b"--B\r\nContent-Disposition: form-data; name=\"users\"; filename*=UTF-8''%FF.json\r\n\r\n"
        b'[{"email": "a@example.com"}]\r\n'
        b'--B\r\nContent-Disposition: form-data; name="connection_id"\r\n\r\n'
        + connection.id.encode()
        + b"\r\n--B--\r\n"
    )
    response = importer.generic("POST", URL, body, content_type="multipart/form-data; boundary=B")
    assert response.status_code == 400, response.content
    assert not Job.objects.filter(file_name__contains="\ufffd").exists()


@pytest.mark.django_db(transaction=True)
def test_a_part_whose_header_is_not_utf8_is_refused_not_silently_dropped(importer, connection):  # attack3
    # Django skips a part header line that is not UTF-8, and with it the part: an "upsert" part whose
    # Content-Disposition carries a byte 0xFF vanished and the job ran with upsert=false (202).
    upsert = b'--B\r\nContent-Disposition: form-data; name="upsert"; x="\xff"\r\n\r\ntrue\r\n'
    response = importer.generic(
        "POST", URL, _multipart(connection.id, upsert), content_type="multipart/form-data; boundary=B"
    )
    assert response.status_code == 400, response.content
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("number", [2**63, -(2**63), 2**64])
def test_an_integer_beyond_int64_in_an_array_file_is_read_as_json_lines_read_it(  # attack3
    post_import, importer, number
):
    # attack3: yajl (ijson's C backend) refuses integers outside int64, and -2**63 too (its own overflow check):
    # the whole array file failed "not valid JSON after 0 users", while the same user as JSON lines, piped on
    # standard input (pure-Python backend), or through POST /api/v2/users is accepted.
    job_id = post_import([{"email": "a@example.com", "app_metadata": {"n": number}}]).json()["id"]
    call_command("run_jobs", "--once")
    job = importer.get(f"/api/v2/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    assert User.objects.get(email="a@example.com").app_metadata == {"n": number}


@pytest.mark.django_db(transaction=True)
def test_an_rfc2231_file_name_is_refused_even_in_valid_utf8(importer, connection):
    # RFC 7578 section 4.2: senders MUST NOT use RFC 5987/2231's "filename*" in multipart/form-data.
    body = (
        b"--B\r\nContent-Disposition: form-data; name=\"users\"; filename*=UTF-8''%E2%82%AC.json\r\n\r\n"
        b'[{"email": "a@example.com"}]\r\n'
        b'--B\r\nContent-Disposition: form-data; name="connection_id"\r\n\r\n'
        + connection.id.encode()
        + b"\r\n--B--\r\n"
    )
    response = importer.generic("POST", URL, body, content_type="multipart/form-data; boundary=B")
    assert without_errors(response.json()) == envelope(
        400,
        "Bad Request",
        "Payload validation error: 'Invalid multipart part header: Content-Disposition'.",
        "invalid_body",
    )
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "line",
    [b'Content-Disposition form-data; name="upsert"', b"Content-Disposition: form-data; name*=rot13''upsert"],
    ids=["no-colon", "unknown-rfc2231-charset"],
)
def test_a_part_header_line_django_would_skip_is_refused(importer, connection, line):
    upsert = b"--B\r\n" + line + b"\r\n\r\ntrue\r\n"
    response = importer.generic(
        "POST", URL, _multipart(connection.id, upsert), content_type="multipart/form-data; boundary=B"
    )
    assert response.status_code == 400, response.content
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_part_header_that_is_not_utf8_gets_the_invalid_characters_error(importer, connection):
    upsert = b'--B\r\nContent-Disposition: form-data; name="ups\xe9rt"\r\n\r\ntrue\r\n'
    response = importer.generic(
        "POST", URL, _multipart(connection.id, upsert), content_type="multipart/form-data; boundary=B"
    )
    assert response.json() == {
        **envelope(400, "Bad Request", "Payload validation error: 'String is not valid UTF-8'.", "invalid_body"),
        "errors": [{"field": None, "code": "INVALID_CHARACTERS", "message": "String is not valid UTF-8"}],
    }


@pytest.mark.django_db(transaction=True)
def test_a_multipart_body_in_latin1_has_its_text_parts_read_in_latin1(importer, connection):
    # Django reads part headers as UTF-8 whatever the charset; text parts are decoded in the declared one.
    external_id = b'--B\r\nContent-Disposition: form-data; name="external_id"\r\n\r\ncaf\xe9\r\n'
    response = importer.generic(
        "POST",
        URL,
        _multipart(connection.id, external_id),
        content_type="multipart/form-data; boundary=B; charset=ISO-8859-1",
    )
    assert response.status_code == 202, response.content
    assert Job.objects.get().external_id == "café"


@pytest.mark.django_db(transaction=True)
def test_a_file_name_beyond_ascii_is_refused_in_a_us_ascii_body(importer, connection):
    body = _multipart(connection.id, filename="é.json".encode())
    response = importer.generic("POST", URL, body, content_type="multipart/form-data; boundary=B; charset=us-ascii")
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [
        {"field": None, "code": "INVALID_CHARACTERS", "message": "String is not valid US-ASCII"}
    ]


# --- The error report's size as stored (jobs.report) ----------------------------------------------------------


def _exponents(count: int) -> bytes:
    return b"[" + b",".join([b"1e308"] * count) + b"]"


@pytest.mark.django_db(transaction=True)
def test_a_user_too_large_as_stored_is_reported_by_its_identifying_fields_with_its_errors(post_import, importer):
    # 80,000 numbers written 1e308: a 480 KB file, which PostgreSQL's jsonb wrote back (and answered) as 24.8 MB.
    user = (
        b'{"email":"x","username":{"not":"a text"},"password":"'
        + SECRET.encode()
        + b'","user_metadata":{"n":'
        + _exponents(80_000)
        + b"}}"
    )
    job_id = post_import(b"[" + user + b"]").json()["id"]
    call_command("run_jobs", "--once")
    assert importer.get(f"/api/v2/jobs/{job_id}").json()["summary"]["failed"] == 1
    response = importer.get(f"/api/v2/jobs/{job_id}/errors")
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["user"] == {"email": "x"}  # the identifying fields that are texts; never the password
    assert [error["code"] for error in entry["errors"]] == [
        "FORMAT",
        "INVALID_TYPE",
        "METADATA_TOO_LARGE",
        "REPORT_USER_SHORTENED",
    ]
    assert "more than the 512000 bytes an error report keeps of one user" in entry["errors"][-1]["message"]
    assert len(response.content) < 2_000
    assert stored_json_size(Job.objects.get(pk=job_id).errors) < 2_000
    assert SECRET not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_user_within_the_bound_is_reported_as_sent(post_import, importer):
    user = {"email": "x", "user_metadata": {"n": [1e308] * 1_000}}  # 309 KB as stored: kept whole
    job_id = post_import([user]).json()["id"]
    call_command("run_jobs", "--once")
    [entry] = importer.get(f"/api/v2/jobs/{job_id}/errors").json()
    numbers = entry["user"]["user_metadata"].pop("n")  # PostgreSQL answers each as the integer 10**308
    assert entry["user"] == {"email": "x", "user_metadata": {}}
    assert [float(n) for n in numbers] == [1e308] * 1_000
    assert [error["code"] for error in entry["errors"]] == ["FORMAT"]


@pytest.mark.django_db(transaction=True)
def test_the_whole_report_is_bounded_and_says_how_many_users_it_leaves_out(post_import, importer, settings):
    # 170,000 lines {} (510 KB) made a report of 18.7 MB on every database; the same at a smaller body limit.
    settings.MAX_REQUEST_BODY_BYTES = 20_000
    job_id = post_import(b"\n".join([b"{}"] * 6_000)).json()["id"]
    call_command("run_jobs", "--once")
    assert importer.get(f"/api/v2/jobs/{job_id}").json()["summary"] == {
        "failed": 6_000,
        "updated": 0,
        "inserted": 0,
        "total": 6_000,
    }
    response = importer.get(f"/api/v2/jobs/{job_id}/errors")
    entries = response.json()
    *shown, last = entries
    assert 600 < len(shown) < 800
    assert all(entry == {"user": {}, "errors": [MISSING_EMAIL]} for entry in shown)
    assert last == {
        "user": {},
        "errors": [
            {
                "code": "REPORT_TRUNCATED",
                "message": f"{6_000 - len(shown)} more refused users are not shown: an error report keeps at most "
                "80000 bytes. The job's summary counts every refused user.",
                "path": "",
            }
        ],
    }
    assert stored_json_size(Job.objects.get(pk=job_id).errors) <= 80_000
    assert len(response.content) <= 80_000


MISSING_EMAIL = {"code": "OBJECT_REQUIRED", "message": "Missing required property: email", "path": "email"}
