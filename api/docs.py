"""Response bodies as documentation serializers (never used to render): the OpenAPI document shows each
success body and each error envelope exactly as the views and exception handlers write them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers as s

from core.schema import StrictSerializer


class FieldErrorDoc(s.Serializer):
    field = s.CharField(allow_null=True, help_text="The property at fault (dotted path), or null for the body.")
    code = s.CharField(help_text="Stable code: z-schema's (MAX_LENGTH, FORMAT, …) or the rule's.")
    message = s.CharField()


class ErrorEnvelopeDoc(s.Serializer):
    statusCode = s.IntegerField()
    error = s.CharField(help_text="HTTP reason phrase.")
    message = s.CharField()
    errorCode = s.CharField(required=False)
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.errors.
    errors = FieldErrorDoc(many=True)  # type: ignore[assignment]


class IdentityDoc(s.Serializer):
    connection = s.CharField()
    user_id = s.CharField()
    provider = s.CharField()
    isSocial = s.BooleanField()


class UserProfileDoc(s.Serializer):
    user_id = s.CharField(required=False)
    email = s.EmailField(required=False)
    email_verified = s.BooleanField(required=False)
    username = s.CharField(required=False)
    phone_number = s.CharField(required=False)
    phone_verified = s.BooleanField(required=False)
    created_at = s.DateTimeField(required=False)
    updated_at = s.DateTimeField(required=False)
    identities = IdentityDoc(many=True, required=False)
    app_metadata = s.DictField(required=False)
    user_metadata = s.DictField(required=False)
    picture = s.CharField(required=False)
    name = s.CharField(required=False)
    nickname = s.CharField(required=False)
    given_name = s.CharField(required=False)
    family_name = s.CharField(required=False)
    blocked = s.BooleanField(required=False)
    last_ip = s.CharField(required=False, help_text="Last IP address from which this user logged in.")
    last_login = s.DateTimeField(required=False, help_text="Last date and time this user logged in.")
    logins_count = s.IntegerField(
        required=False,
        help_text="Total number of logins this user has performed (a blocked user's correct password counts too). "
        "The three login fields are left out until the first login.",
    )
    last_password_reset = s.DateTimeField(
        required=False,
        help_text="Last date and time this user's password was changed; left out until the first change.",
    )


class UserPageDoc(StrictSerializer):
    start = s.IntegerField()
    limit = s.IntegerField()
    length = s.IntegerField()
    total = s.IntegerField()
    users = UserProfileDoc(many=True)


class ConnectionDoc(s.Serializer):
    id = s.CharField(required=False)
    name = s.CharField(required=False)
    display_name = s.CharField(required=False, help_text="Left out until one is given.")
    strategy = s.CharField(required=False)
    options = s.DictField(required=False)
    enabled_clients = s.ListField(child=s.CharField(), required=False)
    realms = s.ListField(child=s.CharField(), required=False)
    is_domain_connection = s.BooleanField(required=False)
    metadata = s.DictField(child=s.CharField(allow_null=True), required=False, help_text="Left out until given.")


class ConnectionPageDoc(StrictSerializer):
    start = s.IntegerField()
    limit = s.IntegerField()
    total = s.IntegerField()
    connections = ConnectionDoc(many=True)


class ConnectionCheckpointDoc(StrictSerializer):
    connections = ConnectionDoc(many=True)
    next = s.CharField(required=False, help_text="Pass as `from` for the next page; absent on the last one.")


class LogDoc(s.Serializer):
    log_id = s.CharField(required=False)
    date = s.DateTimeField(required=False)
    type = s.CharField(required=False)
    description = s.CharField(required=False)
    client_id = s.CharField(required=False)
    ip = s.CharField(required=False)
    user_agent = s.CharField(required=False)
    user_id = s.CharField(required=False)
    user_name = s.CharField(required=False)
    connection = s.CharField(required=False)
    connection_id = s.CharField(required=False)
    details = s.DictField(required=False)


class LogPageDoc(StrictSerializer):
    start = s.IntegerField()
    limit = s.IntegerField()
    length = s.IntegerField()
    total = s.IntegerField()
    logs = LogDoc(many=True)


class JobDoc(s.Serializer):
    type = s.CharField()
    status = s.CharField()
    created_at = s.DateTimeField()
    id = s.CharField()


class TokenRequestDoc(s.Serializer):
    grant_type = s.ChoiceField(
        choices=["client_credentials", "password", "http://auth0.com/oauth/grant-type/password-realm"]
    )
    client_id = s.CharField(required=False, help_text="Or in HTTP Basic.")
    client_secret = s.CharField(required=False, help_text="Or in HTTP Basic.")
    audience = s.CharField(
        required=False,
        help_text="Client credentials: the management API (the default). Password grants: $AUTH_ISSUER/userinfo "
        "(the default), the management API audience (whose bearer authentication refuses user tokens) or one of "
        "PASSWORD_GRANT_AUDIENCES.",
    )
    scope = s.CharField(
        required=False,
        help_text="Space-separated; narrows the granted scopes. Password grants grant only openid, profile and "
        "email (default openid).",
    )
    username = s.CharField(required=False, help_text="Password grants: the user's e-mail or username.")
    password = s.CharField(required=False, help_text="Password grants: the user's password.")
    realm = s.CharField(
        required=False,
        help_text="Password grants: the database connection, enabled for the client. Default: DEFAULT_DIRECTORY.",
    )
    organization = s.CharField(required=False, allow_null=True, help_text="Only null is accepted.")


class TokenResponseDoc(s.Serializer):
    access_token = s.CharField()
    token_type = s.CharField()
    expires_in = s.IntegerField()
    scope = s.CharField(required=False)


class OAuthErrorDoc(s.Serializer):
    error = s.CharField()
    error_description = s.CharField()


class JwkDoc(s.Serializer):
    kty = s.CharField()
    kid = s.CharField()
    alg = s.CharField()
    use = s.CharField()
    n = s.CharField()
    e = s.CharField()


class JwksDoc(s.Serializer):
    keys = JwkDoc(many=True)


class SignupResponseDoc(s.Serializer):
    _id = s.CharField()
    email = s.EmailField(required=False)
    email_verified = s.BooleanField()
    username = s.CharField(required=False)
    given_name = s.CharField(required=False)
    family_name = s.CharField(required=False)
    name = s.CharField(required=False)
    nickname = s.CharField(required=False)
    picture = s.CharField(required=False)


class SignupErrorDoc(s.Serializer):
    name = s.CharField(help_text="BadRequestError, PasswordStrengthError, …")
    code = s.CharField()
    description = s.JSONField(help_text="A sentence, or password-sheriff's rules for PasswordStrengthError.")
    message = s.CharField(required=False)
    policy = s.CharField(required=False)
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.errors.
    errors = FieldErrorDoc(many=True, required=False)  # type: ignore[assignment]
    statusCode = s.IntegerField()


class V1UserDoc(s.Serializer):
    id = s.CharField()
    email = s.EmailField()
    name = s.CharField()
    status = s.ChoiceField(choices=["active", "blocked"])
    created_at = s.DateTimeField()
    updated_at = s.DateTimeField()


class V1ErrorDoc(s.Serializer):
    error = s.CharField()
    message = s.CharField()
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.errors.
    errors = FieldErrorDoc(many=True, required=False)  # type: ignore[assignment]


# Every request with a body can also meet the body guards: no length (411), too long (413), a wrong type or any
# content coding but identity (415, api.middleware.ContentEncodingMiddleware).
BODY_ERRORS = (411, 413, 415)


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The management envelope for each listed status."""
    return {status: OpenApiResponse(ErrorEnvelopeDoc) for status in statuses}


USERS_LIST = PolymorphicProxySerializer(
    component_name="UserList",
    serializers=[UserProfileDoc(many=True), UserPageDoc],
    resource_type_field_name=None,
    many=False,
)
CONNECTIONS_LIST = PolymorphicProxySerializer(
    component_name="ConnectionList",
    serializers=[ConnectionDoc(many=True), ConnectionPageDoc, ConnectionCheckpointDoc],
    resource_type_field_name=None,
    many=False,
)
LOGS_LIST = PolymorphicProxySerializer(
    component_name="LogList", serializers=[LogDoc(many=True), LogPageDoc], resource_type_field_name=None, many=False
)


class TicketDoc(s.Serializer):
    ticket = s.CharField(help_text="The ticket's URL: give it to the user (no e-mail is sent).")
