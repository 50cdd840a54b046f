"""Reads of directory users shared by the API views and other callers."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from users.errors import UserNotFound
from users.models import User

SORTABLE_FIELDS = ("created_at", "updated_at", "email", "user_id", "name", "username")


def get_user(*, user_id: str) -> User:
    """The user with this ``<provider>|<id>``; raises ``UserNotFound`` (404 ``inexistent_user``)."""
    try:
        return User.objects.select_related("connection").get(user_id=user_id)
    except User.DoesNotExist as exc:
        raise UserNotFound() from exc


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    start: int
    limit: int
    total: int


def list_users(
    *,
    page: int = 0,
    per_page: int = 50,
    connection: str | None = None,
    email: str | None = None,
    sort: tuple[str, int] = ("created_at", -1),
) -> UserPage:
    """One page of users, filtered by connection name and e-mail (case-insensitive), in a stable order."""
    queryset: QuerySet[User] = User.objects.select_related("connection")
    if connection is not None:
        queryset = queryset.filter(connection__name=connection)
    if email is not None:
        queryset = queryset.filter(email=email.lower())
    field, direction = sort
    prefix = "-" if direction < 0 else ""
    queryset = queryset.order_by(f"{prefix}{field}", f"{prefix}id")
    start = page * per_page
    users = list(queryset[start : start + per_page]) if per_page else []
    return UserPage(users=users, start=start, limit=per_page, total=queryset.count())


def users_by_email(*, email: str) -> list[User]:
    """Every user with this e-mail, in any connection (stored lower-cased, so any case matches)."""
    return list(User.objects.select_related("connection").filter(email=email.lower()).order_by("created_at", "id"))
