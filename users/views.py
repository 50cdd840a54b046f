"""The users endpoints of the management API: thin views over ``users.services`` and ``users.selectors``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rest_framework.request import Request
from rest_framework.response import Response

from config.actors import Actor, request_metadata
from config.api import ManagementAPIView
from config.schema import validate_payload, validate_query
from users.profile import user_profile
from users.selectors import get_user, list_users, users_by_email
from users.serializers import (
    CreateUserRequestSerializer,
    ListUsersQuerySerializer,
    UpdateUserRequestSerializer,
    UserFieldsQuerySerializer,
    UsersByEmailQuerySerializer,
)
from users.services import create_user, delete_user, update_user


def client_actor(request: Request) -> Actor:
    ip, agent = request_metadata(request)
    return Actor(kind="client", id=request.auth.client_id, ip=ip, user_agent=agent)


def select_fields(profile: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
    """Auth0's ``fields``/``include_fields``: keep (or drop) the named top-level fields."""
    names = {name.strip() for name in query.get("fields", "").split(",") if name.strip()}
    if not names:
        return profile
    include = query.get("include_fields", True)
    return {key: value for key, value in profile.items() if (key in names) == include}


class UserCollectionView(ManagementAPIView):
    required_scopes = {"POST": ("create:users",), "GET": ("read:users",)}

    def post(self, request: Request) -> Response:
        data = validate_payload(CreateUserRequestSerializer, request.data)
        user = create_user(data=data, actor=client_actor(request))
        location = f"/api/v2/users/{quote(user.user_id, safe='')}"
        return Response(user_profile(user), status=201, headers={"Location": location})

    def get(self, request: Request) -> Response:
        query = validate_query(ListUsersQuerySerializer, request.query_params)
        field, _, direction = query.get("sort", "created_at:-1").partition(":")
        page = list_users(
            page=query.get("page", 0),
            per_page=query.get("per_page", 50),
            connection=query.get("connection"),
            email=query.get("email"),
            sort=(field, int(direction)),
        )
        users = [select_fields(user_profile(user), query) for user in page.users]
        if not query.get("include_totals", False):
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

    def get(self, request: Request, user_id: str) -> Response:
        query = validate_query(UserFieldsQuerySerializer, request.query_params)
        return Response(select_fields(user_profile(get_user(user_id=user_id)), query))

    def patch(self, request: Request, user_id: str) -> Response:
        data = validate_payload(UpdateUserRequestSerializer, request.data)
        return Response(user_profile(update_user(user_id=user_id, data=data, actor=client_actor(request))))

    def delete(self, request: Request, user_id: str) -> Response:
        delete_user(user_id=user_id, actor=client_actor(request))
        return Response(status=204)


class UsersByEmailView(ManagementAPIView):
    required_scopes = {"GET": ("read:users",)}

    def get(self, request: Request) -> Response:
        query = validate_query(UsersByEmailQuerySerializer, request.query_params)
        return Response([select_fields(user_profile(u), query) for u in users_by_email(email=query["email"])])
