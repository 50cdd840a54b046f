"""The development mailer: Django's console backend, printing each mail as a person reads it.

Django's console backend prints the message as it would travel, so a UTF-8 text body is quoted-printable: a
verification link reads ``ticket=3D…`` and is cut by soft line breaks (``=`` at the end of a line), and copying
it from the terminal gives a link that fails. This backend prints the readable headers decoded and every
``text/plain`` part as text, links whole on one line. It is only the console's default (settings use it when
``EMAIL_HOST`` is empty); SMTP sends Django's message untouched.
"""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message
from typing import Any

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend

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
