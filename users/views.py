"""The users endpoints of the management API: thin views over ``users.services``."""

from __future__ import annotations

from urllib.parse import quote

from rest_framework.request import Request
from rest_framework.response import Response

from config.actors import Actor, request_metadata
from config.api import ManagementAPIView
from config.schema import validate_payload
from users.profile import user_profile
from users.serializers import CreateUserRequestSerializer
from users.services import create_user


def client_actor(request: Request) -> Actor:
    ip, agent = request_metadata(request)
    return Actor(kind="client", id=request.auth.client_id, ip=ip, user_agent=agent)


class UserCollectionView(ManagementAPIView):
    required_scopes = {"POST": ("create:users",)}

    def post(self, request: Request) -> Response:
        data = validate_payload(CreateUserRequestSerializer, request.data)
        user = create_user(data=data, actor=client_actor(request))
        location = f"/api/v2/users/{quote(user.user_id, safe='')}"
        return Response(user_profile(user), status=201, headers={"Location": location})
