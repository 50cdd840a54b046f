"""Request schemas of the two non-management entry points, public sign-up and the ``/v1/users`` facade, and the
typed bodies they accept. Each user field is built from its one declaration in ``users.fields``."""

from __future__ import annotations

from typing import Any, Required, TypedDict

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import FieldCode
from core.schema import JSONObjectField, StrictCharField, StrictSerializer, echo, fail
from users.fields import CONNECTION, EMAIL, FAMILY_NAME, GIVEN_NAME, NAME, NICKNAME, PASSWORD, PICTURE, USERNAME
from users.serializers import schema_field

SIGNUP_METADATA_MAX_PROPERTIES = 10
SIGNUP_METADATA_MAX_NAME = 100
SIGNUP_METADATA_MAX_VALUE = 500


class SignupMetadataField(JSONObjectField):
    """Auth0's sign-up limit: at most 10 properties, names up to 100 characters, string values up to 500."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if len(value) > SIGNUP_METADATA_MAX_PROPERTIES:
            raise fail(
                _("Too many properties defined (%(count)s), maximum %(maximum)s")
                % {"count": len(value), "maximum": SIGNUP_METADATA_MAX_PROPERTIES},
                FieldCode.OBJECT_PROPERTIES_MAXIMUM,
            )
        for key, item in value.items():
            if len(key) > SIGNUP_METADATA_MAX_NAME:
                raise fail(
                    _("Property name is too long (%(length)s chars), maximum %(maximum)s: %(name)s")
                    % {"length": len(key), "maximum": SIGNUP_METADATA_MAX_NAME, "name": echo(key)},
                    FieldCode.MAX_LENGTH,
                )
            if not isinstance(item, str):
                raise fail(gettext("Property %(name)s must be a string") % {"name": echo(key)}, FieldCode.INVALID_TYPE)
            if len(item) > SIGNUP_METADATA_MAX_VALUE:
                raise fail(
                    _("Property %(name)s is too long (%(length)s chars), maximum %(maximum)s")
                    % {"name": echo(key), "length": len(item), "maximum": SIGNUP_METADATA_MAX_VALUE},
                    FieldCode.MAX_LENGTH,
                )
        return value


class SignupRequest(TypedDict, total=False):
    """A body ``SignupRequestSerializer`` accepted: the input of ``users.signup.sign_up``."""

    client_id: Required[str]
    connection: Required[str]
    email: str
    password: Required[str]
    username: str
    given_name: str
    family_name: str
    name: str
    nickname: str
    picture: str
    user_metadata: dict[str, str]


class SignupRequestSerializer(StrictSerializer[SignupRequest]):
    """``POST /dbconnections/signup``: Auth0's Authentication API body for database connections."""

    bind_once = True  # see core.schema.validate_payload

    client_id = StrictCharField(
        min_length=1, max_length=64, required=True, help_text=_("The client_id of your client.")
    )
    connection = schema_field(
        CONNECTION, required=True, help_text=_("The name of the database configured to your client.")
    )
    email = schema_field(EMAIL, help_text=_("The user's email address."))
    password = schema_field(PASSWORD, required=True, help_text=_("The user's desired password."))
    username = schema_field(USERNAME)
    given_name = schema_field(GIVEN_NAME)
    family_name = schema_field(FAMILY_NAME)
    name = schema_field(NAME)
    nickname = schema_field(NICKNAME)
    picture = schema_field(PICTURE)
    user_metadata = SignupMetadataField(
        max_depth=1,
        help_text=_(
            "The user metadata to be associated with the user: at most ten properties, names of "
            "at most 100 characters, values strings of at most 500 characters."
        ),
    )


class V1NewUser(TypedDict, total=False):
    """A body ``V1CreateUserSerializer`` accepted."""

    email: Required[str]
    password: Required[str]
    name: str


class V1CreateUserSerializer(StrictSerializer[V1NewUser]):
    """``POST /v1/users``: e-mail, password and an optional name, nothing else."""

    bind_once = True  # see core.schema.validate_payload

    email = schema_field(EMAIL, required=True, help_text=_("The user's unique email address."))
    password = schema_field(PASSWORD, required=True, help_text=_("A strong password for the new account."))
    name = schema_field(NAME)
