"""The wire schema of the jobs API: Auth0's ``CreateImportUsersRequestContent`` (multipart) and job bodies.

Shape and types only. A multipart body is text, so ``upsert`` and ``send_completion_email`` are ``true`` or
``false`` written out; the messages are Auth0's, verbatim where Auth0 documents them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers as s

from core import messages
from core.errors import FieldCode, FieldError, PayloadValidationError
from core.schema import StrictSerializer, echo, text_fault
from jobs.errors import JobErrorCode
from jobs.models import Job, JobStatus, JobType
from users.profile import format_timestamp

CONNECTION_ID_PATTERN = r"^con_[A-Za-z0-9]{16}$"
EXTERNAL_ID_MAX_LENGTH = 255
_CONNECTION_ID = re.compile(CONNECTION_ID_PATTERN)
_PARTS = ("users", "connection_id", "upsert", "external_id", "send_completion_email")


@dataclass(frozen=True)
class ImportUsersRequest:
    users: bytes
    file_name: str
    connection_id: str
    upsert: bool
    external_id: str
    send_completion_email: bool


def _refuse(field: str | None, code: str, message: str) -> PayloadValidationError:
    return PayloadValidationError(message, errors=[FieldError(field, code, message)])


def _payload_error(field: str, code: str, detail: str) -> PayloadValidationError:
    return _refuse(field, code, messages.validation_error("Payload", detail, field))


def _single_text(data: QueryDict, name: str) -> str | None:
    values = data.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise _payload_error(name, FieldCode.INVALID_TYPE, messages.invalid_type("string", "array"))
    fault = text_fault(values[0])
    if fault is not None:
        raise _payload_error(name, JobErrorCode.INVALID_TEXT, fault)
    return values[0]


def _boolean(data: QueryDict, name: str, default: bool) -> bool:
    value = _single_text(data, name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise _payload_error(name, FieldCode.INVALID_TYPE, messages.invalid_type("boolean", "string"))
    return value == "true"


def parse_import_users_request(data: QueryDict, files: MultiValueDict) -> ImportUsersRequest:
    """Validate the parts of ``POST /jobs/users-imports``; raise ``PayloadValidationError`` (400)."""
    unknown = [name for name in [*data.keys(), *files.keys()] if name not in _PARTS]
    if unknown:
        names = echo(",".join(dict.fromkeys(unknown)))
        raise _refuse(
            None,
            FieldCode.OBJECT_ADDITIONAL_PROPERTIES,
            messages.validation_error("Payload", messages.additional_properties(names)),
        )
    uploads: list[UploadedFile] = files.getlist("users")
    if not uploads or "users" in data:
        raise _refuse(
            "users", FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY, _("Must provide 'users' file as multipart part.")
        )
    if len(uploads) > 1:
        raise _payload_error("users", FieldCode.INVALID_TYPE, messages.invalid_type("string", "array"))
    content = uploads[0].read()
    if not content:
        raise _refuse("users", JobErrorCode.EMPTY_FILE, _("Users file must not be empty."))
    connection_id = _single_text(data, "connection_id")
    if connection_id is None:
        raise _refuse(
            "connection_id",
            FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY,
            _("Must provide 'connection_id' as multipart part."),
        )
    if not _CONNECTION_ID.fullmatch(connection_id):
        # Auth0 quotes the pattern but not the value here.
        raise _refuse(
            "connection_id",
            FieldCode.PATTERN,
            _("Payload validation error: 'String does not match pattern %(pattern)s' on property connection_id.")
            % {"pattern": CONNECTION_ID_PATTERN},
        )
    upsert = _boolean(data, "upsert", False)
    send_completion_email = _boolean(data, "send_completion_email", True)
    external_id = _single_text(data, "external_id") or ""
    if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        raise _payload_error(
            "external_id", FieldCode.MAX_LENGTH, messages.too_long(len(external_id), EXTERNAL_ID_MAX_LENGTH)
        )
    return ImportUsersRequest(
        users=content,
        file_name=(uploads[0].name or "")[:255],
        connection_id=connection_id,
        upsert=upsert,
        external_id=external_id,
        send_completion_email=send_completion_email,
    )


# Documentation of the request and response bodies (the OpenAPI document); never used to validate.
@extend_schema_field(OpenApiTypes.BINARY)
class UsersFileDocField(s.FileField):
    pass


# No docstring: drf-spectacular would show it as the schema's description. StrictSerializer: unknown parts are
# refused (additionalProperties: false).
class ImportUsersRequestDoc(StrictSerializer):
    users = UsersFileDocField(help_text="The users to import: a JSON array or JSON lines, at most 500 KB.")
    connection_id = s.RegexField(
        CONNECTION_ID_PATTERN,
        help_text="connection_id of the connection to which users will be imported.",
    )
    upsert = s.BooleanField(
        required=False,
        default=False,
        help_text="Whether to update users if they already exist (true) or to ignore them (false).",
    )
    external_id = s.CharField(required=False, max_length=EXTERNAL_ID_MAX_LENGTH, help_text="Customer-defined ID.")
    send_completion_email = s.BooleanField(
        required=False,
        default=True,
        help_text="Whether to send a completion email to all tenant owners when the job is finished.",
    )


class JobSummaryDoc(s.Serializer):
    failed = s.IntegerField()
    updated = s.IntegerField()
    inserted = s.IntegerField()
    total = s.IntegerField()


class ImportJobDoc(s.Serializer):
    type = s.CharField()
    status = s.ChoiceField(choices=["pending", "processing", "completed", "failed"])
    connection_id = s.CharField()
    connection = s.CharField()
    created_at = s.DateTimeField()
    id = s.CharField()
    external_id = s.CharField(required=False)
    summary = JobSummaryDoc(required=False, help_text="Once finished.")
    percentage_done = s.IntegerField(required=False, help_text="While processing: how much of the file is read.")
    time_left_seconds = s.IntegerField(required=False, help_text="While processing, once it can be estimated.")
    status_details = s.CharField(required=False, help_text="Why a failed job failed.")


class JobImportUserErrorDoc(s.Serializer):
    code = s.CharField()
    message = s.CharField()
    path = s.CharField(required=False)


class JobUserErrorDoc(s.Serializer):
    user = s.DictField(
        help_text="The user as given in the file (secrets removed); only its identifying fields when it is larger as "
        "stored than a request body may be (the error REPORT_USER_SHORTENED says so)."
    )
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.errors; the stubs
    # cannot express that.
    errors = JobImportUserErrorDoc(many=True)  # type: ignore[assignment]


def job_body(job: Job) -> dict[str, Any]:
    """Auth0's job object: progress while processing, ``summary`` once finished, ``status_details`` if failed; a
    verification e-mail's job is the four keys Auth0 answers for it."""
    if job.type == JobType.VERIFICATION_EMAIL:
        return {
            "type": job.type,
            "status": job.status,
            "created_at": format_timestamp(job.created_at),
            "id": job.id,
        }
    body: dict[str, Any] = {
        "type": job.type,
        "status": job.status,
        "connection_id": job.connection_id,
        "connection": job.connection_name,
        "created_at": format_timestamp(job.created_at),
        "id": job.id,
    }
    if job.external_id:
        body["external_id"] = job.external_id
    if job.finished and job.summary is not None:
        body["summary"] = job.summary
    if job.status == JobStatus.PROCESSING:
        percentage, seconds_left = job.progress(timezone.now())
        body["percentage_done"] = percentage
        if seconds_left is not None:
            body["time_left_seconds"] = seconds_left
    if job.failure_message:
        body["status_details"] = job.failure_message
    return body
