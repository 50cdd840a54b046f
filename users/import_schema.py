"""The schema of one imported user: Auth0's bulk-import user object, checked with the API's own fields.

Types, formats and lengths are the ones ``POST /api/v2/users`` enforces (the same field classes), so a user that
the API would refuse is refused on import too. Auth0's import schema adds ``password_hash`` and
``custom_password_hash`` (validated and bounded by ``users.password_hashes``); ``password`` (a plain password,
hashed on import) is this service's extension. Errors are Auth0's job error objects ``{code, message, path}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from config import messages
from config.schema import JSONObjectField, StrictCharField, StrictSerializer, echo, json_type
from users.password_hashes import HashFormatError, normalize_custom_password_hash, normalize_password_hash
from users.serializers import CreateUserRequestSerializer, EmailAddressField

JobError = dict[str, str]

# The ways a password may arrive; at most one per user.
SECRET_FIELDS = ("password", "password_hash", "custom_password_hash")


_API = CreateUserRequestSerializer._declared_fields


class ImportUserSerializer(StrictSerializer):
    # The API's own field objects (DRF binds a copy per serializer), so a rule changed there changes here.
    email = EmailAddressField(required=True, help_text=gettext_lazy("The user's email."))
    email_verified = _API["email_verified"]
    phone_number = _API["phone_number"]
    phone_verified = _API["phone_verified"]
    user_id = _API["user_id"]
    username = _API["username"]
    given_name = _API["given_name"]
    family_name = _API["family_name"]
    name = _API["name"]
    nickname = _API["nickname"]
    picture = _API["picture"]
    blocked = _API["blocked"]
    app_metadata = _API["app_metadata"]
    user_metadata = _API["user_metadata"]
    password = _API["password"]
    password_hash = StrictCharField(help_text=gettext_lazy("A bcrypt ($2a$/$2b$) or Django password hash."))
    custom_password_hash = JSONObjectField(
        max_depth=4, help_text=gettext_lazy("A password hash of another algorithm, as Auth0 describes it.")
    )
    mfa_factors = serializers.ListField(
        required=False, help_text=gettext_lazy("MFA enrolments: not supported by this service.")
    )


_HASHES: dict[str, Callable[[Any], Any]] = {
    "password_hash": normalize_password_hash,
    "custom_password_hash": normalize_custom_password_hash,
}


def _error(code: str, message: str, path: str) -> JobError:
    return {"code": code, "message": message, "path": path}


def _field_errors(detail: Any, path: str) -> list[JobError]:
    if isinstance(detail, dict):
        return [e for key, value in detail.items() for e in _field_errors(value, f"{path}.{key}")]
    if isinstance(detail, list):
        return [e for item in detail for e in _field_errors(item, path)]
    return [_error(str(getattr(detail, "code", "INVALID")), str(detail), path)]


class ImportUserValidator:
    """Checks imported users one at a time with fields bound once.

    A DRF serializer binds deep copies of its fields on every instantiation (about 0.2 ms), and iterates all
    seventeen fields for every record; at a million users that is the whole budget. This runs the very same
    field objects, but only on the keys a record has, with the required and unknown keys checked directly.
    """

    def __init__(self) -> None:
        self.fields = ImportUserSerializer().fields
        # DRF's run_validation adds nothing to a present, non-null value of a field without validators but
        # calls: those fields go straight to to_internal_value, which does all the checking.
        self._direct = {name for name, f in self.fields.items() if not f.validators}

    def validate(self, record: Any) -> tuple[dict[str, Any], list[JobError]]:
        if not isinstance(record, Mapping):
            return {}, [_error("INVALID_TYPE", messages.invalid_type("object", json_type(record)), "")]
        data: dict[str, Any] = {}
        errors: list[JobError] = []
        unknown = [str(key) for key in record if key not in self.fields]
        if unknown:
            message = messages.additional_properties(echo(",".join(unknown)))
            errors.append(_error("OBJECT_ADDITIONAL_PROPERTIES", message, ""))
        if "email" not in record:
            errors.append(_error("OBJECT_REQUIRED", messages.missing_property("email"), "email"))
        for key, value in record.items():
            if key in _HASHES:
                self._hash(key, value, data, errors)
            elif key == "mfa_factors":
                message = _("MFA enrolments cannot be imported: this service has no multi-factor authentication.")
                errors.append(_error("NOT_SUPPORTED", message, key))
            elif key in self.fields:
                field = self.fields[key]
                try:
                    if value is not None and key in self._direct:
                        data[key] = field.to_internal_value(value)
                    else:
                        data[key] = field.run_validation(value)
                except serializers.ValidationError as exc:
                    errors.extend(_field_errors(exc.detail, key))
        given = [key for key in SECRET_FIELDS if key in record]
        if len(given) > 1:
            message = _("Only one of password, password_hash and custom_password_hash may be given.")
            errors.append(_error("NOT_PASSED", message, given[1]))
        return data, errors

    @staticmethod
    def _hash(key: str, value: Any, data: dict[str, Any], errors: list[JobError]) -> None:
        expected = "string" if key == "password_hash" else "object"
        if json_type(value) != expected:
            errors.append(_error("INVALID_TYPE", messages.invalid_type(expected, json_type(value)), key))
            return
        try:
            data[key] = _HASHES[key](value)
        except HashFormatError as exc:
            errors.append(_error(exc.code, exc.message, exc.path))
