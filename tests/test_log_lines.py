"""A log record's text cannot end its line: what a request sent (an admin filter's name, an exception's text that
quotes its input) is written with its control characters escaped, so it cannot forge a record of its own
(``core.logs.OneLineFormatter``, the settings' ``plain`` formatter and gunicorn's error log)."""

from __future__ import annotations

import io
import logging
import sys
from datetime import timedelta
from types import SimpleNamespace

from django.conf import settings
from gunicorn.config import Config

from core.access_log import AccessLogLogger
from core.logs import OneLineFormatter

FORGED = "[2026-01-01 00:00:00 +0000] [1] [INFO] users.services: user deleted"


def _configured_formatter() -> logging.Formatter:
    """The formatter of the console handler ``LOGGING`` put on the root logger (not pytest's capture)."""
    formatters = [
        handler.formatter
        for handler in logging.getLogger().handlers
        if type(handler) is logging.StreamHandler and handler.formatter is not None
    ]
    assert formatters, "LOGGING's console handler is on the root logger"
    return formatters[0]


def _record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("tests", logging.ERROR, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_an_admin_filter_named_with_a_line_break_writes_one_line_and_no_forged_record(admin_client, caplog):
    with caplog.at_level(logging.ERROR, logger="django.security"):
        response = admin_client.get("/admin/users/user/", {f"connection__clients__secret_hash\n{FORGED}": "1"})
    assert response.status_code == 400
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedModelAdminLookup"]
    assert "\n" in record.getMessage()  # Django's message quotes the key as sent
    text = _configured_formatter().format(record)
    assert not any(line.startswith(FORGED) for line in text.splitlines())
    assert text.splitlines()[0].endswith(f"Filtering by connection__clients__secret_hash\\x0a{FORGED} not allowed")


def test_the_settings_formatter_escapes_every_control_character_of_a_message():
    text = _configured_formatter().format(_record("user %s agent %s", "a\r\nb", "\x1b[2J\x00\x7f\x85\u2028\u2029\t"))
    assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\u2028" not in text
    assert text.endswith("user a\\x0d\\x0ab agent \\x1b[2J\\x00\\x7f\\x85\\u2028\\u2029\\x09")


def test_a_traceback_keeps_its_lines_but_its_exceptions_texts_and_notes_are_escaped():
    def fail() -> None:
        try:
            raise LookupError(f"key\n{FORGED}")
        except LookupError as exc:
            error = ValueError(f"value\r\n{FORGED}")
            error.add_note(f"note\n{FORGED}")
            raise error from exc

    try:
        fail()
    except ValueError:
        text = OneLineFormatter("%(message)s").format(_record("failed", exc_info=sys.exc_info()))
    lines = text.splitlines()
    assert lines[0] == "failed"
    assert lines[1] == "Traceback (most recent call last):"
    assert any("in fail" in line for line in lines)  # the frames are still lines
    assert not any(line.startswith(FORGED) for line in lines)
    assert f"LookupError: key\\x0a{FORGED}" in lines
    assert f"ValueError: value\\x0d\\x0a{FORGED}" in lines
    assert f"note\\x0a{FORGED}" in lines


def test_a_syntax_errors_text_line_and_file_name_and_notes_not_in_a_list_are_escaped_too():
    error = SyntaxError(f"syntax\n{FORGED}", (f"file\n{FORGED}", 1, 1, f"text\n{FORGED}\x1b[2J", 1, 2))

    class Note:
        def __str__(self) -> str:
            return f"object\n{FORGED}"

    error.__notes__ = (f"tuple\n{FORGED}", Note())  # type: ignore[assignment]
    try:
        raise error
    except SyntaxError:
        text = OneLineFormatter("%(message)s").format(_record("failed", exc_info=sys.exc_info()))
    assert "\x1b" not in text
    assert not any(line.lstrip().startswith(FORGED) for line in text.splitlines())
    assert f"SyntaxError: syntax\\x0a{FORGED}" in text.splitlines()


def test_a_traceback_another_formatter_wrote_first_is_written_again_escaped():
    try:
        raise ValueError(f"value\n{FORGED}")
    except ValueError:
        record = _record("failed", exc_info=sys.exc_info())
    logging.Formatter("%(message)s").format(record)  # another handler's formatter caches its exc_text
    text = OneLineFormatter("%(message)s").format(record)
    assert not any(line.startswith(FORGED) for line in text.splitlines())
    assert f"ValueError: value\\x0a{FORGED}" in text.splitlines()


def test_a_crashed_import_logs_where_it_crashed_but_never_its_message(caplog):
    from jobs.worker import _log_crash

    quoted = f"CONTEXT: JSON data, line 1: secret@example.com\n{FORGED}"

    def crash() -> None:
        raise RuntimeError(quoted)

    try:
        crash()
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR, logger="jobs.worker"):
            _log_crash("job_1", exc)
    [record] = caplog.records
    text = _configured_formatter().format(record)
    assert text.splitlines()[0].endswith("job_1: the import crashed (RuntimeError)")
    assert "in crash" in text  # where
    assert "secret@example.com" not in text and FORGED not in text


def test_gunicorns_error_log_writes_a_request_quoted_in_its_message_on_one_line():
    config = Config()
    config.set("errorlog", "-")  # serve.sh's: stderr
    logger = AccessLogLogger(config)
    [handler] = [h for h in logger.error_log.handlers if getattr(h, "_gunicorn", False)]
    stream = io.StringIO()
    handler.setStream(stream)
    logger.error_log.error("Error handling request %s", f"/api/v2/users\n{FORGED}")
    assert stream.getvalue().count("\n") == 1
    assert f"Error handling request /api/v2/users\\x0a{FORGED}" in stream.getvalue()


def test_gunicorns_error_log_writes_no_query_of_a_request_that_failed():
    """gunicorn logs an exception that escaped the application as "Error handling request <method> <target>": the
    target without its query (a reset link's ticket), as in the access log."""
    config = Config()
    config.set("errorlog", "-")
    logger = AccessLogLogger(config)
    [handler] = [h for h in logger.error_log.handlers if getattr(h, "_gunicorn", False)]
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("Error handling request %s %s", "GET", "/lo/reset?ticket=s3cr3t-ticket")
        logger.exception("Error handling request %s", "/u/email-verification?ticket=s3cr3t-ticket")
    text = stream.getvalue()
    assert "Error handling request GET /lo/reset" in text and "Error handling request /u/email-verification" in text
    assert "s3cr3t-ticket" not in text and "RuntimeError: boom" in text


def test_gunicorn_started_in_the_checkout_without_flags_takes_the_access_log_logger(monkeypatch):
    """``gunicorn config.wsgi`` run in the checkout, as the README's production paragraph starts it, reads
    ``./gunicorn.conf.py``: the logger class that keeps tickets out of the access log needs no flag."""
    from gunicorn.app.wsgiapp import WSGIApplication

    monkeypatch.chdir(settings.BASE_DIR)
    monkeypatch.setattr("sys.argv", ["gunicorn", "config.wsgi", "--access-logfile", "-"])
    application = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]")
    assert application.cfg.logger_class is AccessLogLogger


def _access_line(log_format: str | None, environ: dict[str, str], response_headers: list[tuple[str, str]]) -> str:
    """One access-log line of ``AccessLogLogger`` for this request, in ``log_format`` (gunicorn's default: None)."""
    config = Config()
    config.set("accesslog", "-")
    if log_format is not None:
        config.set("access_log_format", log_format)
    logger = AccessLogLogger(config)
    [handler] = [h for h in logger.access_log.handlers if getattr(h, "_gunicorn", False)]
    stream = io.StringIO()
    handler.setStream(stream)
    headers = [(key[5:].replace("_", "-"), value) for key, value in environ.items() if key.startswith("HTTP_")]
    response = SimpleNamespace(status="302 Found", sent=0, headers=response_headers)
    logger.access(response, SimpleNamespace(headers=headers), environ, timedelta(milliseconds=3))
    return stream.getvalue()


def test_no_access_log_format_writes_a_ticket_a_query_a_referer_or_a_credential():
    # gunicorn's default format writes %(r)s (the request line, query included) and %(f)s (the Referer): a server
    # started as the README's production paragraph says logged every reset link, a secret valid for days.
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/lo/reset?ticket=TICKET",
        "PATH_INFO": "/lo/reset",
        "QUERY_STRING": "ticket=TICKET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": "https://mail.example.com/inbox?ticket=TICKET",
        "HTTP_USER_AGENT": "curl/8",
        "HTTP_AUTHORIZATION": "Bearer TOKEN",
        "HTTP_COOKIE": "lo_reset=TICKET",
    }
    cookie = [("Set-Cookie", "lo_reset=TICKET; HttpOnly")]
    default = _access_line(None, environ, cookie)
    assert default.startswith("127.0.0.1 - - [") and '"GET /lo/reset HTTP/1.1" 302 0 "-" "curl/8"' in default
    everything = (
        "%(r)s %(U)s %(q)s %(f)s %({referer}i)s %({authorization}i)s %({cookie}i)s %({set-cookie}o)s "
        "%({raw_uri}e)s %({query_string}e)s %({http_referer}e)s %({http_authorization}e)s %({http_cookie}e)s"
    )
    line = _access_line(everything, environ, cookie)
    assert "TICKET" not in line and "TOKEN" not in line
    assert line == "GET /lo/reset HTTP/1.1 /lo/reset - - - - - - /lo/reset - - - -\n"
