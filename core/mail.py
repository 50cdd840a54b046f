"""The mails' message class, and the development mailer: Django's console backend, printing each mail as a person
reads it.

``EmailMessage`` is Django's, but for the classes of its headers: the standard library's header registry
(``email.headerregistry.HeaderRegistry``) makes a new class (``type(...)``) for every header of every message it
builds, which costs about a third of building a short mail (issue 16: the worker builds one per verification mail).
Its registry makes each header's class once, and parses the headers whose values repeat (sender, subject, MIME
headers) once (most of the rest of a header's cost); the headers and the bytes sent are the same.

Django's console backend prints the message as it would travel, so a UTF-8 text body is quoted-printable: a
verification link reads ``ticket=3D…`` and is cut by soft line breaks (``=`` at the end of a line), and copying
it from the terminal gives a link that fails. This backend prints the readable headers decoded and every
``text/plain`` part as text, links whole on one line. It is only the console's default (settings use it when
``EMAIL_HOST`` is empty); SMTP sends Django's message untouched.
"""

from __future__ import annotations

import contextlib
import email.policy
import functools
import inspect
import smtplib
import threading
from collections.abc import Callable, Iterator, Sequence
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.policy import EmailPolicy, Policy
from typing import Any

from django.core import mail as django_mail
from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend
from django.utils.functional import Promise

# Headers whose values repeat from one mail to the next, parsed once (``_HeaderClasses.__call__``), and how many
# parsed values are kept (a subject that differed every time would otherwise grow the cache without end).
_REPEATING = frozenset({"from", "sender", "subject", "mime-version", "content-type", "content-transfer-encoding"})
_PARSED_MAX = 256


class _HeaderClasses(HeaderRegistry):
    """A policy's header registry (its mapping of names to classes kept) that makes each header name's class once,
    and parses each repeating header value once."""

    def __init__(self, registry: HeaderRegistry) -> None:
        super().__init__(registry.base_class, registry.default_class, use_default_map=False)
        self.registry = dict(registry.registry)
        self.made: dict[str, type[BaseHeader]] = {}
        self.parsed: dict[tuple[str, str], BaseHeader] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self.made.clear()
        self.parsed.clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self.made.get(key)
        if made is None:
            made = self.made[key] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        """The header ``name: value``, parsed once for the names whose values repeat from mail to mail (the sender,
        the subject of a kind of mail in one language, the MIME headers): parsing is most of what a header costs,
        and a parsed header is an immutable string with its parse tree, which folding only reads. The recipients,
        the date and the message id are parsed every time (and no address is kept)."""
        key = name.lower()
        if key not in _REPEATING or not isinstance(value, str):
            return self[name](name, value)
        parsed = self.parsed.get((name, value))
        if parsed is None:
            if len(self.parsed) >= _PARSED_MAX:
                self.parsed.clear()
            parsed = self.parsed[(name, value)] = self[name](name, value)
        return parsed


@functools.lru_cache(maxsize=16)
def _with_header_classes(policy: Policy) -> Policy:
    """``policy`` with a ``_HeaderClasses`` registry (made once per policy: backends pass module constants); a
    policy with another kind of header factory is left alone."""
    if not isinstance(policy, EmailPolicy):
        return policy
    factory = policy.header_factory
    if type(factory) is not HeaderRegistry:
        return policy
    return policy.clone(header_factory=_HeaderClasses(factory))


# Django 6.0 builds messages with the standard library's modern API, under the backend's policy; 5.2 did not.
_MESSAGE_TAKES_POLICY = "policy" in inspect.signature(DjangoEmailMessage.message).parameters


class EmailMessage(DjangoEmailMessage):
    """Django's message, built under the backend's policy with header classes made once (see the module)."""

    def message(self, *, policy: Policy | None = None) -> Any:
        if not _MESSAGE_TAKES_POLICY:
            return super().message()
        return super().message(policy=_with_header_classes(policy or email.policy.default))


class MailNotSent(Exception):
    """A mail task's last try failed: the mail server's error, named by its type and SMTP codes only. Its message
    may name the recipient (``SMTPRecipientsRefused`` holds the addresses, a server's reply often quotes one), and a
    failed task's error is logged as an ERROR with its traceback and stored with the task (shown in the admin): a
    user's address must not be in either."""


def mail_not_sent(exc: BaseException) -> MailNotSent:
    """``MailNotSent`` for the mail server's error ``exc`` (``OSError`` or ``smtplib.SMTPException``): its type and
    SMTP codes, e.g. ``smtplib.SMTPRecipientsRefused (SMTP 550)``. Raise it ``from None``: the original, chained,
    would be printed with it."""
    codes: list[int] = []
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({int(code) for code, _message in exc.recipients.values()})
    elif isinstance(exc, smtplib.SMTPResponseException):
        codes = [int(exc.smtp_code)]
    detail = f" (SMTP {', '.join(str(code) for code in codes)})" if codes else ""
    errno = f" (errno {exc.errno})" if isinstance(exc, OSError) and exc.errno else ""
    return MailNotSent(f"{type(exc).__module__}.{type(exc).__qualname__}{detail}{errno}")


def single_line(text: str | None) -> str:
    """``text`` on one line: every run of white space (line breaks, tabs, U+2028 and the other Unicode spaces)
    made one space, none at either end. For a user's own text (a name) shown in a mail's body: the API accepts
    line breaks in a name, and anyone may sign up with another person's address, so a name must not add lines of
    its own to a mail sent from this service."""
    return " ".join((text or "").split())


def send_mail(*, subject: str | Promise, message: str, from_email: str | None, recipient_list: Sequence[str]) -> int:
    """``django.core.mail.send_mail`` for a plain-text mail, as an ``EmailMessage`` of this module, sent through the
    default mailer; returns the number of messages sent. Inside ``kept_mailer_connection`` the mail goes over this
    thread's kept connection, else over a connection of its own (Django's default)."""
    mail = EmailMessage(subject=str(subject), body=message, from_email=from_email, to=list(recipient_list))
    kept: _KeptConnection | None = getattr(_kept, "connection", None)
    if kept is None or not mail.recipients():
        return mail.send()
    return kept.send(mail)


def _default_mailer() -> Any:
    """A new instance of the default mailer's backend (not yet connected): ``mailers.default`` on Django 6.1+, whose
    ``get_connection`` is deprecated, ``get_connection()`` before."""
    if hasattr(django_mail, "mailers"):
        return django_mail.mailers.default
    return django_mail.get_connection()  # pragma: no cover - Django 5.2 (Python 3.11)


def _session_ended(exc: smtplib.SMTPException) -> bool:
    """Whether ``exc`` says the server ended the session: it went away, or answered 421 (service not available,
    closing the transmission channel)."""
    return isinstance(exc, smtplib.SMTPServerDisconnected) or getattr(exc, "smtp_code", None) == 421


class _KeptConnection:
    """One thread's connection to the mailer, opened at its first mail and kept for the next ones."""

    def __init__(self) -> None:
        self.backend: Any = None
        self.used = False  # a mail went over the open connection: the server may have ended it since

    def send(self, mail: EmailMessage) -> int:
        """Send ``mail`` over the kept connection (opened first if none is). The mailer's errors are raised
        (``OSError``, ``smtplib.SMTPException``) after the connection is closed: its state is unknown, and the next
        mail opens a new one. A connection that carried a mail before and that the server ended since
        (``SMTPServerDisconnected``: its idle timeout, RFC 5321 §4.5.3.2.7, or a restart) is opened again once and
        the mail sent over it; a mail the server took without its answer reaching us may then arrive twice, as a
        mail task tried again does (at least once). A server that says so as it ends the session ended it too: a
        421 reply (RFC 5321 §3.8), with which Postfix's and Exim's idle timeouts answer the next command and which
        smtplib raises as that command's refusal (``SMTPSenderRefused``)."""
        for last in (not self.used, True):
            if self.backend is None:
                self.backend = _default_mailer()
                self.used = False
                try:
                    self.backend.open()
                except BaseException:
                    self.close()
                    raise
            try:
                sent = int(self.backend.send_messages([mail]))
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as exc:
                self.close()
                if last or not _session_ended(exc):
                    raise
                continue
            except BaseException:
                self.close()
                raise
            self.used = True
            return sent
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the connection, if one is open (a failing close is the mailer's: it ends the session anyway)."""
        backend, self.backend, self.used = self.backend, None, False
        if backend is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                backend.close()


_kept = threading.local()


@contextlib.contextmanager
def kept_mailer_connection() -> Iterator[Callable[[], None]]:
    """Within it, this thread's mails (``send_mail``) share one connection to the mailer instead of one each, and
    the connection is closed at the end; yields a function that closes it now (the worker calls it when it finds
    nothing to do, so that an idle worker holds no session open). Nested, the outer one keeps it.

    For the worker (``run_jobs``), which sends the verification and password-reset mails one task after another:
    with SMTP, a connection per mail cost a TCP connection, ``STARTTLS`` with its TLS handshake, and ``AUTH`` per
    mail, where a session can carry many mail transactions (RFC 5321 §3.3; Django's "Sending multiple emails").
    Django's console and in-memory mailers hold no connection; this changes nothing there."""
    if getattr(_kept, "connection", None) is not None:
        yield lambda: None
        return
    kept = _kept.connection = _KeptConnection()
    try:
        yield kept.close
    finally:
        _kept.connection = None
        kept.close()


# Headers about the transfer encoding describe the wire form, not what is printed.
_WIRE_HEADERS = {"content-type", "content-transfer-encoding", "mime-version"}


def readable(message: Message) -> str:
    """``message`` as text: its headers decoded, then each text/plain part decoded; other parts named only."""
    lines = [
        f"{name}: {make_header(decode_header(str(value)))}"
        for name, value in message.items()
        if name.lower() not in _WIRE_HEADERS
    ]
    lines.append("")
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        if part.get_content_type() == "text/plain" and part.get_filename() is None and isinstance(payload, bytes):
            lines.append(payload.decode(part.get_content_charset() or "utf-8", errors="replace").rstrip("\n"))
        else:
            lines.append(f"[{part.get_content_type()} part, {size} bytes, not shown]")
    return "\n".join(lines)


class ConsoleEmailBackend(DjangoConsoleBackend):
    """Writes each message to the stream (stdout) readable: decoded text, links copy-pastable."""

    def write_message(self, message: Any) -> None:
        self.stream.write(f"{readable(message.message())}\n")
        self.stream.write("-" * 79)
        self.stream.write("\n")
