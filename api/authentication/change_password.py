"""``POST /dbconnections/change_password``: Auth0's Authentication API "Change Password" (send a reset e-mail).

Auth0: "Send a change password email to the user's provided email address and connection"; the answer is the
text "We've just sent you an email to reset your password." (200) whether or not the address has an account, so
nobody can find out who has one. Limited per client address (``CHANGE_PASSWORD_RATE_LIMIT``) and per e-mail
address asked about (``CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL``, counted whether or not it has an account: the limit
tells nothing either). The client must be active and the connection enabled for it, as for sign-up.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from api.authentication import problems
from api.docs import SignupErrorDoc
from api.parsers import StrictFormParser, StrictJSONParser
from api.problems import Problem, ProblemCode, Rendered
from api.throttling import ChangePasswordEmailThrottle, ChangePasswordIPThrottle, retry_after_header
from core.actors import Actor, request_metadata
from core.schema import validate_payload
from users.ticket_serializers import ChangePasswordRequestSerializer
from users.tickets import check_reset_request, request_password_reset

# Auth0's answer, word for word (Authentication API, Change Password: "200 ... We've just sent you an email to
# reset your password.").
SENT = "We've just sent you an email to reset your password."


def render(problem: Problem) -> Rendered:
    """The Authentication API's shape, with this endpoint's words for a 429."""
    if problem.code == ProblemCode.RATE_LIMITED:
        body: dict[str, Any] = {
            "name": "TooManyRequestsError",
            "code": "too_many_requests",
            "description": _("Too many password reset requests. Try again later."),
            "statusCode": 429,
        }
        return Rendered(body, 429, {"Retry-After": retry_after_header(problem.retry_after)})
    return problems.render(problem)


class ChangePasswordView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [StrictJSONParser, StrictFormParser]
    throttle_classes = [ChangePasswordIPThrottle, ChangePasswordEmailThrottle]
    problem_renderer = staticmethod(render)

    @extend_schema(
        operation_id="post_change_password",
        summary="Send a change password e-mail (Authentication API)",
        description=(
            "Mails a one-time link to the password-reset page when the address has an account in the database "
            "connection; answers the same text either way."
        ),
        request=ChangePasswordRequestSerializer,
        responses={
            (200, "text/plain"): OpenApiResponse(description=SENT, response={"type": "string", "example": SENT}),
            **{status: SignupErrorDoc for status in (400, 411, 413, 415, 429)},
        },
        auth=[],
    )
    def post(self, request: Request) -> HttpResponse:
        data = validate_payload(ChangePasswordRequestSerializer, request.data)
        ip, agent = request_metadata(request)
        actor = Actor(kind="anonymous", id=data["client_id"][:64], ip=ip, user_agent=agent)
        connection = check_reset_request(client_id=data["client_id"], connection_name=data["connection"], actor=actor)
        request_password_reset(email=data["email"], connection=connection, actor=actor)
        return HttpResponse(SENT, content_type="text/plain; charset=utf-8")
