"""Imported password hashes: validation (for bulk import) and verification (for the login check).

Two inputs, both stored as they arrive once this module has accepted them:

* ``password_hash``: bcrypt ``$2a$``/``$2b$`` (Auth0's rule), or, as our documented extension, one of Django's
  own stored formats (``pbkdf2_sha256``, ``pbkdf2_sha1``, ``argon2``, ``bcrypt_sha256``, ``bcrypt``, ``scrypt``
  and the salted legacy ``md5``/``sha1``). Django formats are verified with Django's hashers, instantiated
  here explicitly so ``settings.PASSWORD_HASHERS`` plays no part.
* ``custom_password_hash``: Auth0's object (``algorithm``, ``hash``, ``salt``, ``password``, ``keylen``,
  ``cost``, ``blockSize``, ``parallelization``), with ``additionalProperties: false`` at every level, declared
  with the API's strict fields (``CustomPasswordHashSerializer``).

The string formats (bcrypt, argon2 PHC, RFC 2307 ``{SCHEME}``, Auth0's ``$pbkdf2-<digest>$i=…,l=…``, Django's)
are parsed here: the parsers of passlib's maintained fork (libpass) and argon2-cffi's ``extract_parameters`` were
tried and are laxer than these bounds need (an ``{SHA}`` digest of 3 bytes, a 3-byte argon2 digest, upper-case
LDAP schemes only), and Auth0's pbkdf2 string is not passlib's. Verification uses bcrypt, argon2-cffi, hashlib
and Django's hashers.

Every cost parameter is bounded (bcrypt cost 15, PBKDF2 10,000,000 iterations, 1 GiB of memory for argon2 and
scrypt, small time cost and parallelism), so a hostile import file cannot make one login stall a worker.
Digests the platform lacks (OpenSSL 3 often has no md4 or whirlpool) are refused here, not at login.

Errors are ``HashFormatError`` with Auth0's bulk-import job codes (``FORMAT``, ``INVALID_TYPE``,
``ENUM_MISMATCH``, ``OBJECT_REQUIRED``, ``OBJECT_ADDITIONAL_PROPERTIES``, ``MAXIMUM``, ``MINIMUM``,
``PATTERN``, ``MAX_LENGTH``, ``MIN_LENGTH``), a dotted ``path`` and z-schema's wording. Messages never quote
hash, salt or key material. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from argon2 import low_level as argon2_low_level
from argon2.exceptions import VerificationError as Argon2VerificationError
from django.contrib.auth import hashers as django_hashers
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import Field

from core import messages
from core.errors import FieldCode
from core.hashing import bcrypt_verify
from core.schema import StrictCharField, StrictIntegerField, StrictSerializer, echo, fail, json_type

logger = logging.getLogger(__name__)

ALGORITHMS = ("argon2", "bcrypt", "hmac", "ldap", "md4", "md5", "sha1", "sha256", "sha512", "pbkdf2", "scrypt")
ENCODINGS = ("base64", "hex", "utf8")
DIGESTS = ("md4", "md5", "ripemd160", "sha1", "sha224", "sha256", "sha384", "sha512", "whirlpool")
PASSWORD_ENCODINGS = ("ascii", "utf8", "utf16le", "ucs2", "latin1", "binary")
SALT_POSITIONS = ("prefix", "suffix")

# Bounds: what one password check may cost at most.
MIN_BCRYPT_COST = 4
MAX_BCRYPT_COST = 15
MAX_PBKDF2_ITERATIONS = 10_000_000
MAX_MEMORY_BYTES = 1 << 30  # 1 GiB, for argon2 (m is in KiB) and scrypt (128 * N * r bytes)
MAX_ARGON2_MEMORY_KIB = MAX_MEMORY_BYTES // 1024
MAX_ARGON2_TIME_COST = 10
MAX_PARALLELISM = 16
MAX_SCRYPT_COST = 1 << 20
MAX_SCRYPT_BLOCK_SIZE = 32
MAX_KEY_LENGTH = 1024  # derived key length in bytes (pbkdf2 ``l``, scrypt ``keylen``)
MAX_VALUE_LENGTH = 1024  # characters of a hash, salt or key value
MAX_PASSWORD_HASH_LENGTH = 255  # the column's size

# Auth0's custom_password_hash defaults.
PBKDF2_DEFAULT_ITERATIONS = 100_000
PBKDF2_DEFAULT_KEY_LENGTH = 64
SCRYPT_DEFAULT_COST = 16_384
SCRYPT_DEFAULT_BLOCK_SIZE = 8
SCRYPT_DEFAULT_PARALLELIZATION = 1

_DIGEST_SIZES = {
    "md4": 16,
    "md5": 16,
    "ripemd160": 20,
    "sha1": 20,
    "sha224": 28,
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "whirlpool": 64,
}
_LDAP_SCHEMES = {
    "MD5": ("md5", False),
    "SMD5": ("md5", True),
    "SHA": ("sha1", False),
    "SSHA": ("sha1", True),
    "SHA256": ("sha256", False),
    "SSHA256": ("sha256", True),
    "SHA512": ("sha512", False),
    "SSHA512": ("sha512", True),
}
# Algorithms whose whole hash is one self-describing string: hash.encoding utf8, no separate salt.
_STRING_ALGORITHMS = ("argon2", "bcrypt", "ldap", "pbkdf2")
# The scheme name of a bare ``$2a$``/``$2b$`` hash (Django's own ``bcrypt$...`` format is "bcrypt").
_PLAIN_BCRYPT = "$2"
_DIGEST_ALGORITHMS = ("md4", "md5", "sha1", "sha256", "sha512")

_BCRYPT = re.compile(r"\$(2[aby])\$(\d\d)\$[./A-Za-z0-9]{53}")
_B64 = r"[A-Za-z0-9+/]+"
_ARGON2 = re.compile(
    rf"\$(argon2id|argon2i|argon2d)\$(?:v=(\d+)\$)?m=(\d{{1,10}}),t=(\d{{1,10}}),p=(\d{{1,10}})\$({_B64})\$({_B64})"
)
_PBKDF2 = re.compile(
    r"\$pbkdf2-([a-z0-9]+)\$([a-z]=\d{1,10}(?:,[a-z]=\d{1,10})*)?\$([A-Za-z0-9+/._-]+={0,2})\$([A-Za-z0-9+/._-]+={0,2})"
)
_LDAP = re.compile(r"\{([A-Za-z0-9]+)\}([A-Za-z0-9+/]+={0,2})")
_DJANGO_PBKDF2 = re.compile(r"(pbkdf2_sha256|pbkdf2_sha1)\$(\d{1,10})\$([^$\s]{1,128})\$([A-Za-z0-9+/]+={0,2})")
_DJANGO_SCRYPT = re.compile(r"scrypt\$(\d{1,10})\$([^$\s]{1,128})\$(\d{1,10})\$(\d{1,10})\$([A-Za-z0-9+/]+={0,2})")
_DJANGO_SALTED = re.compile(r"(md5|sha1)\$([^$\s]{1,128})\$([0-9a-f]+)")


class HashFormatError(ValueError):
    """An imported hash refused: Auth0's job error ``code``, a z-schema ``message`` and the dotted ``path``.

    A parser's ``ValueError``, not a ``DomainError``: the import validator turns it into one row's job error, and
    it never leaves the import.
    """

    def __init__(self, code: str, message: str, path: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}


# --- small validators -------------------------------------------------------------------------------------


def _format(format_name: str, path: str) -> HashFormatError:
    return HashFormatError(FieldCode.FORMAT, messages.format_mismatch_hidden(format_name), path)


def _bounded(value: int, path: str, *, minimum: int, maximum: int, name: str | None = None) -> int:
    if value < minimum:
        message = (
            messages.parameter_below_minimum(name, value, minimum) if name else messages.below_minimum(value, minimum)
        )
        raise HashFormatError(FieldCode.MINIMUM, message, path)
    if value > maximum:
        message = (
            messages.parameter_above_maximum(name, value, maximum) if name else messages.above_maximum(value, maximum)
        )
        raise HashFormatError(FieldCode.MAXIMUM, message, path)
    return value


def _not_allowed(name: str, algorithm: str, path: str) -> HashFormatError:
    return HashFormatError(
        FieldCode.OBJECT_ADDITIONAL_PROPERTIES, messages.not_allowed_with_algorithm(name, algorithm), f"{path}.{name}"
    )


@cache
def digest_available(name: str) -> bool:
    """Whether this platform's hashlib (OpenSSL) computes ``name``."""
    try:
        hashlib.new(name)
    except ValueError:
        return False
    return True


def _decode(value: str, encoding: str, path: str) -> bytes:
    """Bytes of a value in Auth0's encodings: hex in either case, base64 standard or URL-safe, padding optional."""
    if encoding == "hex":
        if len(value) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", value):
            raise _format("hex", path)
        return bytes.fromhex(value)
    if encoding == "base64":
        return _b64decode(value, path)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _format("utf8", path) from exc


def _b64decode(value: str, path: str) -> bytes:
    stripped = value.rstrip("=")
    if len(value) - len(stripped) > 2 or not re.fullmatch(r"[A-Za-z0-9+/_.-]*", stripped) or len(stripped) % 4 == 1:
        raise _format("base64", path)
    # "." is the bcrypt/crypt alphabet's, which passlib-style PHC strings use in place of "+".
    standard = stripped.replace("-", "+").replace("_", "/").replace(".", "+")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _format("base64", path) from exc


# --- password_hash ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Argon2:
    variant: str
    memory_kib: int
    time_cost: int
    parallelism: int


def _parse_bcrypt(value: str, path: str, *, prefixes: tuple[str, ...]) -> int:
    match = _BCRYPT.fullmatch(value)
    if match is None or match.group(1) not in prefixes:
        raise _format("bcrypt", path)
    return _bounded(int(match.group(2)), path, minimum=MIN_BCRYPT_COST, maximum=MAX_BCRYPT_COST, name="cost")


def bcrypt_cost(value: str) -> int | None:
    """The cost of a ``$2a$``/``$2b$`` bcrypt hash as the ``bcrypt`` package writes it, or None for anything else."""
    match = _BCRYPT.fullmatch(value)
    return int(match.group(2)) if match is not None and match.group(1) in ("2a", "2b") else None


def _parse_argon2(value: str, path: str) -> _Argon2:
    """An argon2 PHC string (``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``), parameters bounded."""
    match = _ARGON2.fullmatch(value)
    if match is None:
        raise _format("argon2", path)
    variant, version, memory, time_cost, parallelism, salt, digest = match.groups()
    if version is not None and version not in ("16", "19"):
        raise _format("argon2", path)
    parallelism_value = _bounded(int(parallelism), path, minimum=1, maximum=MAX_PARALLELISM, name="p")
    memory_kib = _bounded(int(memory), path, minimum=8 * parallelism_value, maximum=MAX_ARGON2_MEMORY_KIB, name="m")
    time_value = _bounded(int(time_cost), path, minimum=1, maximum=MAX_ARGON2_TIME_COST, name="t")
    if len(_b64decode(salt, path)) < 8 or len(_b64decode(digest, path)) < 4:
        raise _format("argon2", path)
    return _Argon2(variant, memory_kib, time_value, parallelism_value)


def _check_scrypt_memory(cost: int, block_size: int, path: str) -> None:
    needed = 128 * cost * block_size
    if needed > MAX_MEMORY_BYTES:
        raise HashFormatError(FieldCode.MAXIMUM, messages.memory_above_maximum(needed, MAX_MEMORY_BYTES), path)


def _check_power_of_two(value: int, path: str, name: str) -> None:
    if value < 2 or value & (value - 1):
        raise HashFormatError(FieldCode.FORMAT, messages.not_power_of_two(name, value), path)


def _parse_password_hash(value: str, path: str) -> str:
    """The scheme of a well-formed, bounded ``password_hash``; raises ``HashFormatError`` otherwise."""
    if value.startswith("$2"):
        _parse_bcrypt(value, path, prefixes=("2a", "2b"))
        return _PLAIN_BCRYPT
    scheme = value.split("$", 1)[0]
    if scheme in ("pbkdf2_sha256", "pbkdf2_sha1"):
        match = _DJANGO_PBKDF2.fullmatch(value)
        if match is None:
            raise _format(scheme, path)
        _bounded(int(match.group(2)), path, minimum=1, maximum=MAX_PBKDF2_ITERATIONS, name="iterations")
        size = _DIGEST_SIZES["sha256" if scheme == "pbkdf2_sha256" else "sha1"]
        if len(_b64decode(match.group(4), path)) != size:
            raise _format(scheme, path)
        return scheme
    if scheme == "argon2":
        _parse_argon2(value[len("argon2") :], path)
        return scheme
    if scheme in ("bcrypt_sha256", "bcrypt"):
        inner = value[len(scheme) + 1 :]
        _parse_bcrypt(inner, path, prefixes=("2a", "2b"))
        return scheme
    if scheme == "scrypt":
        match = _DJANGO_SCRYPT.fullmatch(value)
        if match is None:
            raise _format(scheme, path)
        cost, _salt, block_size, parallelism, digest = match.groups()
        _check_power_of_two(int(cost), path, "N")
        _bounded(int(cost), path, minimum=2, maximum=MAX_SCRYPT_COST, name="N")
        _bounded(int(block_size), path, minimum=1, maximum=MAX_SCRYPT_BLOCK_SIZE, name="r")
        _bounded(int(parallelism), path, minimum=1, maximum=MAX_PARALLELISM, name="p")
        _check_scrypt_memory(int(cost), int(block_size), path)
        if len(_b64decode(digest, path)) != 64:
            raise _format(scheme, path)
        return scheme
    if scheme in ("md5", "sha1"):
        match = _DJANGO_SALTED.fullmatch(value)
        if match is None or len(match.group(3)) != 2 * _DIGEST_SIZES[scheme]:
            raise _format(scheme, path)
        return scheme
    raise _format("bcrypt", path)


# The API's string field: type and length as every request body checks them (``core.schema``).
_PASSWORD_HASH_FIELD = StrictCharField(min_length=1, max_length=MAX_PASSWORD_HASH_LENGTH)


def normalize_password_hash(value: str) -> str:
    """``value`` if it is a well-formed, bounded hash this service verifies; raises ``HashFormatError``.

    bcrypt ``$2a$``/``$2b$`` with cost 4..15, or one of Django's stored formats (see the module docstring).
    """
    path = "password_hash"
    try:
        _PASSWORD_HASH_FIELD.to_internal_value(value)  # null included: "found type null", as run_validation says
    except serializers.ValidationError as exc:
        [detail] = cast(list[ErrorDetail], exc.detail)  # a field raises one ErrorDetail
        raise HashFormatError(str(detail.code), str(detail), path) from None
    _parse_password_hash(value, path)
    return value


# --- custom_password_hash -----------------------------------------------------------------------------------

ROOT = "custom_password_hash"
_SCRYPT_KEYS = ("keylen", "cost", "blockSize", "parallelization")


class _EnumField(StrictCharField):
    """A string out of ``choices`` (a JSON Schema ``enum`` of strings): ``INVALID_TYPE`` for anything but a
    string, ``ENUM_MISMATCH`` for another string. A digest name in ``platform_digests`` must also be one this
    platform's hashlib computes (OpenSSL 3 often has no md4 or whirlpool): refused here, not at login."""

    def __init__(self, *, choices: tuple[str, ...], platform_digests: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.choices = choices
        self.platform_digests = platform_digests
        super().__init__(**kwargs)

    def check_format(self, value: str) -> None:
        if value not in self.choices:
            raise fail(messages.enum_mismatch(echo(value)), FieldCode.ENUM_MISMATCH)
        if value in self.platform_digests and not digest_available(value):
            raise fail(messages.digest_unavailable(value), FieldCode.ENUM_MISMATCH)


def _value_field() -> StrictCharField:
    return StrictCharField(required=True, min_length=1, max_length=MAX_VALUE_LENGTH)


# Auth0's custom_password_hash schema (bulk-user-import-schema), ``additionalProperties: false`` at every level,
# declared with the API's strict fields; what depends on the algorithm is checked in ``validate``.
class CustomPasswordHashKeySerializer(StrictSerializer):
    value = _value_field()
    encoding = _EnumField(choices=ENCODINGS)


class CustomPasswordHashValueSerializer(StrictSerializer):
    value = _value_field()
    encoding = _EnumField(choices=ENCODINGS)
    digest = _EnumField(choices=DIGESTS, platform_digests=DIGESTS)
    key = CustomPasswordHashKeySerializer(required=False)


class CustomPasswordHashSaltSerializer(StrictSerializer):
    value = _value_field()
    encoding = _EnumField(choices=ENCODINGS)
    position = _EnumField(choices=SALT_POSITIONS)


class CustomPasswordHashPasswordSerializer(StrictSerializer):
    encoding = _EnumField(choices=PASSWORD_ENCODINGS)


class CustomPasswordHashSerializer(StrictSerializer):
    algorithm = _EnumField(required=True, choices=ALGORITHMS, platform_digests=_DIGEST_ALGORITHMS)
    hash = CustomPasswordHashValueSerializer(required=True)
    salt = CustomPasswordHashSaltSerializer(required=False)
    password = CustomPasswordHashPasswordSerializer(required=False)
    keylen = StrictIntegerField(min_value=1, max_value=MAX_KEY_LENGTH)
    cost = StrictIntegerField(min_value=2, max_value=MAX_SCRYPT_COST)
    blockSize = StrictIntegerField(min_value=1, max_value=MAX_SCRYPT_BLOCK_SIZE)  # Auth0's name
    parallelization = StrictIntegerField(min_value=1, max_value=MAX_PARALLELISM)


@cache
def _bound_schema() -> CustomPasswordHashSerializer:
    return CustomPasswordHashSerializer()  # its fields are bound once; they keep no state between values


def normalize_custom_password_hash(value: object) -> dict:
    """Auth0's ``custom_password_hash`` object, checked and with its defaults filled in (JSON-serialisable).

    Each property is checked by its field of ``CustomPasswordHashSerializer`` (the API's strict fields, their
    codes and z-schema wording), in the order a job's error report has always shown (it names the first problem
    only): each object's shape (type, unknown properties, missing required ones) before its values, the algorithm
    before the rest, and a property the algorithm does not take refused as such (``not allowed with algorithm``)
    before its own value is looked at. Raises ``HashFormatError`` with the job error code (``OBJECT_REQUIRED`` for a
    missing property, as Auth0's bulk import names it) and the dotted path from ``custom_password_hash``.
    """
    schema = _bound_schema()
    data = _shaped(schema, value, ROOT)
    algorithm = _checked(schema, "algorithm", data["algorithm"], ROOT)

    hash_schema = _nested(schema, "hash")
    hash_path = f"{ROOT}.hash"
    hash_data = _shaped(hash_schema, data["hash"], hash_path)
    hash_value = _checked(hash_schema, "value", hash_data["value"], hash_path)
    if "encoding" in hash_data:
        encoding = _checked(hash_schema, "encoding", hash_data["encoding"], hash_path)
    elif algorithm in _STRING_ALGORITHMS:
        encoding = "utf8"
    else:
        raise HashFormatError(FieldCode.OBJECT_REQUIRED, messages.missing_property("encoding"), f"{hash_path}.encoding")
    allowed_encodings = ("utf8",) if algorithm in _STRING_ALGORITHMS else ("base64", "hex")
    if encoding not in allowed_encodings:
        raise HashFormatError(FieldCode.ENUM_MISMATCH, messages.enum_mismatch(encoding), f"{hash_path}.encoding")
    normalised_hash: dict[str, Any] = {"value": hash_value, "encoding": encoding}

    if algorithm == "hmac":
        for name in ("digest", "key"):
            if name not in hash_data:
                raise HashFormatError(FieldCode.OBJECT_REQUIRED, messages.missing_property(name), f"{hash_path}.{name}")
        digest = _checked(hash_schema, "digest", hash_data["digest"], hash_path)
        key_schema = _nested(hash_schema, "key")
        key_path = f"{hash_path}.key"
        key = _shaped(key_schema, hash_data["key"], key_path)
        key_value = _checked(key_schema, "value", key["value"], key_path)
        key_encoding = _checked(key_schema, "encoding", key.get("encoding", "utf8"), key_path)
        _decode(key_value, key_encoding, f"{key_path}.value")
        normalised_hash["digest"] = digest
        normalised_hash["key"] = {"value": key_value, "encoding": key_encoding}
    else:
        for name in ("digest", "key"):
            if name in hash_data:
                raise _not_allowed(name, algorithm, hash_path)

    normalised: dict[str, Any] = {"algorithm": algorithm, "hash": normalised_hash}

    if "salt" in data:
        if algorithm in _STRING_ALGORITHMS:
            raise _not_allowed("salt", algorithm, ROOT)
        salt_schema = _nested(schema, "salt")
        salt_path = f"{ROOT}.salt"
        salt = _shaped(salt_schema, data["salt"], salt_path)
        salt_value = _checked(salt_schema, "value", salt["value"], salt_path)
        salt_encoding = _checked(salt_schema, "encoding", salt.get("encoding", "utf8"), salt_path)
        position = _checked(salt_schema, "position", salt.get("position", "prefix"), salt_path)
        _decode(salt_value, salt_encoding, f"{salt_path}.value")
        normalised["salt"] = {"value": salt_value, "encoding": salt_encoding, "position": position}

    password_encoding = "utf8"  # noqa: S105 - an encoding name
    if "password" in data:
        password_schema = _nested(schema, "password")
        password_path = f"{ROOT}.password"
        password = _shaped(password_schema, data["password"], password_path)
        password_encoding = _checked(password_schema, "encoding", password.get("encoding", "utf8"), password_path)
    normalised["password"] = {"encoding": password_encoding}

    if algorithm == "scrypt":
        if "keylen" not in data:
            raise HashFormatError(FieldCode.OBJECT_REQUIRED, messages.missing_property("keylen"), f"{ROOT}.keylen")
        keylen = _checked(schema, "keylen", data["keylen"], ROOT)
        cost = _checked(schema, "cost", data.get("cost", SCRYPT_DEFAULT_COST), ROOT)
        _check_power_of_two(cost, f"{ROOT}.cost", "cost")
        block_size = _checked(schema, "blockSize", data.get("blockSize", SCRYPT_DEFAULT_BLOCK_SIZE), ROOT)
        parallelization = _checked(
            schema, "parallelization", data.get("parallelization", SCRYPT_DEFAULT_PARALLELIZATION), ROOT
        )
        _check_scrypt_memory(cost, block_size, f"{ROOT}.cost")
        normalised.update(keylen=keylen, cost=cost, blockSize=block_size, parallelization=parallelization)
    else:
        for name in _SCRYPT_KEYS:
            if name in data:
                raise _not_allowed(name, algorithm, ROOT)

    _check_hash_value(normalised, f"{hash_path}.value")
    return normalised


@cache
def _fields_of(schema: StrictSerializer) -> dict[str, Field]:
    return dict(schema.fields)  # a plain dict: DRF's BindingDict is a slow mapping to walk per hash


def _nested(schema: StrictSerializer, name: str) -> StrictSerializer:
    return cast(StrictSerializer, _fields_of(schema)[name])


def _shaped(schema: StrictSerializer, value: Any, path: str) -> dict[str, Any]:
    """``value`` if it is an object with no property ``schema`` lacks and every property it requires (z-schema's
    order for one level); its values are checked one by one by the caller (``_checked``).

    DRF's own loop visits every declared field, present or not, and costs ten times this per hash (about
    40 µs, where an import file may hold a million of them); this and ``_checked`` use the very same field objects
    on the keys the object has, as ``users.imports.validation.ImportUserValidator`` does for the whole user.
    """
    if not isinstance(value, dict):  # parsed JSON: an object is a dict (an ABC check costs more per hash)
        raise HashFormatError(FieldCode.INVALID_TYPE, messages.invalid_type("object", json_type(value)), path)
    fields = _fields_of(schema)
    unknown = [str(key) for key in value if key not in fields]
    if unknown:
        # ", " between the names: the wording job error reports have always had for a hash (not the API's ",").
        message = messages.additional_properties(echo(", ".join(unknown)))
        raise HashFormatError(FieldCode.OBJECT_ADDITIONAL_PROPERTIES, message, path)
    for name, field in fields.items():
        if field.required and name not in value:
            raise HashFormatError(FieldCode.OBJECT_REQUIRED, messages.missing_property(name), f"{path}.{name}")
    return value


def _checked(schema: StrictSerializer, name: str, value: Any, path: str) -> Any:
    """``value`` through ``schema``'s field ``name``; its ``ValidationError`` as a ``HashFormatError`` at
    ``path.name``. No field here has validators, so this is all ``run_validation`` would do (null included)."""
    try:
        return _fields_of(schema)[name].to_internal_value(value)
    except serializers.ValidationError as exc:
        [detail] = cast(list[ErrorDetail], exc.detail)  # a field raises one ErrorDetail
        raise HashFormatError(str(detail.code), str(detail), f"{path}.{name}") from None


def _check_hash_value(normalised: dict[str, Any], path: str) -> None:
    """The hash value parses for its algorithm, within the bounds, and has the digest's length."""
    algorithm = normalised["algorithm"]
    value = normalised["hash"]["value"]
    if algorithm == "argon2":
        _parse_argon2(value, path)
    elif algorithm == "bcrypt":
        _parse_bcrypt(value, path, prefixes=("2a", "2b", "2y"))
    elif algorithm == "ldap":
        _parse_ldap(value, path)
    elif algorithm == "pbkdf2":
        _parse_pbkdf2(value, path)
    else:
        digest = _decode(value, normalised["hash"]["encoding"], path)
        if algorithm == "scrypt":
            expected = normalised["keylen"]
        elif algorithm == "hmac":
            expected = _DIGEST_SIZES[normalised["hash"]["digest"]]
        else:
            expected = _DIGEST_SIZES[algorithm]
        if len(digest) != expected:
            raise _format(f"{algorithm} ({expected} bytes)", path)


def _parse_ldap(value: str, path: str) -> tuple[str, bytes, bytes]:
    """RFC 2307 ``{SCHEME}base64``: (digest name, digest, salt)."""
    match = _LDAP.fullmatch(value)
    if match is None:
        raise _format("ldap", path)
    scheme = _LDAP_SCHEMES.get(match.group(1).upper())
    if scheme is None:
        raise HashFormatError(FieldCode.ENUM_MISMATCH, messages.enum_mismatch(echo(match.group(1))), path)
    digest_name, salted = scheme
    raw = _b64decode(match.group(2), path)
    size = _DIGEST_SIZES[digest_name]
    if (salted and len(raw) <= size) or (not salted and len(raw) != size):
        raise _format("ldap", path)
    return digest_name, raw[:size], raw[size:]


@dataclass(frozen=True)
class _Pbkdf2:
    digest: str
    iterations: int
    salt: bytes
    derived: bytes


def _parse_pbkdf2(value: str, path: str) -> _Pbkdf2:
    """``$pbkdf2-<digest>$i=<iterations>,l=<keylen>$<b64 salt>$<b64 hash>`` (defaults i=100000, l=64)."""
    match = _PBKDF2.fullmatch(value)
    if match is None:
        raise _format("pbkdf2", path)
    digest, params, salt, derived = match.groups()
    if digest not in DIGESTS:
        raise HashFormatError(FieldCode.ENUM_MISMATCH, messages.enum_mismatch(echo(digest)), path)
    if not digest_available(digest):
        raise HashFormatError(FieldCode.ENUM_MISMATCH, messages.digest_unavailable(digest), path)
    values: dict[str, int] = {}
    for pair in (params or "").split(","):
        if not pair:
            continue
        name, _sep, number = pair.partition("=")
        if name not in ("i", "l") or name in values:
            raise _format("pbkdf2", path)
        values[name] = int(number)
    iterations = _bounded(
        values.get("i", PBKDF2_DEFAULT_ITERATIONS), path, minimum=1, maximum=MAX_PBKDF2_ITERATIONS, name="i"
    )
    keylen = _bounded(values.get("l", PBKDF2_DEFAULT_KEY_LENGTH), path, minimum=1, maximum=MAX_KEY_LENGTH, name="l")
    derived_bytes = _b64decode(derived, path)
    if len(derived_bytes) != keylen:
        raise _format("pbkdf2", path)
    return _Pbkdf2(digest, iterations, _b64decode(salt, path), derived_bytes)


# --- verification -------------------------------------------------------------------------------------------


def _password_bytes(password: str, encoding: str) -> bytes | None:
    """The password as the source system hashed it (Node.js ``Buffer.from(password, encoding)``)."""
    try:
        if encoding == "utf8":
            return password.encode("utf-8")
        utf16 = password.encode("utf-16-le", "surrogatepass")
    except UnicodeEncodeError:
        return None
    if encoding in ("utf16le", "ucs2"):
        return utf16
    return utf16[::2]  # ascii, latin1, binary: the low byte of each UTF-16 code unit, as Node.js writes them


def _verify_custom(password: str, data: dict[str, Any]) -> bool:
    secret = _password_bytes(password, data["password"]["encoding"])
    if secret is None:
        return False
    algorithm = data["algorithm"]
    value = data["hash"]["value"]
    path = "custom_password_hash.hash.value"
    if algorithm == "argon2":
        variant = _ARGON2.fullmatch(value).group(1)  # type: ignore[union-attr]
        kind = {
            "argon2id": argon2_low_level.Type.ID,
            "argon2i": argon2_low_level.Type.I,
            "argon2d": argon2_low_level.Type.D,
        }[variant]
        try:
            return argon2_low_level.verify_secret(value.encode("ascii"), secret, kind)
        except Argon2VerificationError:
            return False
    if algorithm == "bcrypt":
        # $2y$ (PHP's name) is the same algorithm as $2b$, which the bcrypt package reads.
        return bcrypt_verify(secret, "$2b$" + value[4:] if value.startswith("$2y$") else value)
    if algorithm == "ldap":
        digest_name, expected, salt = _parse_ldap(value, path)
        return hmac.compare_digest(hashlib.new(digest_name, secret + salt).digest(), expected)
    if algorithm == "pbkdf2":
        parsed = _parse_pbkdf2(value, path)
        computed = hashlib.pbkdf2_hmac(parsed.digest, secret, parsed.salt, parsed.iterations, dklen=len(parsed.derived))
        return hmac.compare_digest(computed, parsed.derived)

    expected = _decode(value, data["hash"]["encoding"], path)
    salt = b""
    salted = secret
    if "salt" in data:
        salt = _decode(data["salt"]["value"], data["salt"]["encoding"], "custom_password_hash.salt.value")
        salted = salt + secret if data["salt"]["position"] == "prefix" else secret + salt
    if algorithm == "scrypt":
        cost, block_size, parallelization = data["cost"], data["blockSize"], data["parallelization"]
        maxmem = min(2**31 - 1, 128 * block_size * (cost + parallelization + 2) + (1 << 20))
        computed = hashlib.scrypt(
            secret, salt=salt, n=cost, r=block_size, p=parallelization, maxmem=maxmem, dklen=data["keylen"]
        )
    elif algorithm == "hmac":
        key = data["hash"]["key"]
        key_bytes = _decode(key["value"], key["encoding"], "custom_password_hash.hash.key.value")
        computed = hmac.new(key_bytes, salted, data["hash"]["digest"]).digest()
    else:
        computed = hashlib.new(algorithm, salted).digest()
    return hmac.compare_digest(computed, expected)


def _verify_password_hash(password: str, value: str) -> bool:
    scheme = _parse_password_hash(value, "password_hash")
    if scheme == _PLAIN_BCRYPT:
        return bcrypt_verify(password, value)
    if scheme == "sha1":  # Django 5.1 dropped SHA1PasswordHasher; the format is sha1(salt + password), in hex
        _scheme, salt, expected = value.split("$", 2)
        computed = hashlib.sha1(salt.encode("utf-8") + password.encode("utf-8")).hexdigest()  # noqa: S324
        return hmac.compare_digest(computed, expected)
    hasher: django_hashers.BasePasswordHasher
    if scheme == "pbkdf2_sha256":
        hasher = django_hashers.PBKDF2PasswordHasher()
    elif scheme == "pbkdf2_sha1":
        hasher = django_hashers.PBKDF2SHA1PasswordHasher()
    elif scheme == "argon2":
        hasher = django_hashers.Argon2PasswordHasher()
    elif scheme == "bcrypt_sha256":
        hasher = django_hashers.BCryptSHA256PasswordHasher()
    elif scheme == "bcrypt":
        hasher = django_hashers.BCryptPasswordHasher()
    elif scheme == "scrypt":
        scrypt_hasher = django_hashers.ScryptPasswordHasher()
        _scheme, cost, _salt, block_size, parallelism, _digest = value.split("$")
        # OpenSSL's default ceiling is 32 MiB; the parse above already bounded 128 * N * r by 1 GiB.
        scrypt_hasher.maxmem = min(2**31 - 1, 128 * int(block_size) * (int(cost) + int(parallelism) + 2) + (1 << 20))
        hasher = scrypt_hasher
    else:
        hasher = django_hashers.MD5PasswordHasher()
    return bool(hasher.verify(password, value))  # Django's hashers compare in constant time


def verify_stored_password(password: str, *, password_hash: str | None, custom_password_hash: dict | None) -> bool:
    """Whether ``password`` matches the stored hash: the custom hash when there is one, else ``password_hash``.

    A stored value that no longer passes validation (written by hand, or under older bounds) never matches.
    """
    try:
        if custom_password_hash is not None:
            return _verify_custom(password, normalize_custom_password_hash(custom_password_hash))
        if password_hash:
            return _verify_password_hash(password, password_hash)
    except HashFormatError as exc:
        logger.warning("stored password hash refused: %s at %s", exc.code, exc.path)
    except (ValueError, UnicodeError):  # e.g. a password Django's or bcrypt's encoders refuse
        return False
    return False
