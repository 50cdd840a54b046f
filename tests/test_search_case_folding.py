"""Case folding of the normalised name fields in ``q`` (``name``, ``given_name``, ``family_name``, ``nickname``): any
letter's case, not ASCII's only, and the same answer on SQLite as on PostgreSQL.

PostgreSQL's ``lower()`` under the server's default (libc) collation maps each code point by Unicode's simple
lower-case mapping; SQLite's ``lower()`` folds A-Z only, so ``core.search`` registers ``userdir_lower``
(``core.search.fold_case``) on SQLite connections and lower-cases both the column and the value with it. The
German ß and the Turkish dotted and dotless i are where "lower case" has more than one reading: these tests pin
PostgreSQL's (``STRASSE`` does not find ``Straße``, ``ẞ`` does; ``İstanbul`` is ``istanbul``; the dotless i,
U+0131, is not ``i``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection

from connections.models import Connection
from core.search import fold_case
from tests.helpers import DB, USERS
from users.models import User

pytestmark = pytest.mark.usefixtures("user_connections")

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = {
    "emile": {"name": "émile", "given_name": "Émile", "family_name": "Zola", "nickname": "ÉMILE"},
    "strasse": {"name": "Straße"},
    "istanbul": {"name": "İstanbul"},
    "dotless": {"name": "ıstanbul"},
    "odos": {"name": "ΟΔΟΣ"},
    "kelvin": {"name": "\u212aelvin"},  # KELVIN SIGN: PostgreSQL's lower() makes it k
    "ascii": {"name": "Ann Smith"},
}


@pytest.fixture
def people(user_connections: None) -> dict[str, str]:
    ids = {}
    conn = Connection.objects.get(name=DB)
    for index, (person, fields) in enumerate(NAMES.items()):
        user_id = f"auth0|{index:024x}"
        User.objects.create(
            user_id=user_id, connection=conn, email=f"{person}@example.com", created_at=NOW, updated_at=NOW, **fields
        )
        ids[person] = user_id
    return ids


def found(api: Any, people: dict[str, str], q: str) -> set[str]:
    response = api.get(f"{USERS}?{urlencode({'q': q, 'search_engine': 'v3', 'per_page': 100})}")
    assert response.status_code == 200, response.json()
    by_id = {user_id: name for name, user_id in people.items()}
    return {by_id[user["user_id"]] for user in response.json()}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('name:"ÉMILE"', {"emile"}),
        ("name:émile", {"emile"}),
        ("given_name:ÉMILE", {"emile"}),
        ("given_name:émile", {"emile"}),
        ("nickname:émile", {"emile"}),
        ("family_name:ZOLA", {"emile"}),
        ("ÉMILE", {"emile"}),  # a bare term tries the name fields too
        # wildcards: the pattern is folded as the column is
        ("name:ÉMI*", {"emile"}),
        ("name:*MILE", {"emile"}),
        ("given_name:*MIL*", {"emile"}),
        ("NOT name:ÉMILE", set(NAMES) - {"emile"}),
        # ranges compare folded values
        ("name:[ÉMILE TO ÉMILE]", {"emile"}),
        # German sharp s: lower-casing never turns SS into ß; the capital sharp s (U+1E9E) is ß's upper case
        ("name:STRASSE", set()),
        ("name:strasse", set()),
        ("name:STRAẞE", {"strasse"}),
        ("name:straße", {"strasse"}),
        ("name:STRA*", {"strasse"}),
        # Turkish dotted capital I: İ folds to i, as PostgreSQL's libc lower() does (not to i + U+0307)
        ("name:istanbul", {"istanbul"}),
        ("name:ISTANBUL", {"istanbul"}),
        ("name:İSTANBUL", {"istanbul"}),
        ("name:İst*", {"istanbul"}),
        # the dotless i (U+0131) is a letter of its own: its upper case I folds back to i, not to it
        ("name:ıstanbul", {"dotless"}),
        ("name:ISTANBUL AND NOT name:ıstanbul", {"istanbul"}),
        # Greek: capital sigma folds to the plain sigma (U+03C3) wherever it stands (no final-sigma rule)
        ("name:οδοσ", {"odos"}),
        ("name:ΟΔΟσ", {"odos"}),
        ("name:οδος", set()),
        # the Kelvin sign folds to an ASCII k
        ("name:kelvin", {"kelvin"}),
        ("name:KELVIN", {"kelvin"}),
        ("name:ann*", {"ascii"}),
    ],
)
def test_name_fields_ignore_the_case_of_any_letter(api, people, q, expected):
    assert found(api, people, q) == expected


def test_fold_case_is_postgresql_lower_for_every_code_point():
    """Each code point alone, and the contextual cases (final sigma, İ inside a word) in words."""
    code_points = [chr(i) for i in range(1, 0x110000) if not 0xD800 <= i < 0xE000]
    words = ["ΟΔΟΣ", "ΣΑΣ ΣΑΣ.", "İstanbul", "STRAẞE", "Ǆemal", "ǅemal", "ΆΣ", "Straße"]
    if connection.vendor == "postgresql":
        text = "".join(code_points)
        with connection.cursor() as cursor:
            cursor.execute("SELECT lower(%s)", [text])
            assert cursor.fetchone()[0] == fold_case(text)
            for word in words:
                cursor.execute("SELECT lower(%s)", [word])
                assert cursor.fetchone()[0] == fold_case(word), word
    else:
        with connection.cursor() as cursor:  # the SQLite function is fold_case itself
            cursor.execute("SELECT userdir_lower(%s), userdir_lower(NULL)", ["ΟΔΟΣ İ ẞ"])
            assert cursor.fetchone() == ("οδοσ i ß", None)
    # the two places where Python's full mapping differs from PostgreSQL's simple one
    assert "İ".lower() != fold_case("İ") == "i"
    assert "ΟΔΟΣ".lower() != fold_case("ΟΔΟΣ") == "οδοσ"
    assert all(fold_case(c) == c.lower() for c in code_points if c not in "\u0130\u03a3")


@pytest.mark.parametrize(
    ("q", "index", "condition"),
    [
        ('name:"ÉMILE"', "users_user_name_lower_idx", "Index Cond: (lower((name)::text) = 'émile'::text)"),
        ("given_name:ÉMILE", "users_user_given_name_lower_idx", "= 'émile'::text)"),
        ("name:ÉMI*", "users_user_name_lower_idx", "(lower((name)::text) ~>=~ 'émi'::text)"),
        ("name:*MILE", "users_user_name_trgm_idx", "(lower((name)::text) ~~ '%mile'::text)"),
    ],
)
def test_postgresql_still_reads_the_lower_indexes(people, q, index, condition):
    """PostgreSQL folds ``lower('ÉMILE')`` while planning, so the value's folding in SQL keeps the ``lower(column)``
    btree (equality, prefix) and trigram (suffix) indexes of users 0005 in use."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no index on userdir_lower(column): it reads the table (a development database)")
    from users.search import user_filter

    sql, params = User.objects.filter(user_filter(q)).order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        # A small table is cheaper to scan whole, or to walk in another index's order with a filter (the planner
        # once chose created_at's index for the suffix): only bitmap scans remain, which need a matching index.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
    assert condition in plan, plan
