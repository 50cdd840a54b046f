"""The admin as a product: its name and links, operators apart from directory users, lists that keep to a few
columns, the audit log as one linked line per event, and the dashboard's figures from a handful of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection as connection_for_queries
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from adminsite import dashboard
from audit.models import Event
from clients.services import create_client
from core.actors import SYSTEM, Actor
from core.schema import validate_payload
from events.models import Delivery, EventStream
from events.models import Event as StreamEvent
from jobs.models import Job, JobStatus, JobType
from tests.helpers import STRONG_PASSWORD
from users.models import User
from users.serializers import CreateUserRequestSerializer
from users.services import create_user

pytestmark = pytest.mark.django_db


def test_the_header_and_title_name_the_product_and_link_to_the_api_docs(admin_client):
    page = admin_client.get("/admin/")
    assert page.status_code == 200
    assert '<div id="site-name"><a href="/admin/">userdir</a></div>' in page.text
    assert re.search(r"<title>[^<]*\| userdir</title>", page.text)
    assert "Django administration" not in page.text and "Django site admin" not in page.text
    assert "View site" not in page.text
    assert '<a href="/api/v2/docs" id="api-docs-link">API docs</a>' in page.text
    assert admin_client.get("/api/v2/docs").status_code == 200


def test_operators_and_directory_users_have_different_names(admin_client):
    page = admin_client.get("/admin/").text
    assert re.search(r'<a href="/admin/adminsite/operator/"[^>]*>Operators</a>', page)
    assert re.search(r'<a href="/admin/users/user/"[^>]*>Users</a>', page)
    assert "/admin/auth/user/" not in page
    assert admin_client.get("/admin/auth/user/").status_code == 404
    operators = admin_client.get("/admin/adminsite/operator/")
    assert operators.status_code == 200 and "Select operator to change" in operators.text


def test_the_users_list_has_four_columns_and_shows_who_is_blocked(admin_client, connection, create):
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    page = admin_client.get("/admin/users/user/")
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page.text)
    assert headers == ["user", "connection_name", "status", "created_at"]
    assert "badge-blocked" not in page.text

    admin_client.post("/admin/users/user/", {"action": "block", "_selected_action": [user.pk]})
    blocked = admin_client.get("/admin/users/user/")
    assert '<span class="badge-blocked">Blocked</span>' in blocked.text
    assert user.user_id in blocked.text and "ann@example.com" in blocked.text


def test_the_clients_list_counts_scopes_instead_of_listing_them(admin_client):
    create_client(name="Sync", scopes="create:users read:users read:logs", actor=SYSTEM)
    page = admin_client.get("/admin/clients/client/")
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page.text)
    assert headers == ["name", "client_id", "is_active", "scope_count", "created_at"]
    assert '<span title="create:users read:users read:logs">3</span>' in page.text


def test_each_event_is_one_line_linking_the_user_and_the_client(admin_client, connection, create):
    client, _secret = create_client(name="Backoffice sync", scopes="create:users", actor=SYSTEM)
    user = create_user(
        data=validate_payload(
            CreateUserRequestSerializer,
            {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD},
        ),
        actor=Actor(kind="client", id=client.client_id, ip="192.0.2.7"),
    )
    page = admin_client.get("/admin/audit/event/")
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page.text)
    assert headers == ["date", "line"]
    line = re.search(r'<span class="event-line">(.*?)</span></td>', page.text, re.S)
    assert line
    text = line.group(1)
    assert f'<a href="/admin/users/user/{user.pk}/change/">ann@example.com</a>' in text
    assert f'<a href="/admin/clients/client/{client.client_id}/change/">Backoffice sync</a>' in text
    assert "Success API Operation</span>: Create a User" in text
    assert "in Username-Password-Authentication" in text and "from 192.0.2.7" in text


def test_the_audit_log_speaks_japanese(admin_client, connection, create):
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    page = admin_client.get("/admin/audit/event/", HTTP_ACCEPT_LANGUAGE="ja").text
    found = re.search(r'<span class="event-line">(.*?)</span></td>', page, re.S)
    assert found
    line = found.group(1)
    assert "Create a User" not in line and "Success API Operation" not in line
    assert "API 操作成功</span>: ユーザーの作成" in line
    assert "実行者: クライアント" in line


def _queries(admin_client, url: str) -> int:
    with CaptureQueriesContext(connection_for_queries) as context:
        assert admin_client.get(url).status_code == 200
    return len(context.captured_queries)


def test_a_page_of_events_costs_two_lookups_not_one_per_event(admin_client, connection, create):
    for i in range(2):
        create({"connection": connection.name, "email": f"u{i}@example.com", "password": STRONG_PASSWORD})
    few = _queries(admin_client, "/admin/audit/event/")
    for i in range(2, 20):
        create({"connection": connection.name, "email": f"u{i}@example.com", "password": STRONG_PASSWORD})
    assert _queries(admin_client, "/admin/audit/event/") == few


@pytest.fixture
def activity(make_connection):
    """Two connections with users created over 40 days, login and sign-up events, and jobs in each state."""
    now = timezone.now()
    db, sms = make_connection(name="DB"), make_connection(name="texts", strategy="sms")
    ages = [0, 0, 1, 5, 29, 30, 39]  # days ago: the last two fall outside the 30-day window
    for i, age in enumerate(ages):
        user = User.objects.create(
            user_id=f"auth0|{i:024x}", connection=db, email=f"u{i}@example.com", created_at=now, updated_at=now
        )
        User.objects.filter(pk=user.pk).update(created_at=now - timedelta(days=age))
    User.objects.create(user_id="sms|1", connection=sms, phone_number="+15550001", created_at=now, updated_at=now)
    for kind, age in [("fp", 0), ("fu", 0), ("f", 3), ("fp", 31), ("ss", 0), ("ss", 2), ("fs", 0), ("sapi", 0)]:
        event = Event.objects.create(type=kind, description="x", actor_kind="anonymous", actor_id="x")
        Event.objects.filter(pk=event.pk).update(date=now - timedelta(days=age, minutes=1))
    for status, finished in [
        (JobStatus.PENDING, None),
        (JobStatus.PROCESSING, None),
        (JobStatus.FAILED, now),
        (JobStatus.COMPLETED, now),
    ]:
        Job.objects.create(
            type=JobType.USERS_IMPORT,
            status=status,
            connection=db,
            connection_name=db.name,
            users_file=b"",
            finished_at=finished,
            claimed_by="w" if status == JobStatus.PROCESSING else "",
            heartbeat_at=now if status == JobStatus.PROCESSING else None,
        )
    streams = [
        EventStream.objects.create(
            name=name,
            status=stream_status,
            disabled_reason=reason,
            consecutive_failures=failures,
            webhook_endpoint="https://hooks.example.com/in",
            authorization_method="bearer",
            authorization_secret_encrypted="x",
            signing_secret_encrypted="x",
        )
        for name, stream_status, reason, failures in [
            ("crm", "enabled", "", 1),
            ("warehouse", "disabled", "failures", 20),
        ]
    ]
    for i, (stream, delivery_status) in enumerate(
        [(streams[0], "pending"), (streams[0], "delivered"), (streams[0], "failed"), (streams[1], "failed")]
    ):
        owed = StreamEvent.objects.create(type="user.created", source="x", subject=f"auth0|{i}", time=now, data={})
        Delivery.objects.create(
            stream=stream, event=owed, event_type="user.created", status=delivery_status, next_attempt_at=now
        )
    return now


def test_the_dashboard_figures(activity, django_assert_num_queries):
    with django_assert_num_queries(7):
        figures = dashboard.build(now=activity)
    assert [(c.name, c.users) for c in figures.connections] == [("DB", 7), ("texts", 1)]
    assert figures.total_users == 8
    assert len(figures.creates) == 30
    assert figures.creates[-1].day == timezone.localdate(activity)
    by_age = {(figures.creates[-1].day - d.day).days: d.users for d in figures.creates}
    assert by_age[0] == 3 and by_age[1] == 1 and by_age[5] == 1 and by_age[29] == 1
    assert sum(d.users for d in figures.creates) == 6  # 30 and 39 days ago are outside
    assert figures.failed_logins == dashboard.EventCounts(last_day=2, last_days=3)
    assert figures.successful_signups == dashboard.EventCounts(last_day=1, last_days=2)
    assert figures.failed_signups == dashboard.EventCounts(last_day=1, last_days=1)
    assert (figures.running_jobs, figures.failed_jobs) == (2, 1)
    assert [(s.name, s.enabled, s.consecutive_failures, s.pending, s.failed) for s in figures.event_streams] == [
        ("crm", True, 1, 1, 1),
        ("warehouse", False, 20, 0, 1),
    ]
    assert figures.event_streams[1].status_label == "Disabled after consecutive delivery failures"
    bars = figures.bars()
    assert max(b.height for b in bars) == 120 and bars[-1].height == 120  # today is the busiest day


def test_the_index_shows_the_dashboard_with_a_server_drawn_chart(admin_client, activity):
    page = admin_client.get("/admin/").text
    assert '<td class="number" id="dashboard-total-users">8</td>' in page
    assert len(re.findall(r"<rect [^>]*data-users=", page)) == 30
    failed = re.search(
        r'id="dashboard-failed-logins">.*?<td class="number">(\d+)</td><td class="number">(\d+)</td>', page
    )
    assert failed and failed.groups() == ("2", "3")
    assert re.search(r'id="dashboard-running-jobs">.*?<td class="number">2</td>', page)
    assert re.search(r'id="dashboard-failed-jobs">.*?<td class="number">1</td>', page)
    assert re.search(r'class="stream-disabled"[^>]*>.*?Disabled after consecutive delivery failures', page, re.S)
    assert "<script" not in page.split('id="dashboard"')[1]  # no chart library, nothing from a CDN
    # Nothing loaded from another host (a random id on the page may well spell "cdn").
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page, re.I)


def test_the_jobs_list_keeps_to_five_columns(admin_client, activity):
    page = admin_client.get("/admin/jobs/job/")
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page.text)
    assert headers == ["job", "status", "connection_name", "created_at", "finished_at"]


@pytest.mark.parametrize(
    ("page", "action", "value"),
    [
        ("users/user", "block", "abc"),
        ("users/user", "block", "1.0"),
        ("users/user", "block", str(2**63)),  # past a BigAutoField: SQLite cannot even bind it
        ("users/user", "block", str(-(2**63) - 1)),
        ("events/pendingevents", "release", "x"),
        ("events/pendingevents", "discard", "1e3"),
        ("clients/client", "deactivate", "cli\x00ent"),  # PostgreSQL's text cannot hold a NUL
        ("events/eventstream", "enable", "est_\x00"),
    ],
)
def test_an_action_posted_for_ids_the_key_cannot_hold_is_400_not_500(admin_client, page, action, value):
    """``adminsite.sites.CheckedSelection``, on every registered model's admin: Django filtered ``pk__in`` on the
    posted values as they came and ended the page with a 500."""
    response = admin_client.post(f"/admin/{page}/", {"action": action, "_selected_action": ["1", value], "index": "0"})
    assert response.status_code == 400


def test_an_action_posted_for_valid_ids_still_runs(admin_client, connection):
    user = create_user(
        data=validate_payload(
            CreateUserRequestSerializer,
            {"connection": connection.name, "email": "sel@example.com", "password": STRONG_PASSWORD},
        ),
        actor=SYSTEM,
    )
    response = admin_client.post(
        "/admin/users/user/", {"action": "block", "_selected_action": [str(user.pk)], "index": "0"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.blocked is True
