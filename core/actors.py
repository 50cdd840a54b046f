"""Who did something: passed explicitly to every service, recorded with what it did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.http import HttpRequest

ActorKind = Literal["client", "admin", "system", "anonymous"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    ip: str | None = None
    user_agent: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


SYSTEM = Actor(kind="system", id="system")


def admin_actor(request: HttpRequest) -> Actor:
    """The signed-in operator of the Django admin, as recorded with their changes."""
    ip, agent = request_metadata(request)
    return Actor(kind="admin", id=request.user.get_username(), ip=ip, user_agent=agent)


def request_metadata(request: HttpRequest) -> tuple[str | None, str | None]:
    """The caller's address and user agent, as recorded with its changes."""
    ip = request.META.get("REMOTE_ADDR") or None
    agent = request.META.get("HTTP_USER_AGENT") or None
    return ip, (agent[:512] if agent else None)
