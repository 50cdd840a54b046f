"""The schema of one imported user: Auth0's bulk-import user object, checked with the API's own fields.

Types, formats and lengths are the ones ``POST /api/v2/users`` enforces (the same field classes), so a user that
the API would refuse is refused on import too. Auth0's import schema adds ``password_hash`` and
``custom_password_hash`` (validated and bounded by ``users.credentials.hashes``); ``password`` (a plain password,
hashed on import) is this service's extension. Metadata follows Auth0's naming and size rules (``users.metadata``),
as it does through the API. Errors are Auth0's job error objects ``{code, message, path}``;
a refused user is reported (``RejectedUser``) without its secrets (``reported_user``, ``redact_errors``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from core import messages
from core.errors import FieldCode
from core.schema import (
    JSONObjectField,
    StrictCharField,
    StrictSerializer,
    echo,
    json_type,
    storable_json,
    storable_text,
    text_fault,
)
from users.credentials.hashes import HashFormatError, normalize_custom_password_hash, normalize_password_hash
from users.errors import UserErrorCode
from users.fields import EMAIL, METADATA_FIELDS
from users.metadata import InvalidMetadata, check_metadata_fields
from users.serializers import CreateUserRequestSerializer, UserInput, schema_field

JobError = dict[str, str]

# The ways a password may arrive; at most one per user.
SECRET_FIELDS = ("password", "password_hash", "custom_password_hash")

# Deepest nesting (the user object is level 1) an imported user may have: well beyond what the fields accept
# (metadata: 10 levels below its key), so a valid user never meets it, and far below what a database's JSON
# (SQLite: 1,000 levels) or Python's json module (a RecursionError) would refuse.
MAX_USER_DEPTH = 32

# What makes a key password-like, for ``is_secret_key``: text found anywhere in the key's letters and digits,
# and words that must stand alone (as a substring, "pin" is in "shipping" and "otp" in "footprint").
_SECRET_KEY_PARTS = (
    "pass",  # password, passwd, pass_word, passphrase, passcode; also passport, bypass: hidden too
    "pwd",
    "secret",
    "hash",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "credential",
    "mfafactors",
)
_SECRET_KEY_WORDS = frozenset({"pin", "otp", "totp", "hotp", "key"})
# Words of a key: runs of letters and digits, camelCase split (apiKey: api, key; userPIN: user, pin).
_KEY_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[^\W_A-Za-z]+")

# Codes whose messages never quote the value (types, lengths, names of keys): they may stay on an error about a
# value under a password-like key; any other code's message is replaced there (see ``redact_errors``).
_VALUE_FREE_CODES = frozenset(
    {
        FieldCode.INVALID_TYPE,
        FieldCode.MIN_LENGTH,
        FieldCode.MAX_LENGTH,
        FieldCode.OBJECT_REQUIRED,
        FieldCode.OBJECT_ADDITIONAL_PROPERTIES,
        UserErrorCode.NOT_PASSED,
        UserErrorCode.INVALID_FIELD_NAME,  # quotes the path of a key, never a value
        UserErrorCode.METADATA_TOO_LARGE,
        UserErrorCode.MFA_FACTORS_FAILED,
        UserErrorCode.PASSWORD_STRENGTH,
        FieldCode.MAX_DEPTH,
        FieldCode.INVALID_NUMBER,
        FieldCode.INVALID_CHARACTERS,
    }
)


_API = CreateUserRequestSerializer._declared_fields


class ImportUserSerializer(StrictSerializer):
    # The API's own field objects (DRF binds a copy per serializer), so a rule changed there changes here.
    email = schema_field(EMAIL, required=True)  # required here, optional in the API (an sms user has none)
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


def is_secret_key(key: Any) -> bool:
    """Whether a key of an imported user holds a secret that no error report may keep, at any depth.

    The rule: the key is put in Unicode's compatibility form (NFKC) and cut into words (runs of letters and
    digits, camelCase split: ``apiKey`` is ``api``, ``Key``); lower-cased and run together, the words contain
    ``pass``, ``pwd``, ``secret``, ``hash``, ``token``, ``apikey``, ``privatekey``, ``accesskey``,
    ``credential`` or ``mfafactors``, or one of them is ``pin``, ``otp``, ``totp``, ``hotp`` or ``key``. So
    ``password``, ``Pass-Word``, ``pass_word``, ``passphrase``, ``custom_password_hash``, ``api_key``,
    ``apiKey``, ``private_key``, ``userPIN`` and an MFA factor's ``secret`` are secrets; ``shipping``,
    ``footprint`` and ``monkey`` are not. It errs on the side of hiding (``passport`` and ``public_key`` go
    too): a report may lose a harmless key, never show a secret (the developer guide: plaintext passwords and
    secrets are never stored, logged or echoed, including inside error reports of imports and jobs).
    """
    if not isinstance(key, str):
        return False
    words = [word.lower() for word in _KEY_WORD.findall(unicodedata.normalize("NFKC", key))]
    joined = "".join(words)
    return any(part in joined for part in _SECRET_KEY_PARTS) or not _SECRET_KEY_WORDS.isdisjoint(words)


def _walk(value: Any, path: str, depth: int) -> Iterator[tuple[str, Any, int]]:
    """``(path, value, depth)`` of every key and value of ``value`` down to ``MAX_USER_DEPTH``, iteratively (a
    hostile file nests thousands of levels). A key is given as a value of its own, at its parent's path."""
    stack = [(path, value, depth)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if depth > MAX_USER_DEPTH:
            continue
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                yield path, key, depth
                stack.append((_join(path, key), item, depth + 1))
        elif isinstance(value, list):
            stack.extend((_join(path, str(i)), item, depth + 1) for i, item in reversed(list(enumerate(value))))


def _join(path: str, key: Any) -> str:
    name = storable_text(str(key))
    return f"{path}.{name}" if path else name


def check_storable(record: Any) -> list[JobError]:
    """What no database can store or no JSON column hold, anywhere in ``record``: at most one error per kind.

    ``MAX_DEPTH`` nesting beyond ``MAX_USER_DEPTH`` levels, ``INVALID_NUMBER`` a number out of range (``1e400``
    reads as infinity, which JSON cannot write), ``INVALID_CHARACTERS`` a NUL or a lone surrogate in a key or a
    text (``core.schema.text_fault``, the rule of every API input: PostgreSQL refuses NUL, and no lone
    surrogate encodes as UTF-8). Auth0 documents no bulk-import code for these; the codes are the API's own.
    """
    if storable_json(record, MAX_USER_DEPTH):  # the common case, without a path built for every value
        return []
    found: dict[str, JobError] = {}
    for path, value, depth in _walk(record, "", 1):
        if depth > MAX_USER_DEPTH and isinstance(value, dict | list):
            found.setdefault(FieldCode.MAX_DEPTH, _error(FieldCode.MAX_DEPTH, messages.too_deep(MAX_USER_DEPTH), path))
        elif isinstance(value, float) and not math.isfinite(value):
            found.setdefault(FieldCode.INVALID_NUMBER, _error(FieldCode.INVALID_NUMBER, messages.not_finite(), path))
        elif isinstance(value, str) and FieldCode.INVALID_CHARACTERS not in found:
            fault = text_fault(value)
            if fault is not None:
                found["INVALID_CHARACTERS"] = _error(FieldCode.INVALID_CHARACTERS, fault, path)
    return list(found.values())


def reported_user(raw: Any) -> tuple[Any, list[str]]:
    """A refused user as an error report may keep it, and the paths of what was removed.

    A user that is not an object is reported as ``{}`` (its error, ``INVALID_TYPE``, says what it was): a line
    that is only a string may be a password. Every password-like key (``is_secret_key``) goes, at any depth;
    what a database could not store is made storable, since the report describes input that was refused, not
    data that was imported: nesting beyond ``MAX_USER_DEPTH`` and numbers out of range become ``null``, NUL and
    lone surrogates are written as escapes (``core.schema.storable_text``).
    """
    if not isinstance(raw, dict):
        return {}, []
    removed: list[str] = []

    def copy(value: Any, path: str, depth: int) -> Any:
        if isinstance(value, dict | list) and depth > MAX_USER_DEPTH:
            return None
        if isinstance(value, dict):
            kept = {}
            for key, item in value.items():
                if is_secret_key(key):
                    removed.append(_join(path, key))
                else:
                    kept[storable_text(str(key))] = copy(item, _join(path, key), depth + 1)
            return kept
        if isinstance(value, list):
            return [copy(item, _join(path, str(i)), depth + 1) for i, item in enumerate(value)]
        if isinstance(value, str):
            return storable_text(value)
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return copy(raw, "", 1), removed


def redact_errors(errors: list[JobError]) -> list[JobError]:
    """Errors that quote nothing found under a password-like key.

    An error whose path passes through such a key keeps its message only when its code's messages never quote
    the value (types, lengths, key names); otherwise the message says what kind of error it was, and no more.
    """
    out = []
    for error in errors:
        if any(is_secret_key(part) for part in error.get("path", "").split(".")) and (
            error["code"] not in _VALUE_FREE_CODES
        ):
            message = _("The value is not valid (%(code)s); it is not shown because it is a secret.") % {
                "code": error["code"]
            }
            error = {**error, "message": message}
        out.append(error)
    return out


class ImportedUser(UserInput, total=False):
    """An imported user that passed ``ImportUserValidator``: a new user's fields and the hash it may bring."""

    password_hash: str
    custom_password_hash: dict[str, Any]


class ImportUserValidator:
    """Checks imported users one at a time with fields bound once.

    A DRF serializer binds deep copies of its fields on every instantiation (about 0.2 ms), and iterates all
    seventeen fields for every record; at a million users that is the whole budget. This runs the very same
    field objects, but only on the keys a record has, with the required and unknown keys checked directly.
    """

    def __init__(self) -> None:
        # A plain dict of the bound fields: DRF's BindingDict answers ``in`` through the Mapping ABC, slowly.
        self.fields = dict(ImportUserSerializer().fields)
        # DRF's run_validation adds nothing to a present, non-null value of a field without validators but
        # calls: those fields go straight to to_internal_value, which does all the checking.
        self._direct = {name for name, f in self.fields.items() if not f.validators}

    def validate(self, record: Any) -> tuple[ImportedUser, list[JobError]]:
        if not isinstance(record, Mapping):
            return ImportedUser(), [
                _error(FieldCode.INVALID_TYPE, messages.invalid_type("object", json_type(record)), "")
            ]
        unstorable = check_storable(record)
        if unstorable:  # the fields would only repeat these, or trip over what they cannot handle
            return ImportedUser(), unstorable
        data: dict[str, Any] = {}
        errors: list[JobError] = []
        unknown = [str(key) for key in record if key not in self.fields]
        if unknown:
            message = messages.additional_properties(echo(",".join(unknown)))
            errors.append(_error(FieldCode.OBJECT_ADDITIONAL_PROPERTIES, message, ""))
        if "email" not in record:
            errors.append(_error(FieldCode.OBJECT_REQUIRED, messages.missing_property("email"), "email"))
        for key, value in record.items():
            if key in _HASHES:
                self._hash(key, value, data, errors)
            elif key == "mfa_factors":
                # Auth0's code for MFA enrolments that could not be made; here none ever can.
                message = _("MFA enrolments cannot be imported: this service has no multi-factor authentication.")
                errors.append(_error(UserErrorCode.MFA_FACTORS_FAILED, message, key))
            elif key in self.fields:
                field = self.fields[key]
                try:
                    if value is not None and key in self._direct:
                        data[key] = field.to_internal_value(value)
                    else:
                        data[key] = field.run_validation(value)
                except serializers.ValidationError as exc:
                    errors.extend(_field_errors(exc.detail, key))
        if not any(error["path"].split(".")[0] in METADATA_FIELDS for error in errors):
            # Auth0's metadata rules (users.metadata), once the fields are objects: a reserved app_metadata name is
            # NOT_PASSED, as Auth0's import reports its schema's "not" rules.
            try:
                check_metadata_fields(data)
            except InvalidMetadata as exc:
                errors.append(_error(exc.field_code, exc.message, exc.path))
        given = [key for key in SECRET_FIELDS if key in record]
        if len(given) > 1:
            message = _("Only one of password, password_hash and custom_password_hash may be given.")
            errors.append(_error(UserErrorCode.NOT_PASSED, message, given[1]))
        return cast(ImportedUser, data), errors  # the fields' values, by the fields' own names

    @staticmethod
    def _hash(key: str, value: Any, data: dict[str, Any], errors: list[JobError]) -> None:
        expected = "string" if key == "password_hash" else "object"
        if json_type(value) != expected:
            errors.append(_error(FieldCode.INVALID_TYPE, messages.invalid_type(expected, json_type(value)), key))
            return
        try:
            data[key] = _HASHES[key](value)
        except HashFormatError as exc:
            errors.append(_error(exc.code, exc.message, exc.path))


@dataclass
class RejectedUser:
    """A refused user: its position in the file, the user as read (``None`` for an unreadable line) and
    Auth0's error objects, which never quote a secret (``redact_errors``)."""

    index: int
    raw: Any
    errors: list[JobError]

    @cached_property
    def _report(self) -> tuple[Any, list[str]]:
        return reported_user(self.raw)

    @property
    def user(self) -> Any:
        """The user as an error report may keep it: no password-like key at any depth, nothing a database
        cannot store (``reported_user``); ``{}`` for an unreadable line or a user that is
        not an object."""
        return self._report[0]

    @property
    def removed(self) -> list[str]:
        """The paths of the password-like keys left out of ``user``."""
        return self._report[1]

    def as_auth0(self) -> dict[str, Any]:
        """Auth0's job error entry ``{user, errors}``."""
        return {"user": self.user, "errors": self.errors}
