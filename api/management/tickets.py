"""``POST /api/v2/tickets/password-change`` and ``POST /api/v2/tickets/email-verification`` (Auth0's Management
API "Tickets": ``post_password_change``, ``post_email_verification``), scope ``create:user_tickets``.

Both answer ``201 {"ticket": "<URL>"}`` and send nothing: the caller gives the link to the user (an invitation, a
test that completes the flow). The rules are ``users.tickets``'s.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView
from api.bearer import client_actor
from api.docs import BODY_ERRORS, TicketDoc, errors
from core.schema import validate_payload
from users.ticket_serializers import EmailVerificationTicketRequestSerializer, PasswordChangeTicketRequestSerializer
from users.tickets import create_email_verification_ticket, create_password_change_ticket


class PasswordChangeTicketView(ManagementAPIView):
    """``POST /api/v2/tickets/password-change``: a link to the password-reset page (``/lo/reset?ticket=…``)."""

    required_scopes = {"POST": ("create:user_tickets",)}

    @extend_schema(
        operation_id="post_password_change",
        summary="Create a password change ticket",
        description=(
            "A one-time link to the password-reset page for the user named by `user_id`, or by `email` with "
            "`connection_id`; it expires after `ttl_sec` (0 or absent: 432000, five days; at most 2592000) and stops "
            "working once the password or e-mail changes. After the change the page redirects to `result_url` "
            "(http or https) with `success=true&message=…` (and `email=` with `includeEmailInRedirect`). No e-mail "
            "is sent. `organization_id` is refused: this service has no organizations."
        ),
        request=PasswordChangeTicketRequestSerializer,
        responses={201: TicketDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = validate_payload(PasswordChangeTicketRequestSerializer, request.data)
        link = create_password_change_ticket(data=data, actor=client_actor(request))
        return Response({"ticket": link}, status=201)


class EmailVerificationTicketView(ManagementAPIView):
    """``POST /api/v2/tickets/email-verification``: a link that verifies the user's address when opened."""

    required_scopes = {"POST": ("create:user_tickets",)}

    @extend_schema(
        operation_id="post_email_verification",
        summary="Create an email verification ticket",
        description=(
            "A one-time link (`/u/email-verification?ticket=…`) that marks the user's e-mail address verified when "
            "opened; then the page redirects to `result_url` with `success=true&message=…` when one was given. "
            "`ttl_sec` as for password-change tickets. No e-mail is sent."
        ),
        request=EmailVerificationTicketRequestSerializer,
        responses={201: TicketDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = validate_payload(EmailVerificationTicketRequestSerializer, request.data)
        link = create_email_verification_ticket(data=data, actor=client_actor(request))
        return Response({"ticket": link}, status=201)
