"""``POST /api/v2/jobs/verification-email``: send the verification e-mail again (Auth0's management API)."""

from __future__ import annotations

import smtplib

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView
from api.bearer import client_actor
from api.docs import BODY_ERRORS, JobDoc, errors
from audit.models import EventType
from audit.services import record_event
from connections.errors import ConnectionNotFound
from core.errors import FieldError, PayloadValidationError
from core.schema import StrictCharField, StrictSerializer, validate_payload
from jobs.serializers import job_body
from jobs.services import record_verification_email_job
from users.errors import MailUnavailable, UserErrorCode, UserNotFound
from users.selectors import get_user
from users.ticket_serializers import VerificationIdentitySerializer
from users.tickets import check_identity, refuse_organization
from users.verification import send_verification_email


class VerificationEmailJobSerializer(StrictSerializer):
    """Auth0's ``PostVerificationEmailRequest``: ``user_id``, ``client_id``, ``identity`` and ``organization_id``."""

    user_id = StrictCharField(min_length=1, required=True, help_text=_("user_id of the user to send the e-mail to."))
    client_id = StrictCharField(min_length=1, help_text=_("client_id of the client (accepted for compatibility)."))
    identity = VerificationIdentitySerializer(required=False, help_text=_("The identity to verify."))
    organization_id = StrictCharField(
        min_length=1, max_length=64, help_text=_("Organization ID (this service has no organizations).")
    )


class VerificationEmailJobView(ManagementAPIView):
    """``POST /api/v2/jobs/verification-email``: send the verification e-mail again."""

    required_scopes = {"POST": ("update:users",)}

    @extend_schema(
        operation_id="post_verification_email",
        summary="Send an email address verification email",
        request=VerificationEmailJobSerializer,
        responses={201: JobDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = validate_payload(VerificationEmailJobSerializer, request.data)
        refuse_organization(data)
        user = get_user(user_id=data["user_id"])
        if user.connection.being_deleted:  # as for a ticket: its link would be dead on arrival (``verify_ticket``)
            raise UserNotFound()
        check_identity(data.get("identity"), user)
        if not user.email:
            error = FieldError("user_id", UserErrorCode.NO_EMAIL, str(_("The user has no e-mail address.")))
            raise PayloadValidationError(error.message, errors=[error])
        if user.email_verified:
            error = FieldError(
                "user_id", UserErrorCode.ALREADY_VERIFIED, str(_("The user's e-mail address is already verified."))
            )
            raise PayloadValidationError(error.message, errors=[error])
        record_event(
            type=EventType.VERIFICATION_EMAIL_REQUEST,
            description="Verification email requested",
            actor=client_actor(request),
            user=user,
        )
        try:
            send_verification_email(user)
        except (OSError, smtplib.SMTPException) as exc:  # the mail server, not the caller, failed
            raise MailUnavailable() from exc
        # Sent before answering, so "completed", never "pending"; recorded so that GET /jobs/{id} finds it.
        try:
            job = record_verification_email_job(connection=user.connection, actor=client_actor(request))
        except ConnectionNotFound as exc:  # deleted while the mail went out: the user is gone with it
            raise UserNotFound() from exc
        return Response(job_body(job), status=201)
