"""Tickets: one-time links that let a user change their password or verify their e-mail address.

One model (``users.models.Ticket``) and one scheme for both purposes:

- the link carries a random token (``secrets.token_urlsafe(32)``: 256 bits); only a keyed HMAC of it is stored
  (``salted_hmac`` keyed from ``SECRET_KEY`` with the purpose string ``users.tickets.token``), so a copy of the
  database holds no usable link;
- a ticket records a keyed HMAC of the user's password hash and e-mail when it was issued: a password or e-mail
  change afterwards makes it useless, and so does blocking or deleting the user;
- it works once: ``used_at`` is set by a conditional UPDATE (``used_at IS NULL``) inside the transaction that does
  the change, so two concurrent submissions cannot both succeed, and a refused password leaves it unused;
- it expires ``ttl_sec`` seconds after issue (Auth0's default: 432000 s, five days).

The links have Auth0's shapes: ``<PUBLIC_BASE_URL>/lo/reset?ticket=…#`` for a password change and
``<PUBLIC_BASE_URL>/u/email-verification?ticket=…#`` for a verification (Auth0: "Create a password change
ticket" / "Create an email verification ticket", Management API v2 ``post_password_change`` /
``post_email_verification``; the sample answer there is ``https://login.auth0.com/lo/reset?…``).

After a ticket is used the user goes to its ``result_url`` with Auth0's query parameters: ``success=true`` and a
``message``, plus ``email`` when the ticket was issued with ``includeEmailInRedirect``.

The token is never logged, stored, or put in an audit entry; log lines name the ticket's row id.
"""

from __future__ import annotations

import enum
import logging
import secrets
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_event, record_failure
from clients.errors import ClientNotFound
from clients.models import Client
from connections.models import Connection
from connections.password_policy import PasswordPolicyError
from connections.selectors import get_connection_by_id
from connections.strategies import Strategy
from core.actors import Actor
from core.crypto import decrypt_secret, encrypt_secret
from core.errors import FieldCode, FieldError, PayloadValidationError
from core.mail import mail_not_sent, send_mail, single_line
from core.tasks import retry_later, task
from events.models import EventType as StreamEventType
from users.emails import email_lookup_key
from users.errors import SignupRefused, TicketRejected, TicketRejection, UserErrorCode, UserNotFound
from users.models import Ticket, TicketPurpose, User
from users.profile import now_ms
from users.selectors import get_user
from users.services import update_user
from users.streams import emit_user_event

logger = logging.getLogger(__name__)

# Auth0: "If unspecified or set to 0, this value defaults to 432000 seconds (5 days)" (ttl_sec of both operations).
DEFAULT_TTL_SECONDS = 432_000
# Auth0's schema sets no maximum; a link that lives for years is a standing credential, so ours is bounded.
MAX_TTL_SECONDS = 30 * 86_400

PATHS = {TicketPurpose.PASSWORD_CHANGE: "/lo/reset", TicketPurpose.EMAIL_VERIFICATION: "/u/email-verification"}

# Auth0's redirect messages after a ticket is used (classic Universal Login's result_url parameters).
RESULT_MESSAGES = {
    TicketPurpose.PASSWORD_CHANGE: "You can now login to the application with the new password.",
    TicketPurpose.EMAIL_VERIFICATION: "Your email was verified. You can continue using the application.",
}


def _digest(token: str) -> str:
    """The stored form of a token: HMAC-SHA256 keyed from ``SECRET_KEY`` for this purpose only."""
    return salted_hmac("users.tickets.token", token, algorithm="sha256").hexdigest()


def user_fingerprint(user: User) -> str:
    """A keyed HMAC of what a ticket depends on: the password hash (bcrypt or imported) and the e-mail."""
    state = "\x1f".join([user.password_hash or "", repr(user.custom_password_hash or ""), user.email or ""])
    return salted_hmac("users.tickets.fingerprint", state, algorithm="sha256").hexdigest()


def ticket_url(purpose: str, token: str) -> str:
    """The public link of a ticket, in Auth0's shape (a trailing ``#`` as Auth0's links have)."""
    return f"{settings.PUBLIC_BASE_URL}{PATHS[TicketPurpose(purpose)]}?{urlencode({'ticket': token})}#"


@transaction.atomic
def issue_ticket(
    *,
    user: User,
    purpose: TicketPurpose,
    actor: Actor,
    ttl_sec: int | None = None,
    result_url: str = "",
    client_id: str = "",
    include_email_in_redirect: bool = False,
    mark_email_as_verified: bool = False,
    audit: bool = True,
) -> str:
    """Create a ticket and return its link (the only place the token exists).

    ``ttl_sec`` 0 or None is Auth0's five days; callers check the bounds (``MAX_TTL_SECONDS``) and ``result_url``
    (``users.ticket_serializers.ResultUrlField``: absolute http(s)) first. Records Auth0's ``sapi`` entry for the
    management API's operation unless ``audit`` is off (a caller recording its own entry); the token is in no log
    and no audit entry. Raises ``UserNotFound`` when the user was deleted since the caller read it, or its connection
    is being deleted (``Connection.deletion_requested_at``: the user goes with it, and a connection being deleted is
    unknown to every caller, so its users are).
    """
    # The user's row is locked first: a deletion under way (the user's, or its connection's with it) holds it, and
    # the ticket's foreign key, checked at commit, would fail once it committed (an IntegrityError, a 500).
    live = User.objects.select_for_update(of=("self",)).filter(pk=user.pk, connection__deletion_requested_at=None)
    if not live.exists():
        raise UserNotFound()
    token = secrets.token_urlsafe(32)
    now = now_ms()
    ticket = Ticket.objects.create(
        digest=_digest(token),
        purpose=purpose,
        user=user,
        fingerprint=user_fingerprint(user),
        result_url=result_url,
        client_id=client_id,
        include_email_in_redirect=include_email_in_redirect,
        mark_email_as_verified=mark_email_as_verified,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_sec or DEFAULT_TTL_SECONDS),
    )
    description = {
        TicketPurpose.PASSWORD_CHANGE: "Create a password change ticket",
        TicketPurpose.EMAIL_VERIFICATION: "Create an email verification ticket",
    }[purpose]
    if audit:
        record_event(
            type=EventType.SUCCESS_API_OPERATION,
            description=description,
            actor=actor,
            user=user,
            details={"ticket": ticket.pk, "expires_at": ticket.expires_at.isoformat()},
        )
    logger.info("%s ticket %s issued user_id=%s by %s", purpose, ticket.pk, user.user_id, actor)
    return ticket_url(purpose, token)


def _refuse(field: str | None, code: str, message: str) -> PayloadValidationError:
    error = FieldError(field, code, message)
    return PayloadValidationError(message, errors=[error])


def _check_request(data: Mapping[str, Any], user: User) -> None:
    """The checks both operations share: organizations, ``result_url`` with ``client_id``, the client, the identity.

    ``result_url`` and ``client_id`` together are refused (400 ``invalid_body``, ``CONFLICTING_FIELDS`` on
    ``result_url``): Auth0's Management API says of ``result_url`` on an e-mail verification ticket "Cannot be
    specified when using client_id or organization_id", and on a password change ticket that it may go with
    ``client_id`` only "when the tenant has a custom password reset page enabled and a
    password-reset-post-challenge Action bound" (its OpenAPI, as the auth0-python SDK 6.8 quotes it), which this
    service has not: the ticket would otherwise carry two places to send the user after use.
    """
    refuse_organization(data)
    if "result_url" in data and "client_id" in data:
        raise _refuse(
            "result_url",
            UserErrorCode.CONFLICTING_FIELDS,
            _("result_url cannot be specified when using client_id."),
        )
    if "client_id" in data and not Client.objects.filter(pk=data["client_id"], is_active=True).exists():
        raise ClientNotFound()
    check_identity(data.get("identity"), user)


def refuse_organization(data: Mapping[str, Any]) -> None:
    """Refuse an ``organization_id`` (400 ``invalid_body``, ``UNSUPPORTED``): this service has no organizations."""
    if "organization_id" in data:
        raise _refuse("organization_id", UserErrorCode.UNSUPPORTED, _("This service has no organizations."))


def check_identity(identity: Mapping[str, str] | None, user: User) -> None:
    """Refuse an ``identity`` (Auth0's ``{user_id, provider, connection_id}``) that is not ``user``'s own: its
    ``user_id`` (with or without the provider prefix), provider and connection must be the user's. 400
    ``invalid_body`` ``CONFLICTING_FIELDS`` "The identity is not one of the user's."; None passes."""
    if identity is None:
        return
    matches = (
        identity["user_id"] in (user.user_id, user.identity_user_id)
        and identity["provider"] == user.provider
        and identity.get("connection_id", user.connection_id) == user.connection_id
    )
    if not matches:
        raise _refuse("identity", UserErrorCode.CONFLICTING_FIELDS, _("The identity is not one of the user's."))


def create_password_change_ticket(*, data: Mapping[str, Any], actor: Actor) -> str:
    """``POST /api/v2/tickets/password-change``: the link for a body ``PasswordChangeTicketRequestSerializer`` took.

    The user is named by ``user_id``, or by ``email`` with ``connection_id`` (Auth0: "If you set this value, you
    must also send the email parameter. You cannot send user_id when specifying a connection_id"); ``identity``
    requires ``user_id``. Raises ``PayloadValidationError`` (a wrong combination, a connection without passwords,
    ``organization_id``), ``UserNotFound`` (404 ``inexistent_user``), ``ConnectionNotFoundById``, ``ClientNotFound``.
    No mail is sent: the caller sends the link.
    """
    by_email = "email" in data or "connection_id" in data
    if by_email and "user_id" in data:
        raise _refuse(
            "user_id", UserErrorCode.CONFLICTING_FIELDS, _("Send either user_id, or email and connection_id.")
        )
    if "identity" in data and "user_id" not in data:
        raise _refuse("identity", UserErrorCode.CONFLICTING_FIELDS, _("identity requires user_id."))
    if by_email:
        if "email" not in data or "connection_id" not in data:
            field = "connection_id" if "email" in data else "email"
            raise _refuse(field, UserErrorCode.CONFLICTING_FIELDS, _("email and connection_id must be sent together."))
        connection = get_connection_by_id(connection_id=data["connection_id"])
        key = email_lookup_key(data["email"])
        user = User.objects.select_related("connection").filter(connection=connection, email=key).first()
        if key is None or user is None:
            raise UserNotFound()
    elif "user_id" in data:
        user = get_user(user_id=data["user_id"])
    else:
        raise _refuse(
            "user_id", FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY, _("Send user_id, or email and connection_id.")
        )
    _check_request(data, user)
    if user.connection.strategy != Strategy.AUTH0:
        raise _refuse(
            "user_id",
            UserErrorCode.NO_PASSWORD,
            _("The user's connection has no passwords: it is not a database connection."),
        )
    return issue_ticket(
        user=user,
        purpose=TicketPurpose.PASSWORD_CHANGE,
        actor=actor,
        ttl_sec=data.get("ttl_sec"),
        result_url=data.get("result_url", ""),
        client_id=data.get("client_id", ""),
        include_email_in_redirect=data.get("includeEmailInRedirect", False),
        mark_email_as_verified=data.get("mark_email_as_verified", False),
    )


def create_email_verification_ticket(*, data: Mapping[str, Any], actor: Actor) -> str:
    """``POST /api/v2/tickets/email-verification``: the link for a body ``EmailVerificationTicketRequestSerializer``
    took. Raises ``UserNotFound``, ``ClientNotFound``, ``PayloadValidationError`` (a user without an e-mail
    address, ``organization_id``). Opening the link verifies the address (once)."""
    user = get_user(user_id=data["user_id"])
    _check_request(data, user)
    if not user.email:
        raise _refuse("user_id", UserErrorCode.NO_EMAIL, _("The user has no e-mail address."))
    return issue_ticket(
        user=user,
        purpose=TicketPurpose.EMAIL_VERIFICATION,
        actor=actor,
        ttl_sec=data.get("ttl_sec"),
        result_url=data.get("result_url", ""),
        client_id=data.get("client_id", ""),
        include_email_in_redirect=data.get("includeEmailInRedirect", False),
    )


def is_ticket_token(text: str) -> bool:
    """Whether a link's ``ticket`` is one of these tickets rather than an older signed verification link (those
    always hold ``:``, which ``token_urlsafe`` never writes)."""
    return ":" not in text


def find_ticket(token: str, purpose: TicketPurpose) -> Ticket:
    """The usable ticket this token names, for showing the page; raises ``TicketRejected`` with the reason.

    Unusable: unknown (or another purpose's), used, expired, the user blocked, a database connection no more, the
    user's connection being deleted (as for a deleted user, whose tickets went with it), or the password or e-mail
    changed since issue (the same answer as a used one: the holder learns nothing more).
    """
    if not token or len(token) > 200:
        raise TicketRejected(TicketRejection.INVALID)
    ticket = Ticket.objects.select_related("user", "user__connection").filter(digest=_digest(token)).first()
    if ticket is None or ticket.purpose != purpose:
        raise TicketRejected(TicketRejection.INVALID)
    _check_usable(ticket, ticket.user)
    return ticket


def _check_usable(ticket: Ticket, user: User) -> None:
    if user.connection.being_deleted:
        raise TicketRejected(TicketRejection.INVALID)  # as it will be once the user's deletion took it
    if ticket.used_at is not None:
        raise TicketRejected(TicketRejection.USED)
    if ticket.expires_at <= timezone.now():
        raise TicketRejected(TicketRejection.EXPIRED)
    if user.blocked:
        raise TicketRejected(TicketRejection.BLOCKED)
    if not constant_time_compare(ticket.fingerprint, user_fingerprint(user)):
        raise TicketRejected(TicketRejection.USED)  # the password or e-mail changed: this link is spent


def _claim(ticket: Ticket) -> User:
    """Inside the caller's transaction: lock the user, mark the ticket used (only if nobody did), re-check.

    The conditional UPDATE is the guard: of two concurrent submissions one updates the row and the other sees 0
    rows (PostgreSQL makes it wait for the first to commit; SQLite's write lock serialises them). The user is locked
    first, as every deletion of users locks them before their tickets go (``delete_user``, the deletion of a
    connection): the ticket first made the claim and such a deletion wait on each other, a deadlock on PostgreSQL.
    """
    # Only the user's row: locking its connection too would hold back every insert into the connection meanwhile.
    user = User.objects.select_for_update(of=("self",)).select_related("connection").filter(pk=ticket.user_id).first()
    if user is None:
        raise TicketRejected(TicketRejection.USED)  # deleted meanwhile, and its tickets with it
    claimed = Ticket.objects.filter(pk=ticket.pk, used_at__isnull=True, expires_at__gt=timezone.now()).update(
        used_at=now_ms()
    )
    if claimed != 1:
        raise TicketRejected(TicketRejection.USED)
    _check_usable(ticket, user)  # the in-memory ticket still reads as unused: only the user is checked anew
    return user


@dataclass(frozen=True)
class TicketOutcome:
    """What happened, for the page: where to send the user next (``redirect_to``, or "" for a page of our own)."""

    user: User
    redirect_to: str


def result_redirect(ticket: Ticket, user: User) -> str:
    """The ``result_url`` with Auth0's parameters added (its own query kept), or "" without one."""
    if not ticket.result_url:
        return ""
    parts = urlsplit(ticket.result_url)
    params = [("success", "true"), ("message", RESULT_MESSAGES[TicketPurpose(ticket.purpose)])]
    if ticket.include_email_in_redirect and user.email:
        params.append(("email", user.email))
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def reset_password(*, token: str, password: str, actor: Actor) -> TicketOutcome:
    """Set the user's password from a password-change ticket (the reset page's POST).

    The password goes through ``users.services.update_user``, the service of the API's PATCH: the connection's
    policy, the password history and bcrypt, all before any transaction is open (so no lock is held while they run:
    on SQLite the database-wide write lock), then the audit entry (Auth0's ``scp`` "Successful change password"
    here). With the ticket's ``mark_email_as_verified`` the address is marked verified in the same change. The ticket
    is claimed inside the transaction that writes the password (``_claim``, before the write: it checks again that
    the ticket is unused and the user's password and e-mail unchanged since issue): a refused password
    (``PasswordPolicyError``, recorded as ``fcp``) leaves it usable, a success spends it. Raises ``TicketRejected``,
    ``PasswordPolicyError``.
    """
    ticket = find_ticket(token, TicketPurpose.PASSWORD_CHANGE)
    if ticket.user.connection.strategy != Strategy.AUTH0:
        raise TicketRejected(TicketRejection.INVALID)
    changes: dict[str, object] = {"password": password}
    if ticket.mark_email_as_verified and ticket.user.email:
        changes["email_verified"] = True  # the e-mail cannot change before the claim: the fingerprint holds it
    try:
        user = update_user(
            user_id=ticket.user.user_id,
            data=changes,  # type: ignore[arg-type]  # a UserChanges subset
            actor=actor,
            event=(EventType.SUCCESS_CHANGE_PASSWORD, "Successful change password"),
            in_transaction=lambda: _claim(ticket),
        )
    except PasswordPolicyError as exc:
        record_failure(
            type=EventType.FAILED_CHANGE_PASSWORD,
            description=exc.message,
            actor=actor,
            user=ticket.user,
            details={"error": {"name": exc.name, "message": exc.message}},
        )
        raise
    except UserNotFound:
        # Deleted since the ticket was found: its tickets went with it, as a claim would have found.
        raise TicketRejected(TicketRejection.USED) from None
    logger.info("password changed through ticket %s user_id=%s", ticket.pk, user.user_id)
    return TicketOutcome(user=user, redirect_to=result_redirect(ticket, user))


class VerificationOutcome(enum.Enum):
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"


def verify_email(*, token: str, actor: Actor) -> tuple[VerificationOutcome, TicketOutcome]:
    """Mark the address verified from an e-mail-verification ticket (once). Raises ``TicketRejected``."""
    ticket = find_ticket(token, TicketPurpose.EMAIL_VERIFICATION)
    with transaction.atomic():
        user = _claim(ticket)
        outcome = VerificationOutcome.ALREADY_VERIFIED
        if not user.email_verified:
            user.updated_at = now_ms()
            User.objects.filter(pk=user.pk).update(email_verified=True, updated_at=user.updated_at)
            user.email_verified = True
            emit_user_event(StreamEventType.USER_UPDATED, user)
            outcome = VerificationOutcome.VERIFIED
            actor = replace(actor, id=user.user_id)  # the person who opened the link: the user
            record_event(
                type=EventType.SUCCESS_VERIFICATION_EMAIL,
                description="Successful verification email",
                actor=actor,
                user=user,
            )
    logger.info("e-mail verified through ticket %s user_id=%s", ticket.pk, user.user_id)
    return outcome, TicketOutcome(user=user, redirect_to=result_redirect(ticket, user))


def record_rejected_ticket(*, purpose: TicketPurpose, reason: TicketRejection, actor: Actor) -> None:
    """A refused link, recorded as Auth0's failed change password (``fcp``) or failed verification (``fv``)."""
    failed = {
        TicketPurpose.PASSWORD_CHANGE: (EventType.FAILED_CHANGE_PASSWORD, "Failed change password"),
        TicketPurpose.EMAIL_VERIFICATION: (EventType.FAILED_VERIFICATION_EMAIL, "Failed verification email"),
    }[purpose]
    record_failure(type=failed[0], description=failed[1], actor=actor, details={"reason": reason.value})


# --- the Authentication API's change_password ------------------------------------------------------------------


def check_reset_request(*, client_id: str, connection_name: str, actor: Actor) -> Connection:
    """The database connection a ``change_password`` request names, as sign-up checks it: an active client with
    the connection enabled for it. Raises ``SignupRefused`` (400 ``invalid_client`` / ``invalid_connection``) and
    records Auth0's ``fcpr`` for it."""
    refusal = None
    client = Client.objects.filter(pk=client_id, is_active=True).first()
    connection = Connection.objects.filter(name=connection_name).first()
    if client is None:
        refusal = SignupRefused(UserErrorCode.INVALID_CLIENT, _("Unknown or inactive client."))
    elif connection is None:
        refusal = SignupRefused(UserErrorCode.INVALID_CONNECTION, _("The connection does not exist."))
    elif not client.connections.filter(pk=connection.pk).exists():
        refusal = SignupRefused(UserErrorCode.INVALID_CONNECTION, _("The connection is not enabled for this client."))
    elif connection.strategy != Strategy.AUTH0:
        refusal = SignupRefused(
            UserErrorCode.INVALID_CONNECTION, _("Password changes are only available on database connections.")
        )
    if refusal is not None:
        record_failure(
            type=EventType.FAILED_CHANGE_PASSWORD_REQUEST,
            description=refusal.message,
            actor=actor,
            connection_name=connection_name,
            details={"error": {"code": str(refusal.code)}},
        )
        raise refusal
    assert connection is not None  # every way to a missing connection was refused above
    return connection


def request_password_reset(*, email: str, connection: Connection, actor: Actor) -> bool:
    """``POST /dbconnections/change_password``: mail a password-change link when the address has an account.

    Returns whether a mail was scheduled (for tests; the HTTP answer is the same either way, so nobody can probe
    which addresses have accounts). The user must be in the connection and not blocked. Records Auth0's ``scpr``
    with the user, nothing for an unknown address. The mail goes after commit, in the request's language; its link
    lives ``PASSWORD_RESET_TTL_SECONDS``.
    """
    key = email_lookup_key(email)
    if key is None:
        return False
    user = User.objects.select_related("connection").filter(email=key, connection=connection).first()
    if user is None or user.blocked:
        return False
    try:
        with transaction.atomic():
            link = issue_ticket(
                user=user,
                purpose=TicketPurpose.PASSWORD_CHANGE,
                actor=actor,
                ttl_sec=settings.PASSWORD_RESET_TTL_SECONDS,
                audit=False,
            )
            record_event(
                type=EventType.SUCCESS_CHANGE_PASSWORD_REQUEST,
                description="Change password request",
                actor=actor,
                user=user,
            )
            schedule_password_reset_email(user, link)
    except UserNotFound:
        return False  # deleted meanwhile: an unknown address now
    return True


def send_password_reset(*, user: User, actor: Actor) -> None:
    """The admin's "Send password reset": a password-change ticket (as the API issues it) mailed to the user now.

    Raises what ``create_password_change_ticket`` raises (a user without passwords), ``PayloadValidationError``
    for a user without an e-mail address, and the mail server's errors (``OSError``, ``smtplib.SMTPException``).
    """
    if not user.email:
        raise _refuse("user_id", UserErrorCode.NO_EMAIL, _("The user has no e-mail address."))
    link = create_password_change_ticket(data={"user_id": user.user_id}, actor=actor)
    send_password_reset_email(user, link)


def send_password_reset_email(user: User, link: str) -> None:
    """Send the reset link now (the operator's admin action; ``schedule_password_reset_email`` after commit)."""
    if not user.email:
        return
    context = {"user": user, "name": single_line(user.name), "link": link}
    send_mail(
        subject=_("Reset your password"),
        message=render_to_string("users/password_reset_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    logger.info("password reset e-mail sent user_id=%s", user.user_id)


@task()
def deliver_password_reset_email(user_pk: int, encrypted_link: str, language: str, attempt: int = 1) -> str:
    """The worker's side of ``schedule_password_reset_email``: send the link, in ``language``. The link (it holds
    the ticket's secret) travels encrypted (``core.crypto``) in the task row. A mail server error is tried again
    later, up to ``EMAIL_SEND_MAX_ATTEMPTS``. Returns ``sent``, ``skipped`` (the user is gone, or its connection is
    being deleted: ``find_ticket`` refuses the link) or ``retrying``."""
    user = User.objects.select_related("connection").filter(pk=user_pk).first()
    if user is None or user.connection.being_deleted:
        return "skipped"
    with translation.override(language):
        try:
            send_password_reset_email(user, decrypt_secret(encrypted_link))
        except (OSError, smtplib.SMTPException) as exc:
            if not retry_later(deliver_password_reset_email, attempt, user_pk, encrypted_link, language):
                raise mail_not_sent(exc) from None  # its type and codes: the message may name the address
            logger.warning("password reset e-mail failed user_id=%s attempt=%s: retrying", user.user_id, attempt)
            return "retrying"
    return "sent"


def schedule_password_reset_email(user: User, link: str) -> None:
    """Queue the mail in the current transaction, to be sent by the worker in the current request's language; a
    mail failure never undoes the write, and the request neither builds nor sends it."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    deliver_password_reset_email.enqueue(user.pk, encrypt_secret(link), language)
