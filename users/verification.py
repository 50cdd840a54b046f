"""E-mail verification: a signed, expiring link sent after the transaction commits; following it marks
the address verified once.

The link signs the user id *and* the address, so a link sent to an old address cannot verify a new one.
Sending goes through Django's e-mail framework (console locally, SMTP from the environment).
"""

from __future__ import annotations

import enum
import logging
import smtplib
from functools import lru_cache
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_event
from connections.models import Connection
from core.actors import Actor
from core.db import column_of, columns, fetch_instance
from core.mail import mail_not_sent, send_mail, single_line
from core.tasks import retry_later, task
from events.models import EventType as StreamEventType
from users.models import User
from users.profile import now_ms
from users.streams import emit_user_event

logger = logging.getLogger(__name__)

_SALT = "users.email-verification"


class VerificationResult(enum.Enum):
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"
    EXPIRED = "expired"
    INVALID = "invalid"


def verification_ticket(user: User) -> str:
    return signing.dumps({"u": user.user_id, "e": user.email}, salt=_SALT, compress=True)


def verification_link(user: User) -> str:
    return f"{settings.PUBLIC_BASE_URL}/email-verification?{urlencode({'ticket': verification_ticket(user)})}"


def send_verification_email(user: User) -> None:
    """Send the link now. Callers inside a transaction use ``schedule_verification_email``."""
    if not user.email:
        return
    context = {
        "user": user,
        "name": single_line(user.name),
        "link": verification_link(user),
        "days": max(1, settings.EMAIL_VERIFICATION_TTL_SECONDS // 86400),
    }
    send_mail(
        subject=_("Verify your e-mail address"),
        message=render_to_string("users/verification_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    logger.info("verification e-mail sent user_id=%s", user.user_id)


# The columns the mail uses, read in plain SQL: the whole row (and its connection) cost more to fetch than the mail to
# build, and the ORM's query for them cost ten times the plain read, most of it compiling (issue 16).
_MAIL_FIELDS = ("id", "user_id", "email", "name")


@task()
def deliver_verification_email(user_pk: int, email: str, language: str, attempt: int = 1) -> str:
    """The worker's side of ``schedule_verification_email``: sign the link now and send it, in ``language``.

    Nothing is sent when the user is gone, its connection is being deleted (``_mail_sql``) or its address changed
    since (that address gets its own mail when asked for); a verified address is mailed when the change asked for it
    (``verify_email: true``, Auth0's rule). A mail server error is tried again later (``core.tasks.retry_later``), up
    to ``EMAIL_SEND_MAX_ATTEMPTS``; then the task fails with it. Returns ``sent``, ``skipped`` or ``retrying``.
    """
    user = fetch_instance(User, _mail_sql(connection.vendor), [user_pk], fields=_MAIL_FIELDS)
    if user is None or user.email != email:
        return "skipped"
    with translation.override(language):
        try:
            send_verification_email(user)
        except (OSError, smtplib.SMTPException) as exc:
            if not retry_later(deliver_verification_email, attempt, user_pk, email, language):
                raise mail_not_sent(exc) from None  # its type and codes: the message may name the address
            logger.warning("verification e-mail failed user_id=%s attempt=%s: retrying", user.user_id, attempt)
            return "retrying"
    return "sent"


@lru_cache(maxsize=2)
def _mail_sql(vendor: str) -> str:
    """The user's mail fields, unless its connection is being deleted (``Connection.deletion_requested_at``): the
    link would be refused (``verify_ticket``), as it will be once the user's batch deleted it."""
    quote = connection.ops.quote_name
    users, connections = User._meta, Connection._meta
    live = "SELECT {} FROM {} WHERE {} IS NULL".format(  # noqa: S608 - names from the models, quoted
        quote(column_of(connections.pk)),
        quote(connections.db_table),
        quote(column_of(connections.get_field("deletion_requested_at"))),
    )
    return "SELECT {} FROM {} WHERE {} = %s AND {} IN ({})".format(  # noqa: S608 - names from the models, quoted
        columns(User, fields=_MAIL_FIELDS),
        quote(users.db_table),
        quote(column_of(users.pk)),
        quote(column_of(users.get_field("connection"))),
        live,
    )


def schedule_verification_email(user: User) -> None:
    """Queue the mail in the current transaction (the change and its mail commit together), to be sent by the
    worker in the language of the current request; the request neither builds nor sends it."""
    deliver_verification_email.enqueue(user.pk, user.email or "", translation.get_language() or settings.LANGUAGE_CODE)


def should_send_on_create(*, email_verified: bool | None, verify_email: bool | None) -> bool:
    """Auth0's rule: ``verify_email`` decides when given; otherwise mail unless the address is verified."""
    if verify_email is not None:
        return verify_email
    return not email_verified


def verify_ticket(ticket: str) -> VerificationResult:
    """Check the link and mark the address verified (once). Expired or tampered links change nothing; nor does the
    link of a user whose connection is being deleted (``INVALID``, as once the user is gone)."""
    try:
        payload = signing.loads(ticket, salt=_SALT, max_age=settings.EMAIL_VERIFICATION_TTL_SECONDS)
    except signing.SignatureExpired:
        return VerificationResult.EXPIRED
    except signing.BadSignature:
        return VerificationResult.INVALID
    if not isinstance(payload, dict):
        return VerificationResult.INVALID
    user = User.objects.filter(
        user_id=payload.get("u"), email=payload.get("e"), connection__deletion_requested_at=None
    ).first()
    if user is None:
        return VerificationResult.INVALID
    return _mark_verified(user)


@transaction.atomic
def _mark_verified(user: User) -> VerificationResult:
    updated = User.objects.filter(pk=user.pk, email_verified=False).update(email_verified=True, updated_at=now_ms())
    if not updated:
        return VerificationResult.ALREADY_VERIFIED
    user.refresh_from_db()
    emit_user_event(StreamEventType.USER_UPDATED, user)
    record_event(
        type=EventType.SUCCESS_VERIFICATION_EMAIL,
        description="Successful verification email",
        actor=Actor(kind="anonymous", id=user.user_id),
        user=user,
    )
    logger.info("e-mail verified user_id=%s", user.user_id)
    return VerificationResult.VERIFIED
