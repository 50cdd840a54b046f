"""The worker's mails share one SMTP session (``core.mail.kept_mailer_connection``), against a real SMTP server
(aiosmtpd): one connection, ``EHLO`` and ``QUIT`` for the mails of a round of tasks instead of one each; a session
the server ended is opened again for the next mail; a mailer's error closes the session; outside the worker each
mail has its own session, as Django sends it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import django
import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings

from core import mail as core_mail
from core.mail import kept_mailer_connection, send_mail
from tests.helpers import STRONG_PASSWORD, USERS

pytestmark = pytest.mark.django_db


class _Recorder:
    """aiosmtpd's handler: counts sessions (``EHLO``) and ``QUIT``s, keeps each accepted mail's recipients, refuses
    the recipients in ``refuse`` (550), and remembers the last session's server so a test can end it."""

    def __init__(self) -> None:
        self.ehlo = 0
        self.quit = 0
        self.mails: list[list[str]] = []
        self.refuse: set[str] = set()
        self.server: Any = None

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> Any:
        self.ehlo += 1
        self.server = server
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quit += 1
        return "221 Bye"


@pytest.fixture
def smtp() -> Iterator[tuple[_Recorder, Controller]]:
    """A real SMTP server on a free local port, and this project's default mailer pointed at it (SMTP, no TLS)."""
    recorder = _Recorder()
    with socket.socket() as probe:  # a free port (the controller's start connects to the port it was given)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    options = {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 5}
    if django.VERSION >= (6, 1):
        mailers = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
        overrides: dict[str, Any] = {"MAILERS": mailers}
    else:  # pragma: no cover - Django 5.2 (Python 3.11)
        overrides = {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": port,
            "EMAIL_USE_TLS": False,
        }
    try:
        with override_settings(**overrides):
            yield recorder, controller
    finally:
        controller.stop()


def _mail(to: str) -> int:
    return send_mail(subject="Hello", message="Hello.", from_email="no-reply@example.com", recipient_list=[to])


def _wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_worker_sends_a_rounds_mails_over_one_session_and_closes_it_when_idle(
    smtp: tuple[_Recorder, Controller], api: Any, connection: Any, run_tasks: Any
) -> None:
    recorder, _controller = smtp
    addresses = [f"user{n}@example.com" for n in range(3)]
    for address in addresses:
        body = {"connection": connection.name, "email": address, "password": STRONG_PASSWORD}
        assert api.post(USERS, body, format="json").status_code == 201
    assert run_tasks() == 3
    _wait_for(lambda: recorder.quit == 1)
    assert sorted(recorder.mails) == [[address] for address in addresses]
    assert (recorder.ehlo, recorder.quit) == (1, 1)  # one session, ended when the worker found nothing more to do


def test_each_mail_has_a_session_of_its_own_outside_the_worker(smtp: tuple[_Recorder, Controller]) -> None:
    recorder, _controller = smtp
    assert _mail("ann@example.com") == 1
    assert _mail("bob@example.com") == 1
    _wait_for(lambda: recorder.quit == 2)
    assert (recorder.ehlo, recorder.quit, len(recorder.mails)) == (2, 2, 2)


def test_a_session_the_server_ended_is_opened_again_for_the_next_mail(smtp: tuple[_Recorder, Controller]) -> None:
    recorder, controller = smtp
    with kept_mailer_connection():
        assert _mail("ann@example.com") == 1
        ended = threading.Event()

        def end_session() -> None:
            recorder.server.transport.close()
            ended.set()

        controller.loop.call_soon_threadsafe(end_session)
        assert ended.wait(5)
        time.sleep(0.05)  # the close reaches the client's socket
        assert _mail("bob@example.com") == 1
    assert recorder.mails == [["ann@example.com"], ["bob@example.com"]]
    assert recorder.ehlo == 2


def test_a_session_the_server_ended_with_a_421_reply_is_opened_again_for_the_next_mail(
    smtp: tuple[_Recorder, Controller],
) -> None:
    """Postfix's and Exim's idle timeouts answer "421 ... timeout exceeded" and close the session; the client reads
    the 421 as the answer to its next command (MAIL), which smtplib raises as ``SMTPSenderRefused``: the mail was
    refused, its task tried again later, where the session is simply opened again."""
    recorder, controller = smtp
    with kept_mailer_connection():
        assert _mail("ann@example.com") == 1

        async def time_out() -> None:
            await recorder.server.push("421 4.4.2 Error: timeout exceeded")
            recorder.server.transport.close()

        asyncio.run_coroutine_threadsafe(time_out(), controller.loop).result(5)
        time.sleep(0.05)  # the reply and the close reach the client's socket
        assert _mail("bob@example.com") == 1
    assert recorder.mails == [["ann@example.com"], ["bob@example.com"]]
    assert recorder.ehlo == 2


def test_a_mailer_error_closes_the_session_and_the_next_mail_opens_another(
    smtp: tuple[_Recorder, Controller],
) -> None:
    import smtplib

    recorder, _controller = smtp
    recorder.refuse = {"gone@example.com"}
    with kept_mailer_connection():
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            _mail("gone@example.com")
        assert _mail("ann@example.com") == 1
        assert _mail("bob@example.com") == 1
    _wait_for(lambda: recorder.quit == 2)
    assert recorder.mails == [["ann@example.com"], ["bob@example.com"]]
    assert (recorder.ehlo, recorder.quit) == (2, 2)  # the refused mail's session closed; the next two shared one


class _Backend:
    """A mailer whose sends fail as ``errors`` says, one entry per call (``None``: sent)."""

    opened = 0

    def __init__(self, errors: list[BaseException | None]) -> None:
        self.errors = errors

    def open(self) -> bool:
        type(self).opened += 1
        return True

    def close(self) -> None:
        pass

    def send_messages(self, messages: list[Any]) -> int:
        error = self.errors.pop(0)
        if error is not None:
            raise error
        return len(messages)


@contextmanager
def _backends(errors: list[BaseException | None]) -> Iterator[None]:
    _Backend.opened = 0
    with mock.patch.object(core_mail, "_default_mailer", side_effect=lambda: _Backend(errors)):
        yield


def test_a_new_session_that_the_server_ends_is_not_tried_again() -> None:
    """Only a session that carried a mail before may have been ended by the server's idle timeout; a new one ended
    at once is the server's answer to this mail, raised (the mail task tries again later)."""
    import smtplib

    with _backends([smtplib.SMTPServerDisconnected("gone"), None]), kept_mailer_connection():
        with pytest.raises(smtplib.SMTPServerDisconnected):
            _mail("ann@example.com")
        assert _Backend.opened == 1
        assert _mail("bob@example.com") == 1  # a new session for the next mail
        assert _Backend.opened == 2


def test_a_used_session_the_server_ended_is_tried_once_more_on_a_new_one() -> None:
    import smtplib

    errors: list[BaseException | None] = [
        None,
        smtplib.SMTPServerDisconnected("idle timeout"),
        smtplib.SMTPServerDisconnected("still gone"),
    ]
    with _backends(errors), kept_mailer_connection():
        assert _mail("ann@example.com") == 1
        with pytest.raises(smtplib.SMTPServerDisconnected, match="still gone"):
            _mail("bob@example.com")  # tried on the kept session, then once on a new one
        assert _Backend.opened == 2


def test_a_running_worker_ends_the_session_as_soon_as_it_finds_nothing_to_do(
    smtp: tuple[_Recorder, Controller], api: Any, connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle worker holds no SMTP session open (the server would end it after its idle timeout anyway)."""
    from jobs.taskworker import TaskWorker

    recorder, _controller = smtp
    for address in ("ann@example.com", "bob@example.com"):
        body = {"connection": connection.name, "email": address, "password": STRONG_PASSWORD}
        assert api.post(USERS, body, format="json").status_code == 201
    worker = TaskWorker(worker_id="w-mailer", interval=0, batch=False, linger=0)
    seen: list[tuple[int, int, int]] = []

    def idle(timeout: float) -> bool:
        _wait_for(lambda: recorder.quit == 1)
        seen.append((len(recorder.mails), recorder.ehlo, recorder.quit))
        worker.running = False
        return False

    monkeypatch.setattr(worker.wake, "wait", idle)
    worker.run()
    assert seen == [(2, 1, 1)]  # both mails over one session, closed before the worker's first idle wait
