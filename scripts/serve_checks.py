"""What ``scripts/serve.sh`` checks before it starts anything, each failure one line on stderr and exit status 1.

    python scripts/serve_checks.py port BIND        the address is free (standard library only: runs before the
                                                      virtualenv exists, so a taken port fails before any install)
    python scripts/serve_checks.py public-url BIND  prints the public base URL a BIND implies (``127.0.0.1:8001``
                                                      -> ``http://localhost:8001``), which PUBLIC_BASE_URL defaults
                                                      to in serve.sh, so links, the token issuer and the banner
                                                      follow the port
    python scripts/serve_checks.py database         the settings load and DATABASE_URL answers (the virtualenv's
                                                      Python, from the project directory)
    python scripts/serve_checks.py setup [OPTIONS]  that check, then ``manage.py serve_setup [OPTIONS]`` in the same
                                                      process (migrations, static files, TENANT_FILE, the connection,
                                                      the banner's token): one Django start-up for all of them
    python scripts/serve_checks.py listening BIND   exit 0 once something accepts connections there (serve.sh
                                                      prints its banner only then)

BIND is gunicorn's ``--bind``: ``HOST:PORT``, ``[IPV6]:PORT``, ``HOST`` (port 8000), ``unix:PATH`` or ``fd://N``.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORT = 8000
# Bind hosts a browser on this machine reaches as "localhost" (the settings' default public URL says localhost, so
# the default BIND and the default PUBLIC_BASE_URL agree, and manage.py in another shell issues matching tokens).
LOCAL_HOSTS = {"", "127.0.0.1", "0.0.0.0", "::", "::1", "localhost"}  # noqa: S104 - names, nothing is bound here


def split_bind(bind: str) -> tuple[str, int] | None:
    """``(host, port)`` of a TCP bind; ``None`` for ``unix:`` and ``fd://`` binds. ValueError for a bad port."""
    if bind.startswith(("unix:", "fd://")):
        return None
    if bind.startswith("["):
        host, _, rest = bind[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else str(DEFAULT_PORT)
    elif bind.count(":") == 1:
        host, port = bind.split(":")
    else:  # a bare host name or IPv6 address: gunicorn's default port
        host, port = bind, str(DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"BIND={bind}: the port must be a number from 1 to 65535")
    return host, int(port)


def public_url(bind: str) -> str:
    """The base URL people and links use for a server bound to ``bind`` (no trailing slash); "" for a socket."""
    address = split_bind(bind)
    if address is None:
        return ""
    host, port = address
    if host in LOCAL_HOSTS:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def check_port(bind: str) -> str | None:
    """``None`` when gunicorn can listen on ``bind``, else the one line saying why not.

    Binds as gunicorn does (``SO_REUSEADDR``), so a port with connections in TIME_WAIT counts as free.
    """
    try:
        address = split_bind(bind)
    except ValueError as exc:
        return str(exc)
    if address is None:
        return None
    host, port = address
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"BIND={bind}: cannot resolve {host!r}: {exc.strerror}"
    for family, kind, proto, _name, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return (
                        f"{bind} is already in use (another server?): stop it, or choose another address, "
                        f"e.g. BIND=127.0.0.1:{port + 1} ./scripts/serve.sh"
                    )
                return f"cannot listen on {bind}: {exc.strerror}"
    return None


def is_listening(bind: str) -> bool:
    """Whether a connection to ``bind`` is accepted now (a wildcard bind is reached on the loopback address)."""
    if bind.startswith("unix:"):
        target: Any = bind[len("unix:") :]
        family = socket.AF_UNIX
    else:
        address = split_bind(bind)
        if address is None:  # fd://: nothing to connect to
            return True
        host, port = address
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - a name
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        target = (host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(target)
        except OSError:
            return False
    return True


def redacted(url: str) -> str:
    """``url`` without its password (secrets are never echoed)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def check_database() -> str | None:
    """``None`` when the settings load and the database answers, else the one line naming what is wrong."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    url = os.environ.get("DATABASE_URL", "")
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        # Django's own messages may span lines ("Error loading MySQLdb module.\nDid you install mysqlclient?");
        # one raised while loading the database backend is about DATABASE_URL, which it does not name.
        reason = " ".join(str(exc).split())
        frames = traceback.extract_tb(exc.__traceback__)
        if url and any(f"{os.sep}django{os.sep}db{os.sep}" in frame.filename for frame in frames):
            return f"DATABASE_URL={redacted(url)}: {reason}"
        return reason
    from django.db import DatabaseError, connection

    where = f"DATABASE_URL={redacted(url)}" if url else f"the SQLite database {connection.settings_dict['NAME']}"
    try:
        connection.ensure_connection()
    except (DatabaseError, ImproperlyConfigured) as exc:
        # ImproperlyConfigured: a URL the backend cannot use, such as one without a database name.
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"{where}: cannot connect: {reason}"
    return None


def setup(options: list[str]) -> int:
    """``check_database``, then ``manage.py serve_setup OPTIONS`` in this process, as manage.py would run it (its
    errors on stderr, its exit status)."""
    problem = check_database()
    if problem:
        print(f"serve.sh: {problem}", file=sys.stderr)
        return 1
    from django.core.management import ManagementUtility

    argv = ["manage.py", "serve_setup", *options]
    ManagementUtility(argv).fetch_command("serve_setup").run_from_argv(argv)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["setup"]:
        return setup(argv[1:])
    if len(argv) == 2 and argv[0] == "public-url":
        try:
            print(public_url(argv[1]))
        except ValueError as exc:
            print(f"serve.sh: {exc}", file=sys.stderr)
            return 1
        return 0
    if len(argv) == 2 and argv[0] == "listening":
        return 0 if is_listening(argv[1]) else 1
    if len(argv) == 2 and argv[0] == "port":
        problem = check_port(argv[1])
    elif argv == ["database"]:
        problem = check_database()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(f"serve.sh: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
