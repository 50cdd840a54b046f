"""An ops script written against Auth0's official SDK runs against us by changing only the domain."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management import Auth0
from auth0.management.errors import BadRequestError, NotFoundError, TooManyRequestsError
from django.conf import settings

from audit.models import Event
from clients.services import create_client
from connections.models import Connection
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD
from tests.live import gunicorn_server
from users.models import User

pytestmark = [pytest.mark.live]

ALL_SCOPES = (
    "create:users read:users update:users delete:users "
    "create:connections read:connections update:connections delete:connections"
)


def _management(base_url: str, client_id: str, secret: str) -> Auth0:
    token = GetToken(urlsplit(base_url).netloc, client_id, client_secret=secret, protocol="http")
    granted = token.client_credentials(settings.MANAGEMENT_API_AUDIENCE)
    assert granted["token_type"] == "Bearer"
    assert granted["expires_in"] == 86400
    return Auth0(base_url=f"{base_url}/api/v2", token=granted["access_token"], max_retries=0)


def test_ops_script_token_create_get_update_delete_and_connections(live_server_url, make_connection):
    make_connection()
    client, secret = create_client(name="ops-script", scopes=ALL_SCOPES, actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)

    created = api.users.create(
        connection="Username-Password-Authentication",
        email="Ops.Person@Example.com",
        password=STRONG_PASSWORD,
        user_metadata={"team": "ops", "level": 1},
    )
    assert created.email == "ops.person@example.com"

    fetched = api.users.get(created.user_id)
    assert fetched.user_id == created.user_id
    assert fetched.user_metadata == {"team": "ops", "level": 1}

    updated = api.users.update(created.user_id, user_metadata={"level": 2, "team": None, "shift": "night"})
    assert updated.user_metadata == {"level": 2, "shift": "night"}
    # Auth0's last_password_reset: absent until the password changes, then the time of the change.
    assert created.last_password_reset is None and updated.last_password_reset is None
    reset = api.users.update(created.user_id, password="An0ther!Passw0rd")
    assert reset.last_password_reset is not None and reset.last_password_reset == reset.updated_at

    by_email = api.users.list_users_by_email(email="OPS.PERSON@example.com")
    assert [u.user_id for u in by_email] == [created.user_id]

    api.users.delete(created.user_id)
    with pytest.raises(NotFoundError) as gone:
        api.users.get(created.user_id)
    assert gone.value.body["errorCode"] == "inexistent_user"

    connection = api.connections.create(
        name="Ops-Created-DB",
        strategy="auth0",
        options={"passwordPolicy": "low"},
        display_name="Ops database",
        metadata={"owner": "ops"},
    )
    assert connection.id.startswith("con_")
    assert connection.name == "Ops-Created-DB"
    assert (connection.display_name, connection.metadata) == ("Ops database", {"owner": "ops"})
    assert api.connections.get(connection.id).options["passwordPolicy"] == "low"


def test_wrong_secret_surfaces_as_the_sdk_error(live_server_url):
    client, _secret = create_client(name="ops-script", scopes="read:users", actor=SYSTEM)
    token = GetToken(urlsplit(live_server_url).netloc, client.client_id, client_secret="wrong", protocol="http")
    with pytest.raises(Auth0Error) as denied:
        token.client_credentials(settings.MANAGEMENT_API_AUDIENCE)
    assert denied.value.status_code == 401
    assert denied.value.error_code == "access_denied"


def test_rate_limit_surfaces_as_too_many_requests(transactional_db):
    client, secret = create_client(name="ops-script", scopes="read:users", actor=SYSTEM)
    with gunicorn_server(workers=1, env={"MANAGEMENT_API_RATE_LIMIT": "2/hour"}) as url:
        api = _management(url, client.client_id, secret)
        for _ in range(2):
            with pytest.raises(NotFoundError):
                api.users.get("auth0|000000000000000000000000")
        with pytest.raises(TooManyRequestsError) as limited:
            api.users.get("auth0|000000000000000000000000")
    assert limited.value.status_code == 429
    assert limited.value.body["errorCode"] == "too_many_requests"
    assert limited.value.headers is not None
    assert limited.value.headers["x-ratelimit-remaining"] == "0"


def _bulk_users(connection: Connection, count: int) -> None:
    """``count`` users inserted directly: creating a thousand through the API is not what these tests are about."""
    now = datetime.now(UTC)
    User.objects.bulk_create(
        User(
            connection=connection, user_id=f"auth0|{i:024x}", email=f"u{i}@example.com", created_at=now, updated_at=now
        )
        for i in range(count)
    )


def test_the_sdks_users_pager_reads_every_page_then_stops(live_server_url, make_connection):
    _bulk_users(make_connection(), 5)
    client, secret = create_client(name="ops-script", scopes="read:users", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    listed = [user.user_id for user in api.users.list(per_page=2)]  # pages of 2, 2, 1, then an empty one
    assert sorted(listed) == sorted(User.objects.values_list("user_id", flat=True))


def test_the_sdks_change_password_ticket_refuses_result_url_with_client_id(live_server_url, make_connection):
    """Auth0's rule for result_url beside client_id, as an ops script using tickets.change_password meets it."""
    _bulk_users(make_connection(), 1)
    user_id = User.objects.get().user_id
    app, _ = create_client(name="app", scopes="", connections=[], actor=SYSTEM)
    client, secret = create_client(name="ops-script", scopes="create:user_tickets", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    with pytest.raises(BadRequestError) as refused:
        api.tickets.change_password(user_id=user_id, result_url="https://app.example/done", client_id=app.client_id)
    text = "result_url cannot be specified when using client_id."
    assert refused.value.body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": text,
        "errorCode": "invalid_body",
        "errors": [{"field": "result_url", "code": "CONFLICTING_FIELDS", "message": text}],
    }
    assert api.tickets.change_password(user_id=user_id, client_id=app.client_id).ticket
    assert api.tickets.change_password(user_id=user_id, result_url="https://app.example/done").ticket


def test_the_sdk_checks_a_verification_email_jobs_status(live_server_url, make_connection):
    """Auth0's "Resend Verification Emails" then "Check job status" through jobs.verification_email.create and
    jobs.get: the job's id used to be made up, so jobs.get raised NotFoundError."""
    _bulk_users(make_connection(), 1)
    user_id = User.objects.get().user_id
    client, secret = create_client(name="ops-script", scopes="update:users read:users", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    sent = api.jobs.verification_email.create(user_id=user_id)
    assert (sent.type, sent.status) == ("verification_email", "completed")
    checked = api.jobs.get(sent.id)
    assert (checked.id, checked.type, checked.status, checked.created_at) == (
        sent.id,
        sent.type,
        sent.status,
        sent.created_at,
    )
    assert checked.connection_id is None and checked.summary is None


def test_the_sdks_users_pager_stops_with_auth0s_error_after_the_first_thousand(live_server_url, make_connection):
    _bulk_users(make_connection(), 1001)
    client, secret = create_client(name="ops-script", scopes="read:users", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    listed: list[str | None] = []
    with pytest.raises(BadRequestError) as refused:
        for user in api.users.list(per_page=100):
            listed.append(user.user_id)
    assert len(set(listed)) == len(listed) == 1000
    assert refused.value.status_code == 400
    assert refused.value.body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "You can only page through the first 1000 records. "
        "See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
        "errorCode": "invalid_paging",
        "errors": [],
    }


def test_the_sdks_logs_pager_stops_with_auth0s_error_past_the_first_thousand(live_server_url):
    Event.objects.bulk_create(
        Event(type="sapi", description="Create a User", actor_kind="client", actor_id="x") for _ in range(1150)
    )
    client, secret = create_client(name="ops-script", scopes="read:logs", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    listed: list[str | None] = []
    with pytest.raises(BadRequestError) as refused:
        for log in api.logs.list(per_page=100):
            listed.append(log.log_id)
    assert len(set(listed)) == len(listed) == 1100  # pages 0 to 10 start within the first 1000 events
    assert refused.value.body["errorCode"] == "invalid_paging"
    assert refused.value.body["message"].startswith("Requesting page 11 exceeds the allowed maximum of 1000 records")


def test_the_sdks_log_search_finds_the_events_it_names(live_server_url):
    # auth0-python 6 searches the log with logs.list(search=...), sent as ?search= (Auth0's name for get_logs'
    # query); it was refused with 400 "Additional properties not allowed: search".
    Event.objects.create(type="fp", description="Wrong email or password.", actor_kind="client", actor_id="x")
    Event.objects.bulk_create(
        Event(type="sapi", description="Create a User", actor_kind="client", actor_id="x") for _ in range(3)
    )
    client, secret = create_client(name="ops-script", scopes="read:logs", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    assert [log.type for log in api.logs.list(search="type:fp")] == ["fp"]
    assert [log.type for log in api.logs.list(search="type:sapi", per_page=2)] == ["sapi"] * 3


def test_the_sdk_reads_a_users_log_events_page_by_page(live_server_url):
    # auth0-python 6 calls get_logs_by_user as users.logs.list(id, ...) (version 4's users.get_log_events); it asks
    # include_totals=true and reads pages until one is empty.
    Event.objects.bulk_create(
        Event(type="sapi", description="Update a User", actor_kind="client", actor_id="x", user_id="auth0|abc/def")
        for _ in range(7)
    )
    Event.objects.create(type="sapi", description="Update a User", actor_kind="client", actor_id="x", user_id="x")
    client, secret = create_client(name="ops-script", scopes="read:logs_users", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    pager = api.users.logs.list("auth0|abc/def", per_page=3, sort="date:1")
    assert (pager.response.total, pager.response.start, pager.response.limit) == (7, 0, 3)
    ids = [log.log_id for log in pager]
    expected = list(
        Event.objects.filter(user_id="auth0|abc/def").order_by("date", "id").values_list("log_id", flat=True)
    )
    assert ids == expected
    assert list(api.users.logs.list("auth0|nobody")) == []


def test_a_log_exporter_pages_by_checkpoint_through_the_sdks_client(live_server_url):
    # auth0-python 6's logs.list takes no from/take and reads the answer as a totals object, so a checkpoint
    # exporter sends the request through the SDK's own authenticated HTTP client, as auth0-python 4's
    # logs.search(from_param=..., take=...) did (with its page/per_page/include_totals defaults alongside).
    Event.objects.bulk_create(
        Event(type="sapi", description="Create a User", actor_kind="client", actor_id="x") for _ in range(1030)
    )
    client, secret = create_client(name="exporter", scopes="read:logs", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    http = api._client_wrapper.httpx_client
    everything = list(Event.objects.order_by("date", "id").values_list("log_id", flat=True))
    checkpoint, seen = everything[0], []
    while True:
        params = {"from": checkpoint, "take": 100, "page": 0, "per_page": 50, "include_totals": "true"}
        response = http.request("logs", method="GET", params=params)
        assert response.status_code == 200
        batch = [entry["log_id"] for entry in response.json()]
        assert response.links["next"]["url"].endswith(
            f"/api/v2/logs?from={batch[-1] if batch else checkpoint}&take=100"
        )
        if not batch:
            break
        seen += batch
        checkpoint = batch[-1]
    assert seen == everything[1:]


@pytest.fixture
def search_directory(user_connections) -> dict[str, str]:
    """test_user_search's directory, for the live server."""
    from tests.test_user_search import PEOPLE

    ids = {}
    for index, (person, (connection_name, fields)) in enumerate(PEOPLE.items()):
        connection = Connection.objects.get(name=connection_name)
        values = {"updated_at": fields["created_at"], **fields}
        user = User.objects.create(user_id=f"{connection.strategy}|{index:024x}", connection=connection, **values)
        ids[person] = user.user_id
    return ids


def test_sdk_search_runs_every_auth0_example(live_server_url, search_directory):
    from tests.test_user_search import AUTH0_EXAMPLES

    client, secret = create_client(name="ops-script", scopes="read:users", actor=SYSTEM)
    api = _management(live_server_url, client.client_id, secret)
    names = {user_id: name for name, user_id in search_directory.items()}
    for q, expected in AUTH0_EXAMPLES:
        listed = api.users.list(q=q, search_engine="v3", per_page=100)
        assert {names[user.user_id] for user in listed} == expected, q

    with pytest.raises(BadRequestError) as refused:
        api.users.list(q="name:*sa", search_engine="v3")
    assert refused.value.body["errorCode"] == "invalid_query_string"
    with pytest.raises(BadRequestError) as v1:
        api.users.list(q="name:john", search_engine="v1")
    assert v1.value.body["message"] == "You are not allowed to use search_engine=v1."
