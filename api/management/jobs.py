"""The jobs endpoints of the management API: create an import job, read it, read its per-user errors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView
from api.bearer import client_actor
from api.docs import BODY_ERRORS, JobDoc, errors
from api.parsers import StrictMultiPartParser
from jobs.selectors import get_job
from jobs.serializers import (
    ImportJobDoc,
    ImportUsersRequestDoc,
    JobUserErrorDoc,
    job_body,
    parse_import_users_request,
)
from jobs.services import create_import_job

_JOB_ID = OpenApiParameter("job_id", str, OpenApiParameter.PATH, description="ID of the job.")
_READ_SCOPES = ("create:users", "read:users")


class ImportUsersJobView(ManagementAPIView):
    required_scopes = {"POST": ("create:users",)}
    parser_classes = [StrictMultiPartParser]

    @extend_schema(
        operation_id="post_users-imports",
        summary="Create import users job",
        description=(
            "Queue a bulk import of a JSON array (or JSON lines) of users into a database connection; a worker "
            "(`manage.py run_jobs`) runs it. At most two jobs may be pending or processing at once (429 beyond)."
        ),
        request={"multipart/form-data": ImportUsersRequestDoc},
        responses={202: ImportJobDoc, **errors(400, 401, 403, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = parse_import_users_request(request.POST, request.FILES)
        job = create_import_job(request=data, actor=client_actor(request))
        return Response(job_body(job), status=202, headers={"Location": f"/api/v2/jobs/{job.id}"})


class JobDetailView(ManagementAPIView):
    required_scopes = {"GET": _READ_SCOPES}

    @extend_schema(
        operation_id="get_jobs_by_id",
        summary="Get a job",
        description=(
            "An import job, or the job `POST /api/v2/jobs/verification-email` answered (`type` "
            "`verification_email`, always `completed`: `type`, `status`, `created_at` and `id` only)."
        ),
        parameters=[_JOB_ID],
        responses={
            200: PolymorphicProxySerializer(
                component_name="AnyJob",
                serializers=[ImportJobDoc, JobDoc],
                resource_type_field_name=None,
            ),
            **errors(401, 403, 404, 429),
        },
    )
    def get(self, request: Request, job_id: str) -> Response:
        return Response(job_body(get_job(job_id=job_id)))


class JobErrorsView(ManagementAPIView):
    required_scopes = {"GET": _READ_SCOPES}

    @extend_schema(
        operation_id="get_errors",
        summary="Get job error details",
        description=(
            "The users the job refused, each with Auth0's error objects, in file order. The report keeps at most "
            "four times the request body limit as stored: a last entry whose error is REPORT_TRUNCATED counts the "
            "users left out (the job's summary counts them all). A finished job without refused users answers 204; "
            "a job still pending or processing, or one that failed as a whole (`status_details` says why), answers "
            "the job itself."
        ),
        parameters=[_JOB_ID],
        responses={
            200: PolymorphicProxySerializer(
                component_name="JobErrors",
                serializers=[JobUserErrorDoc(many=True), ImportJobDoc],
                resource_type_field_name=None,
                many=False,
            ),
            204: OpenApiResponse(description="The job finished and refused no user."),
            **errors(401, 403, 404, 429),
        },
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = get_job(job_id=job_id)
        if job.errors:
            return Response(job.errors)
        if job.finished and not job.failure_message:
            return Response(status=204)
        return Response(job_body(job))
