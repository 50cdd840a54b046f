"""A real HTTP receiver for event deliveries: ``http.server`` in a thread on a free local port, recording every
request and answering from a script (status codes, headers, delays); and ``tls_server``, a TLS server whose every
connection a test's own function serves."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # The sender's TCP port: requests on one kept-alive connection share it.
    port: int = 0
    # When it arrived (``time.monotonic()``).
    at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """``answers``: (status, headers, delay seconds) per request in turn; then ``default``. ``keep_alive``: answer
    in HTTP/1.1 and keep the connection open (else HTTP/1.0, one request per connection).

    ``close_idle_after``: a kept-alive connection idle for longer than this (seconds since its last answer) is
    closed when its next request arrives, without an answer: a server whose idle timeout fires as the request comes
    in (a close that crosses the request, which the sender's check of the connection before reusing it cannot
    see; a connection closed well before is noticed there). ``drop``: that many requests, whatever their
    connection, are met the same way. Such requests are counted in ``dropped``, not recorded in ``received``.
    ``cut_answer``: that many requests (recorded: the receiver got them) are answered with a status line, headers
    and part of the body, then the connection is reset. ``trickle``: (seconds between bytes, for how long) every
    answer's body comes a byte at a time (announced as a megabyte) for that long, then the connection is closed.
    ``trickle_headers``: the same for the status line and headers, which never end. ``trailers``: (seconds between
    lines, for how long) every answer is a chunked 200 whose last chunk is followed by trailer lines, one at a time,
    for that long, then the connection is closed. ``echo``: every answer's body is the request's headers, as a
    debugging error page shows them."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    default: tuple[int, dict[str, str], float] = (200, {}, 0.0)
    # The body of every plain answer.
    body: bytes = b"ok"
    keep_alive: bool = False
    close_idle_after: float | None = None
    drop: int = 0
    dropped: int = 0
    cut_answer: int = 0
    trickle: tuple[float, float] | None = None
    trickle_headers: tuple[float, float] | None = None
    trailers: tuple[float, float] | None = None
    echo: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r in self.received]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Wait until ``count`` requests arrived (a safety net for a broken delivery, not a measure)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self.arrived.wait(0.05)
        with self.lock:
            return list(self.received)


@contextmanager
def receiver(**kwargs: Any) -> Iterator[Receiver]:
    state = Receiver(**kwargs)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if state.keep_alive else "HTTP/1.0"

        answered_at: float | None = None  # this connection's last answer

        def _drop(self) -> bool:
            limit = state.close_idle_after
            idle = None if self.answered_at is None else time.monotonic() - self.answered_at
            with state.lock:
                if state.drop:
                    state.drop -= 1
                elif limit is None or idle is None or idle <= limit:
                    return False
                state.dropped += 1
            self.close_connection = True  # closed unanswered, its body unread
            return True

        def do_POST(self) -> None:
            if self._drop():
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[1])
                )
                status, headers, delay = state.answers.pop(0) if state.answers else state.default
            with state.arrived:
                state.arrived.notify_all()
            if delay:
                time.sleep(delay)
            with state.lock:
                cut, state.cut_answer = state.cut_answer > 0, max(0, state.cut_answer - 1)
            if cut:
                self.send_response(status)
                self.send_header("Content-Length", "100")
                self.end_headers()
                self.wfile.write(b"partial")
                self.wfile.flush()
                # SO_LINGER 0: the close resets the connection (closed here, before the server's own FIN).
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()
                self.connection.close()
                self.close_connection = True
                return
            if state.trickle_headers is not None:
                pause, duration = state.trickle_headers
                until = time.monotonic() + duration
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    while time.monotonic() < until:
                        self.wfile.write(b"X")  # one header line, never finished
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:  # the sender closed the connection
                    pass
                self.close_connection = True
                return
            if state.trailers is not None:
                pause, duration = state.trailers
                until = time.monotonic() + duration
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
                    while time.monotonic() < until:
                        self.wfile.write(b"X-Trailer: x\r\n")
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:  # the sender closed the connection
                    pass
                self.close_connection = True
                return
            if state.trickle is not None:
                pause, duration = state.trickle
                self.send_response(status)
                self.send_header("Content-Length", str(1 << 20))
                self.end_headers()
                until = time.monotonic() + duration
                try:
                    while time.monotonic() < until:
                        self.wfile.write(b"x")
                        time.sleep(pause)
                except OSError:  # the sender closed the connection
                    pass
                self.close_connection = True
                return
            answer = str(self.headers).encode() if state.echo else state.body
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.answered_at = time.monotonic()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class TLSServer:
    """A TLS server on 127.0.0.1 for ``https://localhost:{port}``, whose certificate (self-signed, made for the
    test) is in ``cert_file``: point ``SSL_CERT_FILE`` at it for the sender to trust it. Each accepted connection
    goes to ``script(index, raw socket, wrap)`` in a thread of its own (``wrap`` makes the TLS handshake)."""

    url: str
    cert_file: str
    connections: int = 0


def read_request(conn: socket.socket) -> bool:
    """Read one HTTP request (headers and a ``Content-Length`` body) from ``conn``; ``False`` at its end."""
    stream = conn.makefile("rb")
    if not stream.readline():
        return False
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    stream.read(length)
    return True


@contextmanager
def tls_server(
    script: Callable[[int, socket.socket, Callable[[socket.socket], ssl.SSLSocket]], None],
) -> Iterator[TLSServer]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(cert_file, "wb") as out:
            out.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_file, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        listener = socket.create_server(("127.0.0.1", 0))
        state = TLSServer(f"https://localhost:{listener.getsockname()[1]}/hooks", cert_file)

        def wrap(raw: socket.socket) -> ssl.SSLSocket:
            return context.wrap_socket(raw, server_side=True)

        def run(index: int, raw: socket.socket) -> None:
            with contextlib.suppress(OSError):  # the sender closed the connection
                script(index, raw, wrap)

        def accept() -> None:
            while True:
                try:
                    raw, _ = listener.accept()
                except OSError:  # closed: the test is over
                    return
                threading.Thread(target=run, args=(state.connections, raw), daemon=True).start()
                state.connections += 1

        threading.Thread(target=accept, daemon=True).start()
        try:
            yield state
        finally:
            listener.close()
