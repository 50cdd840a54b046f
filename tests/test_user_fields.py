"""Each fact about a user's fields is declared once (``users.fields``) and everything else reads it."""

from __future__ import annotations

import pytest
from django.db import models

from connections.models import Connection
from connections.serializers import (
    ConnectionChanges,
    CreateConnectionRequestSerializer,
    NewConnection,
    UpdateConnectionRequestSerializer,
)
from users import fields
from users.admin_forms import fields_for
from users.models import User
from users.public_serializers import SignupRequest, SignupRequestSerializer, V1CreateUserSerializer, V1NewUser
from users.serializers import CreateUserRequestSerializer, NewUser, UpdateUserRequestSerializer, UserChanges

SPECS = [value for value in vars(fields).values() if isinstance(value, fields.UserField)]


@pytest.mark.parametrize(
    ("typed", "serializer"),
    [
        (NewUser, CreateUserRequestSerializer),
        (UserChanges, UpdateUserRequestSerializer),
        (SignupRequest, SignupRequestSerializer),
        (V1NewUser, V1CreateUserSerializer),
        (NewConnection, CreateConnectionRequestSerializer),
        (ConnectionChanges, UpdateConnectionRequestSerializer),
    ],
)
def test_each_typed_body_has_exactly_its_schemas_fields(typed, serializer):
    assert set(typed.__annotations__) == set(serializer._declared_fields)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.max_length is not None and s.name != "user_id"], ids=str)
def test_the_model_columns_are_the_declared_limits(spec):
    column = User._meta.get_field(spec.name)
    assert isinstance(column, models.Field)  # a column, not a relation's reverse side
    assert column.max_length == spec.max_length


@pytest.mark.parametrize(
    ("serializer", "name"),
    [
        (CreateUserRequestSerializer, "given_name"),
        (UpdateUserRequestSerializer, "nickname"),
        (SignupRequestSerializer, "username"),
        (V1CreateUserSerializer, "name"),
    ],
)
def test_every_schema_takes_its_text_limits_from_the_declaration(serializer, name):
    field, spec = serializer._declared_fields[name], getattr(fields, name.upper())
    assert (field.min_length, field.max_length, field.pattern) == (spec.min_length, spec.max_length, spec.pattern)


@pytest.mark.parametrize(
    ("strategy", "options", "identifiers"),
    [
        ("auth0", {}, ["email", "password", "email_verified", "verify_email"]),
        ("auth0", {"requires_username": True}, ["email", "password", "username", "email_verified", "verify_email"]),
        ("sms", {}, ["phone_number", "phone_verified"]),
        ("email", {}, ["email", "email_verified", "verify_email"]),
    ],
)
def test_the_admin_shows_the_fields_the_strategy_takes(strategy, options, identifiers):
    connection = Connection(name="c", strategy=strategy, options=options)
    rest = [*fields.PROFILE_FIELDS, *fields.METADATA_FIELDS, "blocked"]
    assert fields_for(connection) == [*identifiers, *rest]
