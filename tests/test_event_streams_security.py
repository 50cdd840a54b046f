"""Event streams' guards: endpoints must be https and public unless the development flag allows otherwise, checked
at creation and again at delivery against the address connected to; secrets are stored encrypted and survive a
SECRET_KEY rotation through SECRET_KEY_FALLBACKS."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids: est_3F... is est?...
from django.db import connection as db
from django.test import override_settings

from core.actors import SYSTEM
from core.crypto import SecretDecryptionError, decrypt_secret, encrypt_secret, reencrypt_secret
from events.endpoints import check_webhook_endpoint
from events.errors import InvalidWebhookEndpoint
from events.models import Delivery, DeliveryStatus, EventStream
from events.services import WebhookAuthorization, authorization_secret, create_event_stream, signing_secret
from tests.helpers import STRONG_PASSWORD
from tests.receiver import receiver
from users.services import create_user

pytestmark = pytest.mark.django_db


def _addresses(*ips: str):
    def fake(host, port, *args, **kwargs):
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    return mock.patch("events.endpoints.socket.getaddrinfo", side_effect=fake)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/events",  # not https
        "https://127.0.0.1/events",
        "https://[::1]/events",
        "https://10.1.2.3/events",
        "https://192.168.0.10/events",
        "https://169.254.169.254/latest/meta-data",  # the cloud metadata address
        "https://100.64.0.1/events",  # shared address space
        "https://[::ffff:127.0.0.1]/events",  # IPv4-mapped loopback
        "https://[64:ff9b::a00:5]/events",  # NAT64 (RFC 6052) of 10.0.0.5: a NAT64 gateway connects to it
        "https://[64:ff9b::127.0.0.1]/events",
        "https://[::127.0.0.1]/events",  # IPv4-compatible (deprecated)
        "https://[::ffff:0:a00:5]/events",  # IPv4-translated (SIIT)
        "https://0.0.0.0/events",
        "ftp://hooks.example.com/",
        "https://user:pass@hooks.example.com/",
        "not a url",
    ],
)
def test_unsafe_endpoints_are_refused_by_default(url):
    with pytest.raises(InvalidWebhookEndpoint) as refused:
        check_webhook_endpoint(url)
    assert refused.value.status == 400 and refused.value.errors[0].field == "destination.configuration.webhook_endpoint"


def test_a_nat64_address_of_a_public_ipv4_address_is_allowed():
    check_webhook_endpoint("https://[64:ff9b::5db8:d70e]/events")  # 93.184.215.14


def test_a_name_resolving_to_any_private_address_is_refused():
    with _addresses("93.184.215.14", "10.0.0.5"), pytest.raises(InvalidWebhookEndpoint):
        check_webhook_endpoint("https://hooks.example.com/events")
    with _addresses("93.184.215.14"):
        check_webhook_endpoint("https://hooks.example.com/events")  # public only: allowed


@override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True)
def test_the_development_flag_allows_http_and_local_addresses():
    check_webhook_endpoint("http://127.0.0.1:8080/events")
    check_webhook_endpoint("http://localhost/events")


def test_a_stream_to_a_private_address_cannot_be_created():
    with pytest.raises(InvalidWebhookEndpoint):
        create_event_stream(
            name="internal",
            subscriptions=["user.created"],
            webhook_endpoint="https://10.0.0.1/hook",
            authorization=WebhookAuthorization(method="bearer", token="t"),
            actor=SYSTEM,
        )
    assert not EventStream.objects.exists()


def _create(connection):
    data: Any = {
        "connection": connection.name,
        "email": "ann@example.com",
        "password": STRONG_PASSWORD,
        "verify_email": False,
    }
    create_user(data=data, actor=SYSTEM)


def test_delivery_to_a_private_address_is_refused_when_the_flag_is_off(connection, run_tasks):
    with receiver() as hook:
        with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
            stream = create_event_stream(
                name="local",
                subscriptions=["user.created"],
                webhook_endpoint=hook.url.replace("http://", "https://"),
                authorization=WebhookAuthorization(method="bearer", token="t"),
                actor=SYSTEM,
            )
        _create(connection)
        run_tasks()
        assert hook.received == []
    delivery = Delivery.objects.get(stream=stream)
    assert delivery.status == DeliveryStatus.FAILED  # not retried: the same address would be refused again
    assert "non-public" in delivery.last_error


def _stream_to_a_public_name(name: str) -> EventStream:
    """A stream to ``https://hooks.example.com/events``, a name resolving to a public address when it is created."""
    with _addresses("93.184.215.14"):
        return create_event_stream(
            name=name,
            subscriptions=["user.created"],
            webhook_endpoint="https://hooks.example.com/events",
            authorization=WebhookAuthorization(method="bearer", token="the-receivers-token"),
            actor=SYSTEM,
        )


def test_a_name_rebound_to_a_private_address_after_creation_is_refused_at_delivery(connection, run_tasks):
    stream = _stream_to_a_public_name("rebinding")
    _create(connection)
    connect = mock.patch("urllib3.connection.HTTPConnection.connect", side_effect=AssertionError("connected"))
    with _addresses("127.0.0.1"), connect as connected:
        run_tasks()
    assert connected.call_count == 0  # refused before any connection was made
    delivery = Delivery.objects.get(stream=stream)
    assert delivery.status == DeliveryStatus.FAILED and "non-public" in delivery.last_error


def test_secrets_are_stored_encrypted_and_read_back():
    stream = create_event_stream(
        name="crm",
        subscriptions=["user.created"],
        webhook_endpoint="https://93.184.215.14/events",
        authorization=WebhookAuthorization(method="basic", username="crm", password="the-basic-password"),
        actor=SYSTEM,
    )
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM events_eventstream")
        dump = repr(cursor.fetchall())
    secret = signing_secret(stream)
    assert secret.startswith("whsec_")
    assert "the-basic-password" not in dump and secret not in dump and secret.removeprefix("whsec_") not in dump
    assert authorization_secret(stream) == "the-basic-password"


def _public_stream(name: str) -> EventStream:
    """A stream to a public address, its bearer token ``NAME-token``."""
    return create_event_stream(
        name=name,
        subscriptions=["user.created"],
        webhook_endpoint="https://93.184.215.14/events",
        authorization=WebhookAuthorization(method="bearer", token=f"{name}-token"),
        actor=SYSTEM,
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``events.delivery``'s monotonic clock, set by hand, and an empty ``_PREPARED`` never yet looked over."""
    from events import delivery

    now = [1_000_000.0]
    monkeypatch.setattr(delivery.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(delivery, "_PREPARED", {})
    monkeypatch.setattr(delivery, "_PREPARED_LOOKED_AT", [0.0])
    return now


def test_the_worker_forgets_a_streams_decrypted_secrets_once_it_has_not_sent_to_it_for_ten_minutes(clock):
    """The worker keeps a stream's decrypted secrets between its tasks (``events.delivery._PREPARED``); a stream
    deleted, or no longer sent to, does not leave them in its memory for the life of the process."""
    from events import delivery
    from events.delivery import Sender

    gone, kept = _public_stream("gone"), _public_stream("kept")
    gone_id = gone.id
    Sender(gone), Sender(kept)
    assert set(delivery._PREPARED) == {gone_id, kept.id}
    assert delivery._PREPARED[gone_id][1][2] == "Bearer gone-token"  # what is kept: the decrypted Authorization
    gone.delete()
    for _minute in range(10):
        clock[0] += 60.0
        Sender(kept)  # the other stream's tasks go on
        assert gone_id in delivery._PREPARED  # used 10 minutes ago at most
    clock[0] += 60.0
    Sender(kept)
    assert set(delivery._PREPARED) == {kept.id}


def test_the_worker_forgets_the_last_streams_secrets_though_it_sends_nothing_more(clock):
    """The only stream deleted, no task makes a ``Sender`` again: the worker's housekeeping (every couple of
    seconds) forgets its decrypted secrets all the same, ten minutes on."""
    from events import delivery
    from events.delivery import Sender
    from jobs.taskworker import housekeeping

    stream = _public_stream("only")
    Sender(stream)
    stream.delete()
    clock[0] += 11 * 60.0
    housekeeping(recover=False)
    assert delivery._PREPARED == {}


def test_a_rotated_secret_key_still_decrypts_through_the_fallbacks(settings):
    token = encrypt_secret("s3cret")
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key", [old]
    assert decrypt_secret(token) == "s3cret"
    rotated = reencrypt_secret(token)
    settings.SECRET_KEY_FALLBACKS = []
    assert decrypt_secret(rotated) == "s3cret"  # now under the new key alone
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(token)  # the old key is gone


def test_the_admin_lists_streams_and_deliveries_without_secrets(admin_client, connection, run_tasks):
    stream = create_event_stream(
        name="crm",
        subscriptions=["user.created"],
        webhook_endpoint="https://93.184.215.14/events",
        authorization=WebhookAuthorization(method="bearer", token="the-bearer-token"),
        actor=SYSTEM,
    )
    _create(connection)
    page = admin_client.get(f"/admin/events/eventstream/{quote(stream.pk)}/change/")
    assert page.status_code == 200 and "crm" in page.text
    assert stream.authorization_secret_encrypted not in page.text and "the-bearer-token" not in page.text
    delivery = Delivery.objects.get()
    assert admin_client.get("/admin/events/delivery/").status_code == 200
    assert delivery.event_id in admin_client.get(f"/admin/events/delivery/{delivery.pk}/change/").text


def test_a_stored_endpoint_on_port_0_is_a_failed_attempt_never_a_request_to_443(connection, run_tasks):
    """Stored before the check refused it (or written around it): the worker refuses to call it rather than send
    the event to the scheme's default port."""
    stream = create_event_stream(
        name="crm",
        subscriptions=["user.created"],
        webhook_endpoint="https://93.184.215.14/events",
        authorization=WebhookAuthorization(method="bearer", token="t"),
        actor=SYSTEM,
    )
    EventStream.objects.filter(pk=stream.pk).update(webhook_endpoint="https://93.184.215.14:0/events")
    _create(connection)
    connect = mock.patch("urllib3.connection.HTTPConnection.connect", side_effect=AssertionError("connected"))
    with _addresses("93.184.215.14"), connect as connected:
        run_tasks()
    assert connected.call_count == 0
    delivery = Delivery.objects.get(stream=stream)
    assert delivery.status == DeliveryStatus.FAILED  # not retried: the same endpoint would be refused again
    assert delivery.last_error == (
        "the webhook endpoint cannot be called: The webhook endpoint's port must be a number from 1 to 65535."
    )
    assert [attempt.status for attempt in delivery.attempts.all()] == ["failed"]


def test_an_internationalised_host_is_called_by_its_idna_name_and_the_worker_records_the_attempt(connection, run_tasks):
    """http.client writes headers in Latin-1: a Host of ``例え.example`` raised out of the attempt (the delivery
    stayed claimed, and the sweep queued the stream again for ever). DNS, TLS and Host take the IDNA name."""
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True), receiver() as hook:
        port = urlsplit(hook.url).port
        with _addresses("127.0.0.1"):
            stream = create_event_stream(
                name="idn",
                subscriptions=["user.created"],
                webhook_endpoint=f"http://例え.example:{port}/hooks",
                authorization=WebhookAuthorization(method="bearer", token="t"),
                actor=SYSTEM,
            )
            _create(connection)
            run_tasks()
        (request,) = hook.received
    assert request.headers["host"] == f"xn--r8jz45g.example:{port}"
    delivery = Delivery.objects.get(stream=stream)
    assert (delivery.status, delivery.claimed_by) == (DeliveryStatus.DELIVERED, "")


@contextmanager
def _unanswered() -> Iterator[None]:
    """A resolver that does not answer while the block runs (a DNS server that never replies); its lookups fail once
    the block ends."""
    release = threading.Event()

    def hang(host, port, *args, **kwargs):
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    try:
        with mock.patch("events.endpoints.socket.getaddrinfo", side_effect=hang):
            yield
    finally:
        release.set()


@override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.3)
def test_a_resolver_that_does_not_answer_is_given_up_at_the_timeout_when_a_stream_is_created():
    """``getaddrinfo`` has no deadline: an unanswered resolver held the request for as long as the system's resolver
    timeouts added up to (tens of seconds)."""
    with _unanswered():
        started = time.monotonic()
        with pytest.raises(InvalidWebhookEndpoint) as refused:
            check_webhook_endpoint("https://hooks.example.com/events")
        assert time.monotonic() - started < 5
    assert "does not resolve" in str(refused.value.errors[0].message)


@override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.3)
def test_a_resolver_that_does_not_answer_at_delivery_is_a_retried_network_error(connection, run_tasks):
    stream = _stream_to_a_public_name("unanswered")
    _create(connection)
    with _unanswered():
        started = time.monotonic()
        run_tasks()
        assert time.monotonic() - started < 5  # the worker went on, the resolution still unanswered
    delivery = Delivery.objects.get(stream=stream)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempt_count == 1
    assert "did not resolve within 0.3 s" in delivery.last_error


@override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.2)
def test_an_endpoint_that_is_an_ip_address_waits_for_no_resolver_thread():
    """Unanswered resolutions held every resolver thread: an endpoint written as an address (nothing to resolve) was
    queued behind them and refused as not resolving within the timeout."""
    from events.endpoints import _RESOLVER_THREADS, resolve

    with _unanswered():
        for n in range(_RESOLVER_THREADS):
            with pytest.raises(TimeoutError):
                resolve(f"hang{n}.example", 443)
        with pytest.raises(TimeoutError):  # every resolver thread is held
            resolve("hooks.example.com", 443)
        check_webhook_endpoint("https://93.184.215.14/events")
        check_webhook_endpoint("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/events")
        assert [str(a) for a in resolve("93.184.215.14", 443)] == ["93.184.215.14"]


def test_a_process_stops_without_waiting_for_an_unanswered_resolution(tmp_path):
    """The resolver threads were a ``ThreadPoolExecutor``'s, which Python joins at exit: the worker stopped by
    SIGTERM while a resolution went unanswered lingered until the system's resolver gave up (tens of seconds)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import socket, time, django; django.setup(); from unittest import mock; "
        "from django.test import override_settings; from events.endpoints import resolve\n"
        "with mock.patch('socket.getaddrinfo', side_effect=lambda *a, **k: time.sleep(60)), "
        "override_settings(EVENT_STREAMS_TIMEOUT_SECONDS=0.2):\n"
        "    try:\n        resolve('hooks.example.com', 443)\n    except TimeoutError:\n        print('gave up')\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "ci", "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert result.stdout.strip() == "gave up", result.stderr
    assert time.monotonic() - started < 40
