"""The users endpoints of the management API: thin views over ``users.services`` and ``users.selectors``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView, select_fields
from api.bearer import bearer_principal, client_actor
from api.docs import BODY_ERRORS, USERS_LIST, ErrorEnvelopeDoc, UserProfileDoc, errors
from api.management.paging import check_users_page
from core.errors import FieldError, PayloadValidationError
from core.schema import validate_payload, validate_query
from idempotency.keys import idempotent
from users.errors import UserErrorCode
from users.profile import user_profile
from users.search import check_search_engine, user_filter
from users.selectors import get_user, list_users, users_by_email
from users.serializers import (
    CreateUserRequestSerializer,
    ListUsersQuerySerializer,
    UpdateUserRequestSerializer,
    UserFieldsQuerySerializer,
    UsersByEmailQuerySerializer,
)
from users.services import create_user, delete_user, update_user

# Auth0's "Metadata Field Names and Data Types" (users.metadata), as both writes document it.
_METADATA_RULES = (
    'Metadata names may not contain `.` or `$` at any depth (400 `invalid_body`, `Fields with "." are not allowed, '
    "please remove all dotted fields. Example: user_metadata.foo.bar`), `app_metadata` may not use the names Auth0 "
    "reserves at its top level (`Forbidden attribute in app_metadata: email`; also `blocked`, `user_id`, "
    "`identities`, `username` and the rest of Auth0's list), and a user's `user_metadata` and `app_metadata` "
    "together are at most 16 MB of JSON."
)
# The pairs Auth0's PATCH refuses in one body (its operation's 400s, in this order): a script sends them as two calls.
_NOT_TOGETHER = (
    ("password", "email"),
    ("password", "email_verified"),
    ("username", "email"),
    ("username", "email_verified"),
    ("username", "password"),
)
_USER_ID = OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="ID of the user (URL-encoded).")


class UserCollectionView(ManagementAPIView):
    required_scopes = {"POST": ("create:users",), "GET": ("read:users",)}

    @idempotent("POST /api/v2/users", caller=lambda request: f"client:{bearer_principal(request).client_id}")
    @extend_schema(
        operation_id="post_users",
        summary="Create a User",
        description=_METADATA_RULES,
        request=CreateUserRequestSerializer,
        responses={201: UserProfileDoc, **errors(400, 401, 403, 409, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = validate_payload(CreateUserRequestSerializer, request.data)
        user = create_user(data=data, actor=client_actor(request))
        location = f"/api/v2/users/{quote(user.user_id, safe='')}"
        return Response(user_profile(user), status=201, headers={"Location": location})

    @extend_schema(
        operation_id="get_users",
        summary="List Users",
        description=(
            "Users page by page (`page`, `per_page`), in a stable order. Only the first 1000 users can be paged "
            "through: a page reaching past them, `(page + 1) * per_page > 1000`, is refused with 400 `invalid_paging` "
            "(`You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/"
            "view-search-results-by-page#limitation`), as Auth0 refuses it; `include_totals` still counts every "
            "matching user. `q` searches in Lucene syntax (search engine v3, see the parameter); a user is found by "
            "the search as soon as its create returns (Auth0's search is eventually consistent). `connection`, "
            "`email`, `sort`, `fields` and paging combine with it. `sort` takes created_at, updated_at, last_login, "
            "logins_count, email, user_id, name or username; ties are broken by creation order, and users without a "
            "value (never logged in, for last_login) come last in either direction. "
            "A malformed or refused query is 400 `invalid_query_string` with a message naming the problem; "
            "`search_engine=v1` is refused with `You are not allowed to use search_engine=v1.`; a search that "
            "runs past `USER_SEARCH_TIMEOUT_MS` (default 2000 ms, as Auth0 stops its searches after two seconds) is "
            "stopped and answered 503 `temporarily_unavailable`."
        ),
        parameters=[ListUsersQuerySerializer],
        responses={
            200: USERS_LIST,
            **errors(401, 403, 429),
            503: OpenApiResponse(
                ErrorEnvelopeDoc,
                description=(
                    "`temporarily_unavailable`: the search ran past `USER_SEARCH_TIMEOUT_MS` and was stopped, or the "
                    "database did not answer."
                ),
            ),
            400: OpenApiResponse(
                ErrorEnvelopeDoc,
                description=(
                    "`invalid_query_string`: a parameter out of its schema, a `q` that cannot be parsed or is refused "
                    "(the message names the term: `?`, regular expressions, fuzzy or boost syntax, a wildcard not at "
                    "the start of a term with fewer than 3 characters, ranges or wildcards on user_metadata, a value "
                    "that is not of the field's type, over 1024 characters, 64 terms or 16 levels of nesting), or "
                    "`search_engine=v1`. `invalid_paging`: a page past the first 1000 users."
                ),
            ),
        },
    )
    def get(self, request: Request) -> Response:
        query = validate_query(ListUsersQuerySerializer, request.query_params)
        field, _, direction = query.get("sort", "created_at:-1").partition(":")
        check_users_page(page=query.get("page", 0), per_page=query.get("per_page", 50))
        check_search_engine(query.get("search_engine"))
        page = list_users(
            page=query.get("page", 0),
            per_page=query.get("per_page", 50),
            connection=query.get("connection"),
            email=query.get("email"),
            q=user_filter(query["q"]) if "q" in query else None,
            sort=(field, int(direction)),
            count=query.get("include_totals", False),
        )
        users = [select_fields(user_profile(user), query) for user in page.users]
        if page.total is None:
            return Response(users)
        return Response(
            {
                "start": page.start,
                "limit": page.limit,
                "length": len(users),
                "total": page.total,
                "users": users,
            }
        )


class UserDetailView(ManagementAPIView):
    required_scopes = {"GET": ("read:users",), "PATCH": ("update:users",), "DELETE": ("delete:users",)}

    @extend_schema(
        operation_id="get_users_by_id",
        summary="Get a User",
        parameters=[UserFieldsQuerySerializer, _USER_ID],
        responses={200: UserProfileDoc, **errors(400, 401, 403, 404, 429)},
    )
    def get(self, request: Request, user_id: str) -> Response:
        query = validate_query(UserFieldsQuerySerializer, request.query_params)
        return Response(select_fields(user_profile(get_user(user_id=user_id)), query))

    @extend_schema(
        operation_id="patch_users_by_id",
        summary="Update a User",
        description=(
            "Changing the e-mail, username or phone number to one another user of the connection has is refused "
            "with 400 `auth0_idp_error` and `The specified new email already exists` (`username`, `phone number` "
            "likewise), as Auth0 answers it; creating such a user is a 409 instead. "
            + _METADATA_RULES
            + " The names sent are checked (a `null` removing a key included), and the size after merging. As on "
            "Auth0, one body may not change two of these together: `password` and `email`, `password` and "
            "`email_verified`, `username` and `email`, `username` and `email_verified`, `username` and `password` "
            "(400 `invalid_body`, `Cannot update password and email simultaneously.`)."
        ),
        parameters=[_USER_ID],
        request=UpdateUserRequestSerializer,
        responses={200: UserProfileDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def patch(self, request: Request, user_id: str) -> Response:
        data = validate_payload(UpdateUserRequestSerializer, request.data)
        _refuse_changes_together(data)
        return Response(user_profile(update_user(user_id=user_id, data=data, actor=client_actor(request))))

    @extend_schema(
        operation_id="delete_users_by_id",
        summary="Delete a User",
        parameters=[_USER_ID],
        responses={
            204: OpenApiResponse(description="The user is gone (also when it did not exist)."),
            **errors(401, 403, 404, 429),  # 404: an id the route cannot match (a line break, say)
        },
    )
    def delete(self, request: Request, user_id: str) -> Response:
        delete_user(user_id=user_id, actor=client_actor(request))
        return Response(status=204)


def _refuse_changes_together(data: Mapping[str, Any]) -> None:
    """Auth0's PATCH refuses a body that changes two of ``_NOT_TOGETHER`` at once, with "Cannot update password and
    email simultaneously." and the like (its operation's 400s; Auth0's scripts split such a change in two calls):
    ``PayloadValidationError`` naming the first such pair. A rule of this wire contract only: the admin form and the
    reset page (a password with ``mark_email_as_verified``) change them together through the same service."""
    for first, second in _NOT_TOGETHER:
        if data.get(first) is not None and data.get(second) is not None:
            message = _("Cannot update %(first)s and %(second)s simultaneously.") % {"first": first, "second": second}
            raise PayloadValidationError(message, errors=[FieldError(second, UserErrorCode.CHANGED_TOGETHER, message)])


class UsersByEmailView(ManagementAPIView):
    required_scopes = {"GET": ("read:users",)}

    @extend_schema(
        operation_id="get_users_by_email",
        summary="Search Users by Email",
        parameters=[UsersByEmailQuerySerializer],
        responses={200: UserProfileDoc(many=True), **errors(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = validate_query(UsersByEmailQuerySerializer, request.query_params)
        return Response([select_fields(user_profile(u), query) for u in users_by_email(email=query["email"])])
