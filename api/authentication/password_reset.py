"""``/lo/reset?ticket=…``: the password-reset page a password-change ticket opens (Auth0's classic reset page).

``GET`` shows the form with the connection's password rules; ``POST`` sets the password through
``users.tickets.reset_password`` (the API's own update service), then redirects to the ticket's ``result_url`` with
Auth0's ``success``/``message`` parameters, or shows a page of its own. A refused password shows the form again with
each rule marked met or not (server-side: no JavaScript needed), an ``role="alert"`` summary and the errors tied to
the field by ``aria-describedby``.

The ticket arrives in the URL. The first ``GET`` moves it into a short-lived signed cookie (HttpOnly, SameSite=Lax,
path ``/lo/reset``) and redirects to ``/lo/reset`` without a query string (the pattern of Django's own
``PasswordResetConfirmView``), so the address bar, the history and every later request line no longer hold it; the
form posts it in its body. Only that first request line reaches a server's access log. Every answer says
``Cache-Control: no-store``; the redirects say ``Referrer-Policy: no-referrer`` and the form page ``same-origin``
(its ``Referer`` never leaves this site, and a same-origin form POST keeps its ``Origin``, which Django's CSRF
check compares: under ``no-referrer`` browsers send ``Origin: null``). Our own logs name tickets by row id only.
CSRF-protected by Django's middleware.

Refused submissions are limited per client address (``PASSWORD_RESET_FAILURES_PER_IP``) and per ticket
(``PASSWORD_RESET_FAILURES_PER_TICKET``, keyed by its row id), as the password grant limits failed logins: a
submission that reaches the password checks (a usable ticket, the page's own checks passed) reserves a failure in
each before the connection's policy and password history run (up to 24 hash checks), and a success gives them
back. Past either, the form comes back with 429 and ``Retry-After`` and no password is checked; when the limits'
store does not answer, with 503 (``api.throttling.FailureLimit`` fails closed).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.throttling import BaseThrottle

from api.authentication.pages import page_methods, protect
from api.throttling import (
    PASSWORD_RESET_FAILURES_PER_IP,
    PASSWORD_RESET_FAILURES_PER_TICKET,
    LimiterUnavailable,
    give_back_failures,
    reserve_failures,
    retry_after_header,
)
from connections.password_policy import PasswordPolicyError, RuleStatus, policy_checklist
from core.actors import Actor, request_metadata
from core.hashing import BCRYPT_MAX_BYTES
from core.schema import text_fault
from users.errors import TicketRejected, TicketRejection
from users.models import Ticket, TicketPurpose
from users.tickets import find_ticket, record_rejected_ticket, reset_password

logger = logging.getLogger(__name__)

COOKIE = "reset_ticket"
_COOKIE_SALT = "api.authentication.password_reset"
# Long enough to fill in the form; the ticket's own expiry still applies.
_COOKIE_MAX_AGE = 3600


def rejected_page(request: HttpRequest, reason: TicketRejection, purpose: TicketPurpose) -> HttpResponse:
    """The page for a link that cannot be used, worded by why (blocked reads as invalid: nothing to learn)."""
    thing = _("password reset link") if purpose == TicketPurpose.PASSWORD_CHANGE else _("verification link")
    texts = {
        TicketRejection.EXPIRED: (_("Link expired"), _("This %(thing)s has expired. Ask for a new one.")),
        TicketRejection.USED: (_("Link already used"), _("This %(thing)s has already been used. Ask for a new one.")),
        TicketRejection.INVALID: (
            _("Invalid link"),
            _("This %(thing)s is not valid. Check that you opened the whole link from the e-mail."),
        ),
    }
    title, message = texts.get(reason, texts[TicketRejection.INVALID])
    context = {"title": title, "message": message % {"thing": thing}, "success": False}
    return protect(render(request, "authentication/verification_result.html", context, status=400))


def _user_info(ticket: Ticket) -> dict[str, Any]:
    user = ticket.user
    return {
        "email": user.email,
        "username": user.username,
        "name": user.name,
        "nickname": user.nickname,
        "user_metadata": user.user_metadata,
    }


def _form(
    request: HttpRequest,
    ticket: Ticket,
    token: str,
    *,
    rules: list[RuleStatus],
    errors: list[str] | None = None,
    checked: bool = False,
    status: int = 200,
) -> HttpResponse:
    context = {
        "title": _("Change your password"),
        "ticket": token,
        "email": ticket.user.email or ticket.user.username or "",
        "rules": rules,
        "checked": checked,
        "errors": errors or [],
    }
    page = render(request, "authentication/password_reset.html", context, status=status)
    return protect(page, referrer_policy="same-origin")


@page_methods("GET", "POST")
def password_reset(request: HttpRequest) -> HttpResponse:
    """Show the form (GET: the link's ``?ticket=`` redirects once to ``/lo/reset``, see the module) or set the password
    (POST). Answers 200, 302 (to ``/lo/reset`` or to the result_url), or 400 pages."""
    if request.method == "GET":
        if "ticket" in request.GET:
            return _move_to_cookie(request, request.GET["ticket"])
        token = request.get_signed_cookie(COOKIE, default="", salt=_COOKIE_SALT, max_age=_COOKIE_MAX_AGE) or ""
        try:
            ticket = find_ticket(token, TicketPurpose.PASSWORD_CHANGE)
        except TicketRejected as exc:
            return rejected_page(request, exc.reason, TicketPurpose.PASSWORD_CHANGE)
        return _form(
            request, ticket, token, rules=policy_checklist("", options=ticket.user.connection.options, user_info={})
        )

    token = request.POST.get("ticket", "")
    password = request.POST.get("password", "")
    confirmation = request.POST.get("password_confirmation", "")
    ip, agent = request_metadata(request)
    try:
        ticket = find_ticket(token if text_fault(token) is None else "", TicketPurpose.PASSWORD_CHANGE)
    except TicketRejected as exc:
        record_rejected_ticket(
            purpose=TicketPurpose.PASSWORD_CHANGE,
            reason=exc.reason,
            actor=Actor(kind="anonymous", id="unknown", ip=ip, user_agent=agent),
        )
        return rejected_page(request, exc.reason, TicketPurpose.PASSWORD_CHANGE)
    options = ticket.user.connection.options
    fault = text_fault(password)
    problem = None
    if not password:
        problem = _("Enter a new password.")
    elif fault is not None:
        problem = _("The password contains characters that cannot be used.")
    elif len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        problem = _("The password is too long: at most %(limit)d bytes.") % {"limit": BCRYPT_MAX_BYTES}
    elif password != confirmation:
        problem = _("The two passwords do not match.")
    safe = password if fault is None else ""
    rules = policy_checklist(safe, options=options, user_info=_user_info(ticket))
    if problem is not None:
        return _form(request, ticket, token, rules=rules, errors=[problem], checked=bool(safe), status=400)
    # The address as the other limits see it (NUM_PROXIES; DRF's get_ident reads only META, which a Django request
    # has); the ticket by its row id, never its text.
    client = BaseThrottle().get_ident(request) or ""  # type: ignore[arg-type]
    ticket_id = str(ticket.pk)
    try:
        held, spent = reserve_failures(
            [(PASSWORD_RESET_FAILURES_PER_IP, client), (PASSWORD_RESET_FAILURES_PER_TICKET, ticket_id)]
        )
    except LimiterUnavailable as exc:  # fail closed: no password is checked while failures cannot be counted
        unavailable = _("The service is temporarily unavailable. Try again later.")
        return _refused_unchecked(request, ticket, token, unavailable, status=503, retry_after=exc.retry_after)
    if spent is not None:
        logger.info("password reset attempts limited for ticket %s", ticket.pk)
        wait = spent.retry_after
        return _refused_unchecked(request, ticket, token, _too_many(wait), status=429, retry_after=wait)
    actor = Actor(kind="anonymous", id=ticket.user.user_id, ip=ip, user_agent=agent)
    try:
        outcome = reset_password(token=token, password=password, actor=actor)
    except PasswordPolicyError as exc:  # a failure: the reserved failures stay counted
        messages = [message for _code, message in exc.failures] or [_("The password does not meet the rules.")]
        return _form(request, ticket, token, rules=rules, errors=messages, checked=True, status=400)
    except TicketRejected as exc:  # used or spent between the check and the claim: no password was refused
        give_back_failures(held)
        return rejected_page(request, exc.reason, TicketPurpose.PASSWORD_CHANGE)
    except BaseException:
        give_back_failures(held)
        raise
    PASSWORD_RESET_FAILURES_PER_IP.give_back(client)
    PASSWORD_RESET_FAILURES_PER_TICKET.clear(ticket_id)
    if outcome.redirect_to:
        response: HttpResponse = HttpResponseRedirect(outcome.redirect_to)
    else:
        context = {
            "title": _("Password changed"),
            "message": _("Your password has been changed. You can now log in with the new password."),
            "success": True,
        }
        response = render(request, "authentication/verification_result.html", context)
    response.delete_cookie(COOKIE, path=reverse("password-reset"))
    return protect(response)


def _too_many(wait: int) -> str:
    minutes = max(1, math.ceil(wait / 60))
    return ngettext(
        "Too many attempts to change the password. Try again in %(minutes)d minute.",
        "Too many attempts to change the password. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def _refused_unchecked(
    request: HttpRequest, ticket: Ticket, token: str, message: str, *, status: int, retry_after: int | None
) -> HttpResponse:
    """The form again, its rules unchecked (no password was looked at), with why and when to try again."""
    rules = policy_checklist("", options=ticket.user.connection.options, user_info={})
    response = _form(request, ticket, token, rules=rules, errors=[message], status=status)
    if retry_after is not None:
        response["Retry-After"] = retry_after_header(retry_after)
    return response


def _move_to_cookie(request: HttpRequest, token: str) -> HttpResponse:
    """A usable ticket from the link goes into the signed cookie, and the browser to ``/lo/reset``; any other gets
    its page at once."""
    try:
        find_ticket(token, TicketPurpose.PASSWORD_CHANGE)
    except TicketRejected as exc:
        return rejected_page(request, exc.reason, TicketPurpose.PASSWORD_CHANGE)
    path = reverse("password-reset")
    response = HttpResponseRedirect(path)
    response.set_signed_cookie(
        COOKIE,
        token,
        salt=_COOKIE_SALT,
        max_age=_COOKIE_MAX_AGE,
        path=path,
        secure=request.is_secure() or settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return protect(response)
