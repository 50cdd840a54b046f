"""``GET /email-verification?ticket=...`` and ``GET /u/email-verification?ticket=...``: the page a user lands on from
a verification link.

Two kinds of link reach it: the e-mail's signed link (``users.verification``) and the one-time tickets of
``POST /api/v2/tickets/email-verification`` (``users.tickets``; Auth0's URL shape ``/u/email-verification``). A
ticket with a ``result_url`` redirects there with Auth0's ``success``/``message`` parameters once used.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from api.authentication.pages import page_methods, protect
from api.authentication.password_reset import rejected_page
from core.actors import Actor, request_metadata
from users.errors import TicketRejected
from users.models import TicketPurpose
from users.tickets import VerificationOutcome, is_ticket_token, record_rejected_ticket, verify_email
from users.verification import VerificationResult, verify_ticket


@page_methods("GET")
def email_verification(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("ticket", "")
    if token and is_ticket_token(token):
        return _ticket_verification(request, token)
    result = verify_ticket(token)
    pages = {
        VerificationResult.VERIFIED: (
            200,
            _("E-mail verified"),
            _("Thank you: your e-mail address is verified."),
        ),
        VerificationResult.ALREADY_VERIFIED: (
            200,
            _("E-mail already verified"),
            _("This e-mail address was verified before. Nothing else to do."),
        ),
        VerificationResult.EXPIRED: (
            400,
            _("Link expired"),
            _("This verification link has expired. Ask for a new verification e-mail."),
        ),
        VerificationResult.INVALID: (
            400,
            _("Invalid link"),
            _("This verification link is not valid. Check that you opened the whole link from the e-mail."),
        ),
    }
    status, title, message = pages[result]
    context = {"title": title, "message": message, "success": status == 200}
    return render(request, "authentication/verification_result.html", context, status=status)


def _ticket_verification(request: HttpRequest, token: str) -> HttpResponse:
    ip, agent = request_metadata(request)
    try:
        outcome, result = verify_email(token=token, actor=Actor(kind="anonymous", id="ticket", ip=ip, user_agent=agent))
    except TicketRejected as exc:
        actor = Actor(kind="anonymous", id="unknown", ip=ip, user_agent=agent)
        record_rejected_ticket(purpose=TicketPurpose.EMAIL_VERIFICATION, reason=exc.reason, actor=actor)
        return rejected_page(request, exc.reason, TicketPurpose.EMAIL_VERIFICATION)
    if result.redirect_to:
        return protect(HttpResponseRedirect(result.redirect_to))
    if outcome is VerificationOutcome.VERIFIED:
        title, message = _("E-mail verified"), _("Thank you: your e-mail address is verified.")
    else:
        title, message = (
            _("E-mail already verified"),
            _("This e-mail address was verified before. Nothing else to do."),
        )
    context = {"title": title, "message": message, "success": True}
    return protect(render(request, "authentication/verification_result.html", context))
