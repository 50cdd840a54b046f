"""Tests on the values at a path inside a JSON column, the same on PostgreSQL and SQLite.

A path is a tuple of object keys; like Auth0's metadata search it goes through arrays ("to search fields in objects
nested in arrays, use the path to the field and ignore the array level", Auth0: "User Search Query Syntax"), and
a value that is an array is searched by its items. Nulls, empty arrays and empty objects are not values (Auth0:
"Metadata fields that contain an empty array, empty object, or null value are not indexed and cannot be searched
for").

- PostgreSQL: ``column @? '<jsonpath>'`` in lax mode (which unwraps arrays at each member accessor and filter), so a
  GIN index on the column (``jsonb_ops``) serves equality and existence. The jsonpath text is built here with every
  key and value written as a JSON string literal (``json.dumps``: quotes, backslashes and control characters
  escaped), and it is sent as a bound parameter, so neither a key nor a value can change the path or the SQL.
- SQLite: the same test in Python (``matches``), registered as the deterministic SQL function
  ``userdir_json_match(column, spec)`` on each connection (``core.apps``). It reads every row's JSON (no index), which
  suits the development and test databases SQLite serves here.

``JsonMatch`` is the Django expression. It is NULL where the column is NULL: callers AND it with ``column IS NOT
NULL`` (users.search does), so that ``NOT`` keeps such rows while the bare ``@?`` stays visible to the index.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.db.models import BooleanField, F, Func

Op = Literal["eq", "exists", "like", "range"]

SQLITE_FUNCTION = "userdir_json_match"

# A value that is indexed: not null, not an empty object, not an empty array (the filter has unwrapped one level).
_PRESENT = '@.type() != "null" && (@.type() != "object" || exists(@.*)) && (@.type() != "array" || exists(@[*]))'

# Characters with a meaning in XQuery regular expressions (jsonpath's like_regex): escaped in literal parts.
_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\-")


@dataclass(frozen=True)
class JsonTest:
    """One test on the values at ``keys``.

    - ``eq``: a string equal to ``text``; a number equal to it when ``text`` is a number; ``true``/``false`` when
      ``text`` is one of them.
    - ``exists``: any value (not null, not an empty array or object).
    - ``like``: a string matching ``parts`` (literal texts, ``None`` for ``*``, anchored at both ends).
    - ``range``: numbers (both bounds numbers or open) or strings (otherwise) between ``low`` and ``high``.
    """

    keys: tuple[str, ...]
    op: Op
    text: str = ""
    parts: tuple[str | None, ...] = ()
    low: str | None = None
    high: str | None = None
    include_low: bool = True
    include_high: bool = True

    def as_json(self) -> str:
        return json.dumps(
            {
                "keys": list(self.keys),
                "op": self.op,
                "text": self.text,
                "parts": list(self.parts),
                "low": self.low,
                "high": self.high,
                "include_low": self.include_low,
                "include_high": self.include_high,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JsonTest:
        data = json.loads(text)
        return cls(
            keys=tuple(data["keys"]),
            op=data["op"],
            text=data["text"],
            parts=tuple(data["parts"]),
            low=data["low"],
            high=data["high"],
            include_low=data["include_low"],
            include_high=data["include_high"],
        )


def as_number(text: str | None) -> int | float | None:
    """``text`` as a JSON number (``42``, ``-1.5``, ``1e3``), else None; no NaN, no infinity.

    A whole number stays an ``int`` at any size (``1`` and 400 zeros): JSON and PostgreSQL's jsonpath hold it exactly,
    and Python compares it with floats exactly; ``math.isfinite`` would raise ``OverflowError`` converting it."""
    if text is None or not text.isascii():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text)


# --- PostgreSQL: jsonpath -------------------------------------------------------------------------------------------


def _literal(value: str) -> str:
    """A jsonpath string literal: JSON's escapes are jsonpath's."""
    return json.dumps(value)


def _path(keys: tuple[str, ...]) -> str:
    return "$" + "".join(f".{_literal(key)}" for key in keys)


def _number(value: int | float) -> str:
    return json.dumps(value)


def _regex(parts: tuple[str | None, ...]) -> str:
    pieces = ["^"]
    for part in parts:
        if part is None:
            pieces.append(".*")
        else:
            pieces.append("".join("\\" + c if c in _REGEX_SPECIAL else c for c in part))
    pieces.append("$")
    return "".join(pieces)


def jsonpaths(test: JsonTest) -> list[str]:
    """The jsonpath texts whose conjunction (``@?`` each) is ``test`` on PostgreSQL; the first, where there are
    two, is a plain path or equality a GIN index answers, the second the exact condition."""
    path = _path(test.keys)
    if test.op == "exists":
        return [path, f"{path} ? ({_PRESENT})"]
    if test.op == "eq":
        choices = [f"@ == {_literal(test.text)}"]
        number = as_number(test.text)
        if number is not None:
            choices.append(f"@ == {_number(number)}")
        boolean = as_boolean(test.text)
        if boolean is not None:
            choices.append(f"@ == {'true' if boolean else 'false'}")
        return [f"{path} ? ({' || '.join(choices)})"]
    if test.op == "like":
        return [path, f'{path} ? (@ like_regex {_literal(_regex(test.parts))} flag "s")']
    conditions = []
    numeric = _numeric_range(test)
    for bound, inclusive, sign in ((test.low, test.include_low, ">"), (test.high, test.include_high, "<")):
        if bound is None:
            continue
        literal = _number(as_number(bound)) if numeric else _literal(bound)  # type: ignore[arg-type]
        conditions.append(f"@ {sign}{'=' if inclusive else ''} {literal}")
    if not conditions:
        return jsonpaths(JsonTest(keys=test.keys, op="exists"))
    kind = '@.type() == "number"' if numeric else '@.type() == "string"'
    return [path, f"{path} ? ({kind} && {' && '.join(conditions)})"]


def _numeric_range(test: JsonTest) -> bool:
    bounds = [b for b in (test.low, test.high) if b is not None]
    return bool(bounds) and all(as_number(b) is not None for b in bounds)


# --- Python (SQLite) ------------------------------------------------------------------------------------------------


def lax_values(document: Any, keys: tuple[str, ...]) -> Iterator[Any]:
    """The values at ``keys``, going through arrays as jsonpath's lax mode does: an array met on the way is read
    item by item (one level, as each lax accessor unwraps one), and so is an array found at the end."""
    current = [document]
    for key in keys:
        following: list[Any] = []
        for value in current:
            items = value if isinstance(value, list) else [value]
            following.extend(item[key] for item in items if isinstance(item, dict) and key in item)
        current = following
    for value in current:
        yield from (value if isinstance(value, list) else [value])


def _is_value(value: Any) -> bool:
    return value is not None and value != {} and value != []


def _equals(value: Any, test: JsonTest) -> bool:
    if isinstance(value, bool):
        return value is as_boolean(test.text)
    if isinstance(value, str):
        return value == test.text
    if isinstance(value, (int, float)):
        number = as_number(test.text)
        return number is not None and as_decimal(value) == as_decimal(number)
    return False


def as_decimal(number: int | float) -> Decimal:
    """The number as PostgreSQL's ``jsonb`` holds it: the decimal its JSON text says (``1e+23`` is 10**23 exactly),
    which jsonpath compares. Python compares a float by its binary value (``1e23`` is 99999999999999991611392), so
    SQLite's test found nobody where PostgreSQL's found the user."""
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def _decimal_bound(text: str | None) -> Decimal | None:
    number = as_number(text)
    return None if number is None else as_decimal(number)


def _in_range(value: Any, test: JsonTest) -> bool:
    numeric = _numeric_range(test)
    if numeric:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        value = as_decimal(value)
        low, high = _decimal_bound(test.low), _decimal_bound(test.high)
    else:
        if not isinstance(value, str):
            return False
        low, high = test.low, test.high  # type: ignore[assignment]
    if low is not None and (value < low or (value == low and not test.include_low)):
        return False
    return not (high is not None and (value > high or (value == high and not test.include_high)))


def matches(document: Any, test: JsonTest) -> bool:
    """Whether ``document`` (decoded JSON) passes ``test``; the Python twin of ``jsonpaths``."""
    values = [value for value in lax_values(document, test.keys) if value is not None]
    if test.op == "exists":
        return any(_is_value(value) for value in values)
    if test.op == "eq":
        return any(_equals(value, test) for value in values)
    if test.op == "like":
        return any(isinstance(value, str) and wildcard_match(value, test.parts) for value in values)
    if test.low is None and test.high is None:
        return any(_is_value(value) for value in values)
    return any(_in_range(value, test) for value in values)


def wildcard_match(text: str, parts: tuple[str | None, ...]) -> bool:
    """Whether ``text`` matches ``parts`` (literal texts, ``None`` for ``*``), anchored at both ends.

    The literal runs before the first and after the last ``*`` must be the text's ends; each run between them is
    found leftmost after the one before (``str.find``), which decides a pattern of literals and ``*`` alone. A regular
    expression of several ``.*`` backtracked through every split of the text instead: four wildcards on 300 letters
    took 17 s, five outlasted gunicorn's 30 s worker timeout, all inside SQLite's call of ``userdir_json_match``,
    where the search's timeout (a progress handler between SQLite's steps) cannot stop it.
    """
    runs = [""]
    for part in parts:
        if part is None:
            runs.append("")
        else:
            runs[-1] += part
    if len(runs) == 1:
        return text == runs[0]
    first, *between, last = runs
    end = len(text) - len(last)
    if end < len(first) or not text.startswith(first) or not text.endswith(last):
        return False
    position = len(first)
    for run in between:
        found = text.find(run, position, end)
        if found < 0:
            return False
        position = found + len(run)
    return True


def sqlite_json_match(column: str | None, spec: str) -> int:
    """``userdir_json_match(column, spec)``: 1 when the JSON text ``column`` passes the ``JsonTest`` ``spec``."""
    if column is None:
        return 0
    try:
        document = json.loads(column)
    except ValueError:
        return 0
    return int(matches(document, JsonTest.from_json(spec)))


def register_sqlite_function(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: give each SQLite connection ``userdir_json_match``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 2, sqlite_json_match, deterministic=True)


# --- the expression -------------------------------------------------------------------------------------------------


class JsonMatch(Func):
    """``test`` on the JSON column ``field``, as a boolean (NULL for a NULL column on PostgreSQL)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, field: str, test: JsonTest) -> None:
        super().__init__(F(field))
        self.test = test

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        column_sql, column_params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            paths = jsonpaths(self.test)
            sql = " AND ".join(f"{column_sql} @? %s::jsonpath" for _ in paths)
            params: list[Any] = []
            for path in paths:
                params += [*column_params, path]
            # No COALESCE: it would hide the operator from the GIN index. NULL only for a NULL column, which the
            # callers test first (``column IS NOT NULL AND ...``), so NOT keeps such rows.
            return f"({sql})", params
        return f"({SQLITE_FUNCTION}({column_sql}, %s) = 1)", [*column_params, self.test.as_json()]
