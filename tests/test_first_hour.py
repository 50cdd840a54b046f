"""What a new operator meets in the first hour, outside the HTTP API (issue 17): one public URL for links, issuer
and audience; ``issue_token`` refusing unknown scopes; help for every flag of every command; mail on the console
readable; log lines with time and level, and no WARNING for an answer the API gives on purpose."""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
from email import message_from_string
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError

from clients.scopes import KNOWN_SCOPES
from clients.tokens import verify_token
from core.mail import ConsoleEmailBackend
from tests.helpers import STRONG_PASSWORD
from tests.live import database_url

ROOT = Path(__file__).resolve().parent.parent
PROJECT_APPS = {
    "api",
    "audit",
    "clients",
    "connections",
    "core",
    "idempotency",
    "jobs",
    "ratelimits",
    "tenants",
    "users",
}


# --- one public URL -------------------------------------------------------------------------------------------------


def _settings(tmp_path: Path, **env: str) -> list[str]:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.PUBLIC_BASE_URL, s.AUTH_ISSUER, s.MANAGEMENT_API_AUDIENCE)"
    )
    names = {"DATABASE_URL", "PUBLIC_BASE_URL", "AUTH_ISSUER", "MANAGEMENT_API_AUDIENCE"}
    clean = {k: v for k, v in os.environ.items() if k not in names}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "x" * 50,
            "DATA_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["http://localhost:8000", "http://localhost:8000/", "http://localhost:8000/api/v2/"]),
        (
            {"PUBLIC_BASE_URL": "http://localhost:8001"},
            ["http://localhost:8001", "http://localhost:8001/", "http://localhost:8001/api/v2/"],
        ),
        (
            {"PUBLIC_BASE_URL": "https://users.example.com/", "AUTH_ISSUER": "", "MANAGEMENT_API_AUDIENCE": ""},
            ["https://users.example.com", "https://users.example.com/", "https://users.example.com/api/v2/"],
        ),
        (  # an issuer set apart keeps its own value (an identifier), and the audience follows it
            {"PUBLIC_BASE_URL": "http://localhost:8001", "AUTH_ISSUER": "https://tenant.example"},
            ["http://localhost:8001", "https://tenant.example/", "https://tenant.example/api/v2/"],
        ),
    ],
)
def test_links_issuer_and_audience_follow_one_public_url(tmp_path, env, expected):
    assert _settings(tmp_path, **env) == expected


@pytest.mark.django_db
def test_create_client_names_the_token_endpoint_on_the_public_url(settings):
    settings.PUBLIC_BASE_URL = "http://localhost:8001"
    out = StringIO()
    call_command("create_client", "Ops", "--scopes", "read:users", stdout=out)
    assert '"token_endpoint": "http://localhost:8001/oauth/token"' in out.getvalue()


# --- issue_token ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", ["create:user", "create:users fly:away", "  "])
def test_issue_token_refuses_unknown_scopes_as_create_client_does(scopes):
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("issue_token", "--scopes", scopes, stdout=out)
    assert out.getvalue() == ""  # no token printed
    message = str(refused.value)
    assert ("Unknown scopes: " in message) or ("At least one scope is required." in message)
    assert message.endswith(f"(known scopes: {' '.join(KNOWN_SCOPES)})")


@pytest.mark.django_db
def test_issue_token_prints_a_token_the_api_accepts():
    out = StringIO()
    call_command("issue_token", "--scopes", "read:users create:user_tickets", "--expires-in", "60", stdout=out)
    token = verify_token(out.getvalue().strip())
    assert token.scopes == {"read:users", "create:user_tickets"}
    assert token.claims["gty"] == "operator"
    assert token.claims["exp"] - token.claims["iat"] == 60


def _project_commands() -> dict[str, argparse.ArgumentParser]:
    parsers: dict[str, argparse.ArgumentParser] = {}
    for name, app in get_commands().items():
        if app in PROJECT_APPS:
            parsers[name] = load_command_class(app, name).create_parser("manage.py", name)
    return parsers


def test_every_flag_of_every_project_command_has_help():
    parsers = _project_commands()
    assert {"issue_token", "create_client", "create_connection", "run_jobs", "import_users"} <= set(parsers)
    # Django's own options (--verbosity, --settings, ...) come with theirs.
    django_own = {action.dest for action in BaseCommand().create_parser("manage.py", "x")._actions}
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in parsers.items()
        for action in parser._actions
        if not action.help and action.dest not in django_own
    ]
    assert missing == []


def test_issue_token_and_create_client_help_list_the_known_scopes():
    parsers = _project_commands()
    for name in ("issue_token", "create_client"):
        assert " ".join(KNOWN_SCOPES) in " ".join(parsers[name].format_help().split()), name


# --- mail on the console --------------------------------------------------------------------------------------------


def test_the_console_prints_mail_decoded_with_links_whole():
    link = "http://localhost:8001/email-verification?ticket=" + "eyJ1IjoiYXV0aDB8NmIwNCJ9" * 6 + "%3A1xYDhf%3AZdw_-Rpw"
    stream = StringIO()
    backend = ConsoleEmailBackend(stream=stream)
    backend.send_messages(
        [
            EmailMessage(
                "Vérifiez votre adresse", f"Bonjour Zoë,\n\n{link}\n\nはい\n", "no-reply@localhost", ["zoë@example.com"]
            )
        ]
    )
    printed = stream.getvalue()
    assert f"\n{link}\n" in printed  # whole, on its own line: copy-pastable
    assert "=3D" not in printed and "=\n" not in printed  # no quoted-printable
    assert "Subject: Vérifiez votre adresse" in printed and "To: zoë@example.com" in printed
    assert "Bonjour Zoë," in printed and "はい" in printed
    # Django's own console backend, which this replaces, prints the quoted-printable wire form.
    assert (
        "=3D" in EmailMessage("s", f"Bonjour Zoë,\n{link}\n", "a@example.com", ["b@example.com"]).message().as_string()
    )


def test_the_console_names_parts_it_does_not_print():
    stream = StringIO()
    mail = EmailMultiAlternatives("s", "plain text", "a@example.com", ["b@example.com"])
    mail.attach_alternative("<p>html</p>", "text/html")
    ConsoleEmailBackend(stream=stream).send_messages([mail])
    assert "plain text\n[text/html part, 12 bytes, not shown]\n" in stream.getvalue()


def test_smtp_mail_stays_as_django_makes_it():
    # The console backend is only the default without EMAIL_HOST; SMTP sends Django's message, whose encoding
    # mail clients decode. Here: the settings this test run uses name ours, and the wire form still decodes.
    mailer = settings.MAILERS["default"]["BACKEND"] if hasattr(settings, "MAILERS") else settings.EMAIL_BACKEND
    assert mailer in {"core.mail.ConsoleEmailBackend", "django.core.mail.backends.locmem.EmailBackend"}
    wire = EmailMessage("s", "x=" + "y" * 100 + "\n", "a@example.com", ["b@example.com"]).message().as_string()
    payload = message_from_string(wire).get_payload(decode=True)
    assert isinstance(payload, bytes) and payload.decode() == "x=" + "y" * 100 + "\n"


# --- logs -----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_expected_409_is_not_a_warning_of_django_request(connection, create, caplog):
    body = {"connection": "Username-Password-Authentication", "email": "twice@example.com", "password": STRONG_PASSWORD}
    with caplog.at_level(logging.INFO):
        assert create(body).status_code == 201
        assert create(body).status_code == 409
    assert [r for r in caplog.records if r.name == "django.request"] == []


@pytest.mark.django_db
def test_a_4xx_is_still_there_at_debug(connection, create, caplog):
    body = {"connection": "Username-Password-Authentication", "email": "twice@example.com", "password": STRONG_PASSWORD}
    with caplog.at_level(logging.DEBUG, logger="django.request"):  # LOG_LEVEL=DEBUG
        create(body)
        create(body)
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [(r.levelname, r.status_code) for r in records] == [("DEBUG", 409)]


def test_a_5xx_stays_an_error():
    from core.logs import ClientErrorsAreDebug

    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", None, None)
    record.status_code = 500
    assert ClientErrorsAreDebug().filter(record) is True
    assert record.levelname == "ERROR"


@pytest.mark.django_db(transaction=True)
def test_run_jobs_lines_carry_time_pid_and_level_like_gunicorns():
    result = subprocess.run(
        [sys.executable, "manage.py", "run_jobs", "--once"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "DATA_DIR": str(settings.DATA_DIR),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] jobs\.worker: "
    lines = (result.stdout + result.stderr).splitlines()
    assert any(re.fullmatch(stamp + r"worker \S+ running once", line) for line in lines), lines
    assert any(re.fullmatch(stamp + r"worker \S+ stopped after 0 job\(s\)", line) for line in lines), lines
