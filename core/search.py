"""Lucene query strings (Auth0's ``q``) parsed with luqum and turned into Django ``Q`` filters.

This module knows the syntax and its bounds, not the fields: a caller passes a ``FieldResolver`` that turns one
field's term, range or existence test into a ``Q`` (``users.search`` for users; the logs search can bring its own).
Everything the syntax allows but the resolver does not know is the resolver's to refuse or to match nothing.

What is understood (Auth0: "User Search Query Syntax", search engine v3, https://auth0.com/docs/manage-users/
user-search/user-search-query-syntax):

- terms ``jane``, fields ``email:jane@example.com``, phrases ``name:"jane smith"`` (a phrase is one whole value:
  v3 fields "match the whole value that is provided and are not tokenized", Auth0: "Migrate from Search v2 to v3");
- ``AND``, ``OR``, ``NOT`` (capitalised; Lucene's default operator between bare terms is ``OR``), ``+``/``-``
  prefixes before a term or field (``-email:x``; after a field's colon, ``email:-x``, they are refused, as Lucene's
  grammar refuses them), parentheses and field groups ``email:("a@x.com" OR "b@x.com")``; Lucene's ``&&``, ``||``
  and ``!`` are refused with a message naming AND, OR and NOT (luqum does not know them: it read them as terms);
- ranges ``[a TO b]``, ``{a TO b}``, mixed ``[a TO b}``, ``*`` for an open end;
- ``*`` wildcards anywhere in a term; a term of wildcards only (``email:*``) tests that the field exists, as
  Elasticsearch's query_string reads it, and ``*`` alone matches everything;
- ``_exists_:field``.

Refused with ``InvalidQuery`` (400 ``invalid_query_string``), each with a message naming the term: ``?`` (Auth0:
"The question mark character (?), is currently not supported"), regular expressions ``/.../``, fuzzy ``~``,
proximity and boosts ``^`` (none is part of Auth0's v3 syntax; silently ignoring them would answer a different
question than the one asked), the v2-only comparisons ``field:>=x`` (Auth0's migration table rewrites them as
ranges), a field inside a field (``a:b:c``) and anything luqum cannot parse.

Bounds (checked before the tree is walked, so no input costs more than they allow):

- ``MAX_QUERY_LENGTH`` = 1,024 characters. The whole URL must fit the server's request line (gunicorn refuses one
  over 4,094 bytes with 414, as Auth0 answers ``414 Request-URI Too Large`` past its own limit: "Retrieve Users with
  the Get Users Endpoint", Limitations), and percent-encoding can triple a query's length; 1,024 characters still
  hold twenty e-mail addresses OR-ed together, and keep the parser's work (linear in the length) small.
- ``MAX_TERMS`` = 64 terms, ranges and existence tests: each becomes one SQL predicate; 64 keeps the statement and
  its plan small, and no search a person or a script writes by hand comes near.
- ``MAX_DEPTH`` = 16 nested operators and parentheses: Django compiles a nested ``Q`` recursively and SQLite refuses
  expressions deeper than 1,000 (SQLITE_MAX_EXPR_DEPTH); 16 is far beyond any real query and far below both.

luqum's parser (PLY) keeps state on one shared object, so parsing is serialised by a lock; a parse takes
microseconds for queries within the bounds.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from django.db.models import Lookup, Q, lookups
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError, ErrorCode
from core.schema import text_fault

MAX_QUERY_LENGTH = 1024
MAX_TERMS = 64
MAX_DEPTH = 16

EXISTS_FIELD = "_exists_"

_parse_lock = threading.Lock()
_parser = None


def _luqum_parser() -> Any:
    """luqum's parser, built once; PLY prints its table warnings while building them, which are not ours to show."""
    global _parser
    if _parser is None:
        logging.getLogger("ply").setLevel(logging.ERROR)
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            from luqum.parser import parser

        _parser = parser
    return _parser


class InvalidQuery(DomainError):
    """A ``q`` that is not a query this service can run: 400 ``invalid_query_string``, the message naming the
    problem (Auth0 answers a malformed ``q`` with 400 ``invalid_query_string`` too)."""

    status = 400
    code = ErrorCode.INVALID_QUERY_STRING
    default_message = gettext_lazy("The query is not valid.")


@dataclass(frozen=True)
class Value:
    """One term's value. ``text`` is unescaped (``\\*`` is a literal ``*``); ``parts`` is the term split on its
    wildcards: literal texts with ``None`` where a ``*`` stands, ``None`` only when the term has no wildcard."""

    text: str
    quoted: bool
    parts: tuple[str | None, ...] | None = None

    @property
    def is_wildcard(self) -> bool:
        return self.parts is not None

    @property
    def only_wildcards(self) -> bool:
        return self.parts is not None and all(part is None for part in self.parts)

    @property
    def literal_length(self) -> int:
        return sum(len(part) for part in self.parts or () if part is not None)


@dataclass(frozen=True)
class Bound:
    """One end of a range: ``None`` for an open end (``*``), else its unescaped text and whether it is included."""

    text: str | None
    inclusive: bool


class FieldResolver(Protocol):
    """What a searchable collection knows about its fields; each method answers a ``Q`` or raises
    ``InvalidQuery``. ``field`` is ``None`` for a bare term."""

    def term(self, field: str | None, value: Value) -> Q: ...

    def range(self, field: str | None, low: Bound, high: Bound) -> Q: ...

    def exists(self, field: str) -> Q: ...


# Real predicates, never an empty ``Q()``: Django drops an empty ``Q`` from ``|`` and ``~``, which would turn
# ``* OR x`` into ``x`` and ``NOT *`` into everything.
MATCH_ALL = Q(pk__isnull=False)
MATCH_NOTHING = Q(pk__in=[])


def parse_query(text: str) -> object:
    """The luqum tree of ``text``, within the module's bounds; raises ``InvalidQuery`` for a query too long,
    unparsable, with too many terms or nested too deep."""
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidQuery(
            _("The query is too long: %(length)s characters, at most %(limit)s.")
            % {"length": len(text), "limit": MAX_QUERY_LENGTH}
        )
    from luqum.exceptions import ParseError

    parser = _luqum_parser()
    try:
        with _parse_lock:
            tree = parser.parse(text)
    except ParseError as exc:
        raise InvalidQuery(_("The query could not be parsed: %(detail)s") % {"detail": str(exc)}) from exc
    except RecursionError as exc:  # pragma: no cover - the length bound keeps PLY's stacks small
        raise InvalidQuery(_("The query is nested too deeply.")) from exc
    _check_size(tree)
    return tree


def _check_size(tree: object) -> None:
    """Count terms and nesting without recursion (the tree of a hostile query may be deep)."""
    from luqum import tree as t

    terms = 0
    stack: list[tuple[object, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidQuery(_("The query is nested too deeply: at most %(limit)s levels.") % {"limit": MAX_DEPTH})
        if isinstance(node, (t.Term, t.Range)):
            terms += 1
            if terms > MAX_TERMS:
                raise InvalidQuery(_("The query has too many terms: at most %(limit)s.") % {"limit": MAX_TERMS})
            continue
        stack.extend((child, depth + 1) for child in getattr(node, "children", ()))


def build_filter(text: str, resolver: FieldResolver) -> Q:
    """The ``Q`` that selects what ``text`` (a Lucene query) matches, each field translated by ``resolver``.

    A blank query (empty or spaces only) selects everything, as a list without ``q`` does. Raises
    ``InvalidQuery`` (400 ``invalid_query_string``) for anything this module or the resolver refuses.
    """
    fault = text_fault(text)
    if fault is not None:  # a NUL or a lone surrogate would reach the database driver
        raise InvalidQuery(fault)
    if not text.strip():
        return MATCH_ALL
    tree = parse_query(text)
    return _Translator(resolver).node(tree, None)


class _Translator:
    def __init__(self, resolver: FieldResolver) -> None:
        self.resolver = resolver

    def node(self, node: object, field: str | None) -> Q:
        # Recursion is bounded by MAX_DEPTH, checked before any walk.
        from luqum import tree as t

        if isinstance(node, t.SearchField):
            return self.search_field(node, field)
        if isinstance(node, t.AndOperation):
            return self.combine([self.node(child, field) for child in node.children], and_=True)
        if isinstance(node, t.OrOperation):
            return self.combine([self.node(child, field) for child in node.children], and_=False)
        if isinstance(node, t.UnknownOperation):
            return self.implicit(node, field)
        if isinstance(node, (t.Not, t.Prohibit)):
            return ~self.node(node.a, field)
        if isinstance(node, t.Plus):
            return self.node(node.a, field)
        if isinstance(node, (t.Group, t.FieldGroup)):
            return self.node(node.expr, field)
        if isinstance(node, t.Range):
            low = Bound(self.bound_text(node.low), bool(node.include_low))
            high = Bound(self.bound_text(node.high), bool(node.include_high))
            return self.resolver.range(field, low, high)
        if isinstance(node, (t.From, t.To)):
            raise InvalidQuery(
                _("Comparisons such as %(term)s are not supported: use a range, for example field:[10 TO *].")
                % {"term": _shown(node)}
            )
        if isinstance(node, t.Regex):
            raise InvalidQuery(_("Regular expressions are not supported: %(term)s") % {"term": _shown(node)})
        if isinstance(node, t.Fuzzy):
            raise InvalidQuery(_("Fuzzy searches (~) are not supported: %(term)s") % {"term": _shown(node)})
        if isinstance(node, t.Proximity):
            raise InvalidQuery(_("Proximity searches (~) are not supported: %(term)s") % {"term": _shown(node)})
        if isinstance(node, t.Boost):
            raise InvalidQuery(_("Boosts (^) are not supported: %(term)s") % {"term": _shown(node)})
        if isinstance(node, t.Phrase):
            return self.resolver.term(field, Value(text=node.unescaped_value[1:-1], quoted=True))
        if isinstance(node, t.Word):
            return self.word(node, field)
        raise InvalidQuery(_("This part of the query is not supported: %(term)s") % {"term": _shown(node)})

    def search_field(self, node: object, outer: str | None) -> Q:
        from luqum import tree as t

        assert isinstance(node, t.SearchField)
        if outer is not None:
            raise InvalidQuery(_("A field cannot hold another field: %(term)s") % {"term": _shown(node)})
        if node.name.startswith("!"):
            raise _symbol_operator(node)
        name = t.Term.WORD_ESCAPED_CHARS.sub(r"\1", node.name)
        if name == EXISTS_FIELD:
            expr = node.expr
            if isinstance(expr, t.Word) and _symbol(expr):
                raise _symbol_operator(expr)  # _exists_:!email is no "not exists": it answered nobody
            if not isinstance(expr, t.Word) or expr.has_wildcard():
                raise InvalidQuery(_("_exists_ takes one field name: %(term)s") % {"term": _shown(node)})
            return self.resolver.exists(expr.unescaped_value)
        if isinstance(node.expr, (t.Prohibit, t.Plus, t.Not)):
            # Lucene's grammar puts a sign or NOT before the field, never after its colon (Clause ::= ["+", "-"]
            # [<TERM> ":"] (<TERM> | "(" Query ")")), so Auth0 refuses "balance:-5"; luqum reads it as NOT balance:5,
            # which answered every other user, and "phone_number:+1415..." as the number without its "+".
            raise InvalidQuery(
                _(
                    "A field's value cannot start with a sign or NOT: %(term)s. Quote or escape a value that starts "
                    'with - or + (field:"-5", field:\\-5); to exclude, put the sign before the field (-field:5).'
                )
                % {"term": _shown(node)}
            )
        return self.node(node.expr, name)

    def word(self, node: object, field: str | None) -> Q:
        from luqum import tree as t

        assert isinstance(node, t.Word)
        if _symbol(node):
            raise _symbol_operator(node)
        if "?" in [char for _span, char in node.iter_wildcards()]:
            raise InvalidQuery(_("The ? wildcard is not supported: %(term)s") % {"term": _shown(node)})
        if not node.has_wildcard():
            return self.resolver.term(field, Value(text=node.unescaped_value, quoted=False))
        parts: list[str | None] = []
        for piece in node.split_wildcards():
            if piece == "*":
                if not parts or parts[-1] is not None:
                    parts.append(None)  # consecutive stars are one
            elif piece:
                parts.append(t.Term.WORD_ESCAPED_CHARS.sub(r"\1", piece))
        value = Value(text=node.unescaped_value, quoted=False, parts=tuple(parts))
        if value.only_wildcards:
            return MATCH_ALL if field is None else self.resolver.exists(field)
        return self.resolver.term(field, value)

    @staticmethod
    def bound_text(node: object) -> str | None:
        from luqum import tree as t

        if isinstance(node, t.Word) and node.value == "*":
            return None
        if isinstance(node, t.Prohibit) and isinstance(node.a, t.Word):  # luqum reads a bound "-5" as NOT 5
            return "-" + node.a.unescaped_value
        if isinstance(node, t.Phrase):
            return node.unescaped_value[1:-1]
        if isinstance(node, t.Word):
            return node.unescaped_value
        raise InvalidQuery(_("A range takes plain values: %(term)s") % {"term": _shown(node)})

    def implicit(self, node: object, field: str | None) -> Q:
        """Terms side by side: Lucene's default operator, OR, with ``+`` terms required and ``-`` terms excluded
        (a ``+`` term makes the plain ones optional, as in Lucene)."""
        from luqum import tree as t

        children = list(node.children)  # type: ignore[attr-defined]
        required = [self.node(c.a, field) for c in children if isinstance(c, t.Plus)]
        excluded = [self.node(c.a, field) for c in children if isinstance(c, t.Prohibit)]
        optional = [self.node(c, field) for c in children if not isinstance(c, (t.Plus, t.Prohibit))]
        result = MATCH_ALL
        if required:
            result = self.combine(required, and_=True)
        elif optional:
            result = self.combine(optional, and_=False)
        for q in excluded:
            result &= ~q
        return result

    @staticmethod
    def combine(parts: list[Q], *, and_: bool) -> Q:
        result = parts[0]
        for part in parts[1:]:
            result = (result & part) if and_ else (result | part)
        return result


def _symbol(word: Any) -> bool:
    """Whether the luqum ``Word`` ``word`` is Lucene's ``&&`` or ``||``, or starts with its ``!`` (unescaped)."""
    return word.value in ("&&", "||") or word.value.startswith("!")


def _symbol_operator(node: object) -> InvalidQuery:
    """Lucene's ``&&``, ``||`` and ``!`` (Elasticsearch's query_string reads them as AND, OR and NOT): luqum reads
    them as a term and a field name, so ``a:x && b:y`` answered ``a:x OR b:y`` and ``!a:x`` nobody. Refused, naming
    the words to write (an escaped ``\\!`` or ``\\&`` is a character like any other)."""
    return InvalidQuery(
        _("The operators &&, || and ! are not supported: write AND, OR and NOT (%(term)s).") % {"term": _shown(node)}
    )


def _shown(node: object) -> str:
    """The query text of ``node``, cut short for a message."""
    text = str(node).strip()
    return text if len(text) <= 80 else text[:77] + "..."


# --- wildcard patterns ----------------------------------------------------------------------------------------------


def like_pattern(parts: tuple[str | None, ...]) -> str:
    """A SQL LIKE pattern (escape character ``\\``) for wildcard ``parts``: ``%`` for each ``*``, literal ``%``,
    ``_`` and ``\\`` escaped."""
    out = []
    for part in parts:
        if part is None:
            out.append("%")
        else:
            out.append(part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    return "".join(out)


def glob_pattern(parts: tuple[str | None, ...]) -> str:
    """A SQLite GLOB pattern (case-sensitive, unlike SQLite's LIKE) for wildcard ``parts``: ``*`` for each ``*``,
    the literal ``*``, ``?`` and ``[`` each in brackets."""
    out = []
    for part in parts:
        if part is None:
            out.append("*")
        else:
            out.append("".join(f"[{c}]" if c in "*?[" else c for c in part))
    return "".join(out)


class Wildcard(Lookup):
    """``field__wildcard=parts``: the column matches the wildcard ``parts`` (from ``Value.parts``), case-sensitively:
    ``LIKE`` on PostgreSQL (a btree ``varchar_pattern_ops`` index serves a prefix, a ``pg_trgm`` GIN index any pattern
    with 3 literal characters), ``GLOB`` on SQLite (whose ``LIKE`` ignores ASCII case).

    A lookup rather than an expression so that Django's ``NOT`` adds ``column IS NOT NULL`` for a nullable column,
    and the plain predicate stays what an index matches. Registered on ``CharField`` by ``core.apps``.
    """

    lookup_name = "wildcard"
    prepare_rhs = False

    def pattern_sql(self, connection: Any) -> str:
        """The SQL of the pattern parameter (``FoldedWildcard`` lower-cases it)."""
        return "%s"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        parts = tuple(self.rhs)
        pattern = self.pattern_sql(connection)
        if connection.vendor == "sqlite":
            return f"{lhs_sql} GLOB {pattern}", [*lhs_params, glob_pattern(parts)]
        return f"{lhs_sql} LIKE {pattern} ESCAPE '\\'", [*lhs_params, like_pattern(parts)]


# --- case folding ---------------------------------------------------------------------------------------------------

SQLITE_LOWER = "userdir_lower"


def fold_case(text: str) -> str:
    """``text`` lower-cased as PostgreSQL's ``lower()`` does under a libc collation (the server's default
    provider; ``C.UTF-8``, ``en_US.UTF-8``): each code point on its own, by Unicode's simple lower-case mapping.

    Python's ``str.lower`` is the full mapping, which differs in two places only: ``İ`` (U+0130) becomes ``i`` plus
    U+0307 COMBINING DOT ABOVE there and ``i`` here, and a word-final ``Σ`` becomes the final sigma (U+03C2) there
    and the plain sigma (U+03C3) here.
    Everything else is the same (``tests/test_search_case_folding.py`` compares every code point with PostgreSQL).
    So ``ß`` stays ``ß`` (``STRASSE`` does not find ``Straße``; ``STRAẞE``, with the capital sharp s, does) and
    ``İstanbul``, ``ISTANBUL`` and ``istanbul`` are one name, while the dotless i (U+0131) stays a letter of its own.
    A database created with the ICU provider lower-cases ``İ`` to two code points instead; this is the libc one.
    """
    if text.isascii():
        return text.lower()
    return text.replace("\u0130", "i").replace("\u03a3", "\u03c3").lower()


def sqlite_lower(text: object) -> object:
    """``userdir_lower(text)``: ``fold_case`` for a text, the value itself otherwise (NULL stays NULL). SQLite's own
    ``lower()`` folds ASCII letters only."""
    return fold_case(text) if isinstance(text, str) else text


def register_sqlite_lower(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: give each SQLite connection ``userdir_lower``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_LOWER, 1, sqlite_lower, deterministic=True)


def _lower_function(connection: Any) -> str:
    return SQLITE_LOWER if connection.vendor == "sqlite" else "LOWER"


class FoldedLower(Lower):
    """``column__lower``: ``lower(column)`` on PostgreSQL (what the ``lower(column)`` indexes of users 0005 hold),
    ``userdir_lower(column)`` on SQLite (``fold_case``: the same answer for every letter, not ASCII's only).

    Its comparisons (``exact``, ``gt``, ``gte``, ``lt``, ``lte``, ``wildcard``) lower-case their value with the same
    function in SQL, so both sides are folded by one rule whatever the database. Registered on ``CharField`` by
    ``core.apps`` in place of Django's ``Lower``.
    """

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(compiler, connection, function=SQLITE_LOWER, **extra_context)


class _FoldedValue:
    """A comparison whose value is lower-cased in SQL by ``FoldedLower``'s function (a constant: PostgreSQL folds
    ``lower('...')`` while planning, so the index conditions stay what they were)."""

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        sql, params = super().process_rhs(compiler, connection)  # type: ignore[misc]
        return f"{_lower_function(connection)}({sql})", params


@FoldedLower.register_lookup
class FoldedExact(_FoldedValue, lookups.Exact):
    pass


@FoldedLower.register_lookup
class FoldedGreaterThan(_FoldedValue, lookups.GreaterThan):
    pass


@FoldedLower.register_lookup
class FoldedGreaterThanOrEqual(_FoldedValue, lookups.GreaterThanOrEqual):
    pass


@FoldedLower.register_lookup
class FoldedLessThan(_FoldedValue, lookups.LessThan):
    pass


@FoldedLower.register_lookup
class FoldedLessThanOrEqual(_FoldedValue, lookups.LessThanOrEqual):
    pass


@FoldedLower.register_lookup
class FoldedWildcard(Wildcard):
    """``column__lower__wildcard=parts``: the pattern lower-cased by the column's function (``%``, ``_``, ``\\`` and
    GLOB's brackets have no case)."""

    def pattern_sql(self, connection: Any) -> str:
        return f"{_lower_function(connection)}(%s)"


def date_period(text: str, field: str) -> tuple[datetime | None, datetime | None]:
    """The instants ``[start, end)`` that ``text`` names: a year (``2026``), a month (``2026-01``), a day
    (``2026-01-31``) or an instant (ISO 8601, UTC when no offset is given; ``end`` is one microsecond later).
    Raises ``InvalidQuery`` (400 ``invalid_query_string``) for any other text.

    ``None`` is an instant after the last one Python's ``datetime`` holds (9999-12-31T23:59:59.999999Z): the end
    of ``9999``, ``9999-12`` or ``9999-12-31``, either end of an instant past it (``9999-12-31T23:00:00-02:00``).
    An instant before the first one (``0001-01-01T00:00:00+01:00``) is clamped to it: nothing stored is earlier.
    ``date_bounds`` turns them into conditions.

    A range's inclusive upper bound ends with its period and an exclusive one before it starts, so
    ``last_login:[* TO 2017-12]`` holds all of December 2017 and ``updated_at:{2018-01-15 TO *]`` starts after
    that day (Auth0's migration table reads them so)."""
    try:
        if len(text) == 4 and text.isascii() and text.isdigit():
            start = datetime(int(text), 1, 1, tzinfo=UTC)
            return start, _later(lambda: start.replace(year=start.year + 1))
        if len(text) == 7 and text[4] == "-":
            day = date.fromisoformat(f"{text}-01")
            start = datetime(day.year, day.month, 1, tzinfo=UTC)
            return start, _later(lambda: datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC))
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, _later(lambda: start + timedelta(days=1))
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidQuery(
            _("%(field)s takes a date such as 2026-01-31 or 2026-01-31T10:00:00Z, not %(value)s.")
            % {"field": field, "value": text[:80]}
        ) from exc
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    else:
        offset = instant.utcoffset() or timedelta(0)
        try:
            instant = instant.astimezone(UTC)
        except OverflowError:  # past either end of the calendar once in UTC
            if offset > timedelta(0):
                return _FIRST_INSTANT, _FIRST_INSTANT
            return None, None
    return instant, _later(lambda: instant + timedelta(microseconds=1))


_FIRST_INSTANT = datetime.min.replace(tzinfo=UTC)


def _later(compute: Callable[[], datetime]) -> datetime | None:
    """``compute()``, or ``None`` when it is past the last instant ``datetime`` holds."""
    try:
        return compute()
    except (OverflowError, ValueError):  # timedelta past 9999 overflows; datetime(10000, ...) is a ValueError
        return None


def date_bounds(column: str, low: Bound, high: Bound, field: str) -> Q:
    """The condition on the date ``column`` for the range ``low`` to ``high`` (ends from ``date_period``): an
    inclusive low bound from its period's start, an exclusive one from its end; an inclusive high bound up to its
    period's end, an exclusive one up to its start. An end past the calendar (``[* TO 9999-12-31]``) bounds
    nothing; a start past it (``{9999-12-31 TO *]``) admits nothing. Raises ``InvalidQuery`` for a bad date."""
    q = Q(**{f"{column}__isnull": False})
    if low.text is not None:
        start, end = date_period(low.text, field)
        q &= _from(column, start if low.inclusive else end)
    if high.text is not None:
        start, end = date_period(high.text, field)
        q &= _before(column, end if high.inclusive else start)
    return q


def date_term(column: str, text: str, field: str) -> Q:
    """The condition on the date ``column`` for one period or instant (``date_period``)."""
    start, end = date_period(text, field)
    return _from(column, start) & _before(column, end)


def _from(column: str, instant: datetime | None) -> Q:
    return MATCH_NOTHING if instant is None else Q(**{f"{column}__gte": instant})


def _before(column: str, instant: datetime | None) -> Q:
    return Q(**{f"{column}__isnull": False}) if instant is None else Q(**{f"{column}__lt": instant})


# Auth0 ("User Search Query Syntax"): "For other uses of wildcards (e.g. suffix matching), literals must have 3
# characters or more. For example, name:*usa is allowed, but name:*sa is not."
MIN_WILDCARD_LITERALS = 3


def check_wildcard(value: Value, field: str) -> None:
    """Refuse a wildcard term that does not start with its text and has fewer than 3 literal characters (Auth0: "For
    other uses of wildcards (e.g. suffix matching), literals must have 3 characters or more"): ``InvalidQuery``."""
    parts = value.parts or ()
    if parts and parts[0] is None and value.literal_length < MIN_WILDCARD_LITERALS:
        raise InvalidQuery(
            _(
                "A wildcard search that does not start with its text needs at least %(count)s characters besides "
                "the wildcards: %(field)s:%(term)s"
            )
            % {"count": MIN_WILDCARD_LITERALS, "field": field, "term": value.text}
        )


def no_wildcard(value: Value, field: str) -> None:
    """Refuse a wildcard on a field that takes none (dates, numbers, booleans): ``InvalidQuery``."""
    if value.is_wildcard:
        raise InvalidQuery(_("Wildcard searches are not available on %(field)s.") % {"field": field})
