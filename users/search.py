"""The users' fields for Auth0's ``q`` search (``GET /api/v2/users?q=...``): what each field name means in SQL.

``core.search`` parses the query (luqum) and bounds it; this module answers each field's term, range and existence
test. Sources: Auth0's "User Search Query Syntax" (searchable fields, metadata paths, case rules, wildcards, ranges),
"Migrate from Search v2 to v3" (whole-value matching, the 3-character rule) and "Retrieve Users with the Get Users
Endpoint" (query examples).

| field | kind | a term matches | ranges / wildcards |
|---|---|---|---|
| ``email``, ``username`` | text, any case | the stored (lower-cased) value, whole | yes / yes |
| ``name``, ``given_name``, ``family_name``, ``nickname`` | text, any case | ``lower(column)``, whole | yes / yes |
| ``user_id``, ``phone_number``, ``last_ip`` | text, exact case | the value, whole | yes / yes |
| ``email.domain`` | text | the part after ``@`` (lower-cased) | no / yes |
| ``identities.connection`` | text, exact case | the connection's name | no / yes |
| ``identities.provider``, ``identities.user_id`` | text, exact case | the two halves of ``user_id`` | no / no |
| ``identities.isSocial`` | boolean | always ``false`` here (no social connections) | no / no |
| ``email_verified``, ``phone_verified``, ``blocked`` | boolean ``true``/``false`` | the value | no / no |
| ``created_at``, ``updated_at``, ``last_login`` | date | the instant, or the period ``2026``, ``2026-01`` | yes / no |
| ``logins_count`` | integer | the value | yes / no |
| ``app_metadata.<path>``, ``user_metadata.<path>`` | JSON | strings exactly; numbers, booleans by value | app only |

Matching is on the whole value, as Auth0's v3 ("In v3, fields match the whole value that is provided and are not
tokenized"; ``name:jane`` finds "Jane" and not "Jane Smith", which is ``name:jane*`` or ``name:"jane smith"``).
Normalised profile fields ignore case; every other field, metadata included, is compared exactly (Auth0: "Search
values for the normalized user fields (email, name, given_name, family_name, and nickname) are case insensitive. All
other fields (including all app_metadata/user_metadata fields) are case sensitive"; username is stored lower-cased,
so it ignores case too). The name fields fold case as PostgreSQL's ``lower()`` does under its default (libc)
collation, on SQLite too (``core.search.fold_case``: ``ÉMILE`` finds ``émile``, ``STRAẞE`` finds ``Straße`` but
``STRASSE`` does not, ``ISTANBUL`` finds ``İstanbul``); SQLite reads the whole table for them (its ``lower(column)``
indexes fold ASCII only). A bare term (no field) tries ``user_id``, ``email``, ``username``, ``phone_number``,
``name``, ``given_name``, ``family_name`` and ``nickname``, never metadata ("A term without a field name will not
match text in the user metadata fields").

A wildcard not at the end needs 3 literal characters (Auth0: "For other uses of wildcards (e.g. suffix matching),
literals must have 3 characters or more. For example, name:*usa is allowed, but name:*sa is not"); ranges and
wildcards on ``user_metadata`` are refused (Auth0: "Range and wildcard searches are not available on user_metadata
fields"). Each refusal is ``InvalidQuery`` (400 ``invalid_query_string``) naming the term. An unknown field matches
nothing, as on Auth0.

A field absent from the profile is absent from the search too: ``_exists_:email_verified`` needs an e-mail,
``_exists_:logins_count`` and ``_exists_:last_login`` a login; ``blocked:false`` finds only users unblocked
explicitly (Auth0 leaves ``blocked`` out until it is set). Unlike Auth0, ``logins_count:0`` finds the users who never
logged in (the column holds 0), so Auth0's ``NOT _exists_:logins_count OR logins_count:0`` finds them either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext as _

from connections.models import Strategy
from core.jsonsearch import JsonMatch, JsonTest
from core.search import (
    MATCH_ALL,
    MATCH_NOTHING,
    Bound,
    InvalidQuery,
    Value,
    build_filter,
    check_wildcard,
    date_bounds,
    date_term,
    no_wildcard,
)

METADATA_ROOTS = ("app_metadata", "user_metadata")
BARE_TERM_FIELDS = ("user_id", "email", "username", "phone_number", "name", "given_name", "family_name", "nickname")


@dataclass(frozen=True)
class _Text:
    """A text column. ``lower``: compared as ``lower(column)`` with the value lower-cased by the same SQL function
    (``core.search.FoldedLower``: PostgreSQL's ``lower()``, and its twin on SQLite, whose own folds ASCII only;
    an expression index serves it); ``folded``: the value is lower-cased in Python, as the column was when stored
    (``users.emails.fold_email``, the username's ``str.lower``)."""

    column: str
    lower: bool = False
    folded: bool = False

    @property
    def path(self) -> str:
        """The lookup path of the compared value: ``name__lower`` or ``email``."""
        return f"{self.column}__lower" if self.lower else self.column

    def value(self, text: str) -> str:
        return text.lower() if self.folded else text


_TEXT = {
    "email": _Text("email", folded=True),
    "username": _Text("username", folded=True),
    "name": _Text("name", lower=True),
    "given_name": _Text("given_name", lower=True),
    "family_name": _Text("family_name", lower=True),
    "nickname": _Text("nickname", lower=True),
    "user_id": _Text("user_id"),
    "phone_number": _Text("phone_number"),
    "last_ip": _Text("last_ip"),
    "identities.connection": _Text("connection__name"),
}
# A boolean and the column that must be set for it to be in the profile (users.profile).
_BOOLEAN = {
    "email_verified": ("email_verified", "email"),
    "phone_verified": ("phone_verified", "phone_number"),
    "blocked": ("blocked", "blocked"),
}
_DATE = {"created_at": "created_at", "updated_at": "updated_at", "last_login": "last_login"}


def user_filter(q: str) -> Q:
    """The ``Q`` on ``User`` for the Lucene query ``q``; raises ``InvalidQuery`` (400 ``invalid_query_string``)."""
    return build_filter(q, UserFields())


class UserFields:
    """``core.search.FieldResolver`` for ``users.models.User``."""

    def term(self, field: str | None, value: Value) -> Q:
        if field is None:
            return _any_of([self.term(name, value) for name in BARE_TERM_FIELDS])
        if field in _TEXT:
            return _text_term(_TEXT[field], value, field)
        if field == "email.domain":
            return _email_domain(value, field)
        if field in _BOOLEAN:
            column, present = _BOOLEAN[field]
            return Q(**{f"{present}__isnull": False, column: _boolean(value, field)})
        if field in _DATE:
            no_wildcard(value, field)
            return date_term(_DATE[field], value.text, field)
        if field == "logins_count":
            no_wildcard(value, field)
            return Q(logins_count=_integer(value.text, field))
        if field == "identities.provider":
            no_wildcard(value, field)
            return Q(user_id__startswith=f"{value.text}|")
        if field == "identities.user_id":
            no_wildcard(value, field)
            return Q(user_id__in=[f"{provider}|{value.text}" for provider in Strategy.values])
        if field == "identities.isSocial":
            no_wildcard(value, field)
            return MATCH_NOTHING if _boolean(value, field) else MATCH_ALL
        root, keys = _metadata_path(field)
        if root is None:
            return MATCH_NOTHING
        if value.is_wildcard:
            if root == "user_metadata":
                raise InvalidQuery(
                    _("Wildcard searches are not available on user_metadata fields: %(field)s") % {"field": field}
                )
            check_wildcard(value, field)
            return _metadata(root, JsonTest(keys=keys, op="like", parts=value.parts or ()))
        return _metadata(root, JsonTest(keys=keys, op="eq", text=value.text))

    def range(self, field: str | None, low: Bound, high: Bound) -> Q:
        if field is None:
            raise InvalidQuery(_("A range needs a field, for example logins_count:[1 TO 10]."))
        if field in _TEXT:
            spec = _TEXT[field]
            q = Q(**{f"{spec.path}__isnull": False})
            if low.text is not None:
                q &= Q(**{f"{spec.path}__{'gte' if low.inclusive else 'gt'}": spec.value(low.text)})
            if high.text is not None:
                q &= Q(**{f"{spec.path}__{'lte' if high.inclusive else 'lt'}": spec.value(high.text)})
            return q
        if field in _DATE:
            return date_bounds(_DATE[field], low, high, field)
        if field == "logins_count":
            q = MATCH_ALL
            if low.text is not None:
                q &= Q(**{f"logins_count__{'gte' if low.inclusive else 'gt'}": _integer(low.text, field)})
            if high.text is not None:
                q &= Q(**{f"logins_count__{'lte' if high.inclusive else 'lt'}": _integer(high.text, field)})
            return q
        root, keys = _metadata_path(field)
        if root == "user_metadata":
            raise InvalidQuery(
                _("Range searches are not available on user_metadata fields: %(field)s") % {"field": field}
            )
        if root == "app_metadata":
            return _metadata(
                root,
                JsonTest(
                    keys=keys,
                    op="range",
                    low=low.text,
                    high=high.text,
                    include_low=low.inclusive,
                    include_high=high.inclusive,
                ),
            )
        if field in _BOOLEAN or field.startswith("identities.") or field == "email.domain":
            raise InvalidQuery(_("Range searches are not available on %(field)s.") % {"field": field})
        return MATCH_NOTHING

    def exists(self, field: str) -> Q:
        if field in _TEXT:
            spec = _TEXT[field]
            if spec.column == "connection__name":
                return MATCH_ALL
            # On lower(column) where that is what is indexed: its btree index answers IS NOT NULL.
            return Q(**{f"{spec.path}__isnull": False})
        if field == "email.domain":
            return Q(email__isnull=False)
        if field in _BOOLEAN:
            return Q(**{f"{_BOOLEAN[field][1]}__isnull": False})
        if field in _DATE:
            return Q(**{f"{_DATE[field]}__isnull": False})
        if field == "logins_count":
            return Q(logins_count__gt=0)
        if field in ("identities.provider", "identities.user_id", "identities.isSocial"):
            return MATCH_ALL
        if field in METADATA_ROOTS:
            return _metadata(field, JsonTest(keys=(), op="exists"))
        root, keys = _metadata_path(field)
        if root is None:
            return MATCH_NOTHING
        return _metadata(root, JsonTest(keys=keys, op="exists"))


# --- helpers --------------------------------------------------------------------------------------------------------


def _any_of(parts: list[Q]) -> Q:
    result = parts[0]
    for part in parts[1:]:
        result |= part
    return result


def _text_term(spec: _Text, value: Value, field: str) -> Q:
    # Field lookups: Django's NOT adds "column IS NOT NULL" for a nullable column, so NOT name:x keeps the users
    # without a name, and the plain predicate is what the indexes match.
    if value.is_wildcard:
        check_wildcard(value, field)
        parts = tuple(spec.value(p) if p is not None else None for p in value.parts or ())
        return Q(**{f"{spec.path}__wildcard": parts})
    return Q(**{spec.path: spec.value(value.text)})


def _email_domain(value: Value, field: str) -> Q:
    parts: tuple[str | None, ...]
    if value.is_wildcard:
        check_wildcard(value, field)
        parts = (None, "@", *(p.lower() if p is not None else None for p in value.parts or ()))
    else:
        parts = (None, "@" + value.text.lower())
    return Q(email__wildcard=parts)


def _boolean(value: Value, field: str) -> bool:
    no_wildcard(value, field)
    if value.text not in ("true", "false"):
        raise InvalidQuery(
            _("%(field)s takes true or false, not %(value)s.") % {"field": field, "value": value.text[:80]}
        )
    return value.text == "true"


def _integer(text: str, field: str) -> int:
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise InvalidQuery(_("%(field)s takes a whole number, not %(value)s.") % {"field": field, "value": text[:80]})
    return int(text)


def _metadata_path(field: str) -> tuple[str | None, tuple[str, ...]]:
    """``("app_metadata", ("subscription", "plan"))`` for ``app_metadata.subscription.plan``; ``(None, ())`` for a
    field that is not metadata. An empty name (``app_metadata.``, ``app_metadata..plan``) is ``InvalidQuery``."""
    root, dot, rest = field.partition(".")
    if root not in METADATA_ROOTS or not dot:
        return None, ()
    keys = tuple(rest.split("."))
    if any(key == "" for key in keys):
        raise InvalidQuery(_("A metadata field name is missing in %(field)s.") % {"field": field[:120]})
    return root, keys


def _metadata(root: str, test: JsonTest) -> Q:
    return Q(**{f"{root}__isnull": False}) & Q(JsonMatch(root, test))


def check_search_engine(engine: str | None) -> None:
    """Refuse ``search_engine=v1`` as Auth0 does: ``InvalidQuery`` (400 ``invalid_query_string``) with Auth0's
    "You are not allowed to use search_engine=v1." (auth0/auth0-python#183 quotes the body). ``v2`` reached its end
    of life in 2019 (Auth0: "Migrate from Search v2 to v3") and is read as v3, the default."""
    if engine == "v1":
        raise InvalidQuery(_("You are not allowed to use search_engine=v1."))
