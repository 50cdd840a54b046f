"""Metadata rules: the names ``user_metadata`` and ``app_metadata`` may use, and how large they may grow.

Auth0's "Metadata Field Names and Data Types" (auth0.com/docs/manage-users/user-accounts/metadata/metadata-fields-data)
states the rules this module checks; every entry point applies them to what it is sent, through one call:
``create_user`` (``POST /api/v2/users``, ``/dbconnections/signup``, the admin's add form) calls
``check_metadata_fields``, ``update_user`` (``PATCH``, the admin's change form) ``check_field_names`` on the metadata
sent and ``check_metadata_size`` on the merged result, and the bulk import's validator (``users.imports.validation``)
calls ``check_metadata_fields`` for each user and reports a refusal as that user's job error ``{code, message, path}``.

1. **No ``.`` and no ``$`` in a field name**, at any depth, objects inside arrays included ("Field names must not
   contain the . (dot) or $ (dollar sign) characters"). Auth0 answers a dotted name with 400 and
   ``Fields with "." are not allowed, please remove all dotted fields. Example: user_metadata.foo.bar`` (an Auth0
   engineer quoting the error, community.auth0.com/t/59773; the support article "Updating or Creating Users Fails
   with Dotted Fields Error"); the ``$`` sentence is worded like it (Auth0's own is not public).
2. **``app_metadata`` does not use the names Auth0 reserves** at its top level: the page's list ("The
   ``app_metadata`` field must not contain any of these properties"), plus ``username``, which Auth0 also refuses
   (support article "Error 'Forbidden attribute in app_metadata: username' when Creating a User via API Call": the
   ``app_metadata`` is merged onto the root profile in Rules and Actions). Auth0's message is that article's,
   ``Forbidden attribute in app_metadata: <name>``; its API schema declares each name ``{"not": {}}``
   (auth0/docs#627), whose z-schema code ``NOT_PASSED`` the bulk import reports.
3. **At most 16 MB of metadata per user**, ``user_metadata`` and ``app_metadata`` together, as stored (Auth0's
   "Metadata Best Practices": "together limited to a size of 16 MB total per user"). A request body is far smaller
   (``MAX_REQUEST_BODY_BYTES``), but ``PATCH`` merges, so the merged result is what is measured. The page's other
   limits are not refusals of a write (the 1 MB a user may have for search) or are the sign-up schema's
   (``users.public_serializers.SignupMetadataField``: ten string fields of at most 500 characters).

A refusal is ``InvalidMetadata``: a ``PayloadValidationError`` (400 ``invalid_body``, Auth0's errorCode for a body
it refuses; the one for these refusals is not public) whose single field error names the offending path, so the
admin forms show it on the metadata field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.utils.translation import gettext as _

from core.errors import FieldError, PayloadValidationError
from core.jsonsize import stored_json_size
from core.schema import echo
from users.errors import UserErrorCode
from users.fields import APP_METADATA, METADATA_FIELDS, USER_METADATA

# "The app_metadata field must not contain any of these properties" (the page's list, in its order), and username.
RESERVED_APP_METADATA_NAMES = frozenset(
    {
        "__tenant",
        "_id",
        "blocked",
        "clientID",
        "created_at",
        "email_verified",
        "email",
        "globalClientID",
        "global_client_id",
        "identities",
        "lastIP",
        "lastLogin",
        "loginsCount",
        "metadata",
        "multifactor_last_modified",
        "multifactor",
        "updated_at",
        "user_id",
        "username",
    }
)
# 16 MB: MongoDB's largest document (16 MiB), the store behind Auth0's figure.
MAX_METADATA_BYTES = 16 * 1024 * 1024


class InvalidMetadata(PayloadValidationError):
    """Metadata Auth0 would not store: 400 ``invalid_body`` with one field error.

    ``path`` is the offending name's place (``user_metadata.preference.color``), ``field_code`` the error's code:
    ``INVALID_FIELD_NAME`` (a ``.`` or ``$``), ``NOT_PASSED`` (a reserved ``app_metadata`` name) or
    ``METADATA_TOO_LARGE``.
    """

    def __init__(self, path: str, field_code: str, message: str) -> None:
        super().__init__(message, errors=[FieldError(path, field_code, message)])
        self.path = path
        self.field_code = field_code


def check_metadata_fields(data: Mapping[str, Any]) -> None:
    """Rules 1 and 2 (see the module docstring) for each metadata field ``data`` sends, and rule 3 for what they
    add up to when stored as sent (a create or an import; ``update_user`` measures the merged result itself).

    ``data`` is a validated body (metadata fields are JSON objects or ``None``). Raises ``InvalidMetadata``.
    """
    for field in METADATA_FIELDS:
        value = data.get(field)
        if value is not None:
            check_field_names(field, value)
    check_metadata_size(data.get(USER_METADATA.name), data.get(APP_METADATA.name))


def check_field_names(field: str, value: Mapping[str, Any]) -> None:
    """Rules 1 and 2 for one metadata object ``value`` of ``field``; the first offending name is reported.

    Raises ``InvalidMetadata`` with ``NOT_PASSED`` (a reserved ``app_metadata`` name) or ``INVALID_FIELD_NAME``.
    """
    if field == APP_METADATA.name:
        reserved = next((name for name in value if name in RESERVED_APP_METADATA_NAMES), None)
        if reserved is not None:
            message = _("Forbidden attribute in app_metadata: %(name)s") % {"name": reserved}
            raise InvalidMetadata(f"{field}.{reserved}", UserErrorCode.NOT_PASSED, message)
    if not _has_marked_name(value):  # the common case, without a path built for every name
        return
    for path, name in _names(field, value):
        if "." in name:
            message = _('Fields with "." are not allowed, please remove all dotted fields. Example: %(path)s')
        elif "$" in name:
            message = _('Fields with "$" are not allowed, please remove all fields containing "$". Example: %(path)s')
        else:
            continue
        shown = echo(path)
        raise InvalidMetadata(shown, UserErrorCode.INVALID_FIELD_NAME, message % {"path": shown})


# The JSON parser's scalar types: what holds no names (anything else is looked into, or found to hold none).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _has_marked_name(value: Any) -> bool:
    """Whether any object key below ``value`` (objects inside arrays included) has a ``.`` or a ``$``: what
    ``_names`` would find, with no path built. Iterative."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | Mapping):
            for key, item in node.items():
                name = key if type(key) is str else str(key)
                if "." in name or "$" in name:
                    return True
                if type(item) not in _SCALARS:
                    stack.append(item)
        elif isinstance(node, list):
            stack.extend(item for item in node if type(item) not in _SCALARS)
    return False


def _names(field: str, value: Any) -> Iterator[tuple[str, str]]:
    """``(path, name)`` of every object key below ``value``, objects inside arrays included: an object's own names
    first, in order, then those nested in each of its values, in order (a dotted top-level name is reported before
    one nested deeper). Iterative, so no input can exhaust the stack."""
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, Mapping):
            children = [(f"{path}.{key}", item) for key, item in node.items()]
            for key in node:
                yield f"{path}.{key}", str(key)
        elif isinstance(node, list):
            children = [(f"{path}.{index}", item) for index, item in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))


def metadata_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (0 for ``None``), as it reads back from the store: what rule 3
    measures (``core.jsonsize``: PostgreSQL writes ``1e+308`` back as 1 and 308 zeros, ``5e-324`` as ``0.``, 323
    zeros and a 5, so a 500 KB body cannot store 20 MB, nor a few PATCHes of tiny numbers make every read of the row
    hundreds of megabytes).
    """
    return stored_json_size(value)


def check_metadata_size(user_metadata: Any, app_metadata: Any) -> None:
    """Rule 3 for a user's metadata as it would be stored. Raises ``InvalidMetadata`` (``METADATA_TOO_LARGE``)."""
    if user_metadata is None and app_metadata is None:
        return
    user_size, app_size = metadata_size(user_metadata), metadata_size(app_metadata)
    if user_size + app_size > MAX_METADATA_BYTES:
        message = _(
            "Metadata is too large (%(size)s bytes), maximum %(maximum)s bytes for user_metadata and app_metadata "
            "together"
        ) % {"size": user_size + app_size, "maximum": MAX_METADATA_BYTES}
        # Reported on the larger of the two, where a form shows it.
        field = USER_METADATA.name if user_size >= app_size else APP_METADATA.name
        raise InvalidMetadata(field, UserErrorCode.METADATA_TOO_LARGE, message)
