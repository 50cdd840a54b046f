"""One e-mail rule at every entry point (``users.emails``): what Auth0's ``format: email`` refuses, invisible and
compatibility characters and letters whose lower case would change whom an address names are refused by
``POST``/``PATCH /api/v2/users``, ``/dbconnections/signup``, ``POST /v1/users``, the admin's forms and imports;
addresses Auth0 accepts (IDN domains, UTF-8 local parts) are created and stored in a form the API accepts again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import unicodedata
from collections import defaultdict
from typing import Any
from urllib.parse import quote

import pytest

from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import DB, STRONG_PASSWORD, run_import_job, stored_emails
from users.emails import InvalidEmailAddress, auth0_accepts, check_email_address
from users.models import User

pytestmark = pytest.mark.django_db


# Each passes Django's EmailValidator or validator.js (Auth0), and none may be stored.
REFUSED = {
    "capital-i-with-dot": "\u0130a@example.com",  # lower-cases to "i" + U+0307
    "long-s": "\u017fam@example.com",  # upper case is "S"
    "dotless-i": "\u0131a@example.com",  # upper case is "I"
    "kelvin-sign": "\u212aate@example.com",  # lower-cases to ASCII "kate@..."
    "greek-final-sigma": "\u03bd\u03af\u03ba\u03bf\u03c2@example.gr",  # one of three cases of sigma
    "greek-capital-sigma-at-the-end": "\u039d\u0399\u039a\u039f\u03a3@example.gr",  # stored with a final sigma
    "zero-width-space": "ka\u200bte@example.com",
    "left-to-right-mark": "kate\u200e@example.com",
    "byte-order-mark": "\ufeffkate@example.com",
    "soft-hyphen": "ka\u00adte@example.com",
    "soft-hyphen-in-domain": "kate@exam\u00adple.com",
    "zero-width-space-in-domain": "kate@exam\u200bple.com",
    "fullwidth-at-sign": "kate\uff20example.com",
    "fullwidth-at-in-local-part": "kate\uff20x@example.com",
    "fullwidth-letter-in-domain": "kate@\uff45xample.com",
    "decomposed-accent": "jose\u0301@example.com",  # not NFC: another spelling of josé
    "quoted-local-part": '"kate smith"@example.com',
    "letters-and-digits-tld": "kate@example.c1",  # Django accepts, Auth0 does not
    "no-top-level-domain": "kate@localhost",  # Django accepts, Auth0 does not
    "ip-literal": "kate@[192.0.2.1]",  # Django accepts, Auth0 does not
    # Invisible marks and letters email-validator lets through, and its IDNA step drops from a domain: the first
    # was stored as a second account for kate@example.com.
    "variation-selector-in-domain": "kate@exa\ufe0fmple.com",
    "variation-selector-in-local-part": "ka\ufe0fte@example.com",
    "combining-grapheme-joiner": "ka\u034fte@example.com",
    "hangul-filler": "ka\u115fte@example.com",
}
# What is sent, what is stored: Auth0 accepts each, lower-cased.
ACCEPTED = {
    "utf8-local-part": ("Jos\u00e9@Example.com", "jos\u00e9@example.com"),
    "cyrillic-local-part": (
        "\u041f\u0440\u0438\u0432\u0435\u0442@Example.ru",
        "\u043f\u0440\u0438\u0432\u0435\u0442@example.ru",
    ),
    "chinese-address": ("\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a", "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a"),
    "idn-domain": ("Kate@B\u00fccher.de", "kate@b\u00fccher.de"),
    "punycode-domain": ("kate@XN--bcher-kva.de", "kate@xn--bcher-kva.de"),
    "sharp-s": ("Stra\u00dfe@example.de", "stra\u00dfe@example.de"),
}


def _format_error(email: str) -> tuple[str, str, str]:
    return ("email", "FORMAT", f"Object didn't pass validation for format email: {email}")


def _upper(email: str) -> str:
    """Each letter in upper case where that is one letter (``ß`` stays: ``SS`` is another address)."""
    return "".join(char.upper() if len(char.upper()) == 1 else char for char in email)


def _errors(response: Any) -> list[tuple[str, str, str]]:
    return [(e["field"], e["code"], e["message"]) for e in response.json()["errors"]]


@pytest.fixture
def kate(new_user, connection) -> dict[str, Any]:
    return new_user("kate@example.com")


# --- the rule itself ---------------------------------------------------------------------------------------

# validator.js's own test vectors for isEmail() with its default options, which are the ones z-schema (Auth0's
# validator) uses: test/validators.test.js, "should validate email addresses".
VALIDATOR_JS_VALID = [
    "foo@bar.com",
    "x@x.au",
    "foo@bar.com.au",
    "foo+bar@bar.com",
    "hans.m\u7aefller@test.com",
    "hans@m\u7aefller.com",
    "test|123@m\u7aefller.com",
    "test123+ext@gmail.com",
    "some.name.midd.leNa.me.and.locality+extension@GoogleMail.com",
    '"foobar"@example.com',
    '"  foo  m\u7aefller "@example.com',
    '"foo\\@bar"@example.com',
    f"{'a' * 64}@{'a' * 63}.com",
    f"{'a' * 31}@gmail.com",
    "test@gmail.com",
    "test.1@gmail.com",
    "test@1337.com",
]
VALIDATOR_JS_INVALID = [
    "invalidemail@",
    "invalid.com",
    "@invalid.com",
    "foo@bar.com.",
    "foo@_bar.com",
    "somename@\uff47\uff4d\uff41\uff49\uff4c.com",
    "foo@bar.co.uk.",
    "z@co.c",
    "\uff47\uff4d\uff41\uff49\uff4c" * 5 + "@gmail.com",
    f"{'a' * 64}@{'a' * 251}.com",
    f"{'a' * 65}@{'a' * 250}.com",
    f"{'a' * 64}@{'a' * 64}.com",
    f"{'a' * 64}@{'a' * 63}.{'a' * 63}.{'a' * 63}.{'a' * 58}.com",
    *(f"test@invalid.co{space}m" for space in "\u2002\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"),
    "multiple..dots@stillinvalid.com",
    "test123+invalid! sub_address@gmail.com",
    "gmail...ignores...dots...@gmail.com",
    "ends.with.dot.@gmail.com",
    'wrong()[]",:;<>@@gmail.com',
    '"wrong()[]",:;<>@@gmail.com',
    "username@domain.com\ufffd",
    "username@domain.com\u00a9",
    "nbsp\u00a0test@test.com",
    "nbsp_test@te\u00a0st.com",
    "nbsp_test@test.co\u00a0m",
    '"foobar@gmail.com',
    '"foo"bar@gmail.com',
    'foo"bar"@gmail.com',
]


# Tricky inputs: (what, text, Auth0's answer, ours). Auth0's answer is z-schema 6.0.2's ``format: email`` (validator
# 13.15.35) run under Node.js on each text; ``test_auth0s_answers_are_z_schemas`` re-runs it where Node.js is set up.
# Ours refuses more, never less: see users.emails for why.
TRICKY = [
    ("plain", "kate@example.com", True, True),
    ("ZWSP U+200B local", "ka\u200bte@example.com", True, False),
    ("ZWNJ U+200C local", "ka\u200cte@example.com", True, False),
    ("ZWJ U+200D local", "ka\u200dte@example.com", True, False),
    ("ZWJ U+200D domain", "kate@exa\u200dmple.com", True, False),
    ("WORD JOINER U+2060", "ka\u2060te@example.com", True, False),
    ("INVISIBLE TIMES U+2062", "ka\u2062te@example.com", True, False),
    ("BOM U+FEFF", "\ufeffkate@example.com", True, False),
    ("LRM U+200E", "kate\u200e@example.com", True, False),
    ("RLM U+200F", "kate\u200f@example.com", True, False),
    ("RLO U+202E", "\u202ekate@example.com", True, False),
    ("LRI U+2066", "\u2066kate@example.com", True, False),
    ("ALM U+061C", "ka\u061cte@example.com", True, False),
    ("soft hyphen U+00AD", "ka\xadte@example.com", True, False),
    ("soft hyphen domain", "kate@exam\xadple.com", True, False),
    ("tag char U+E0041 local", "kate\U000e0041@example.com", False, False),
    ("tag char U+E0041 domain", "kate@example\U000e0041.com", True, False),
    ("CANCEL TAG U+E007F domain", "kate@exa\U000e007fmple.com", True, False),
    ("VS16 U+FE0F local", "ka\ufe0fte@example.com", True, False),
    ("VS16 U+FE0F domain", "kate@exa\ufe0fmple.com", True, False),
    ("VS17 U+E0100 domain", "kate@exa\U000e0100mple.com", True, False),
    ("CGJ U+034F local", "ka\u034fte@example.com", True, False),
    ("Mongolian FVS1 U+180B", "ka\u180bte@example.com", True, False),
    ("Mongolian vowel sep U+180E", "ka\u180ete@example.com", True, False),
    ("Khmer inherent U+17B4", "ka\u17b4te@example.com", True, False),
    ("Hangul choseong filler U+115F", "ka\u115fte@example.com", True, False),
    ("Hangul jungseong filler U+1160", "ka\u1160te@example.com", True, False),
    ("Hangul filler U+3164", "ka\u3164te@example.com", True, False),
    ("halfwidth Hangul filler U+FFA0", "ka\uffa0te@example.com", True, False),
    ("braille blank U+2800", "ka\u2800te@example.com", True, False),
    ("shorthand format U+1BCA0", "ka\U0001bca0te@example.com", False, False),
    ("musical begin beam U+1D173", "kate@exa\U0001d173mple.com", True, False),
    ("combining accent first", "\u0301kate@example.com", True, False),
    ("combining accent after @", "kate@\u0301example.com", True, False),
    ("NBSP", "ka\xa0te@example.com", False, False),
    ("ideographic space", "ka\u3000te@example.com", True, False),
    ("line separator U+2028", "ka\u2028te@example.com", True, False),
    ("private use U+E000", "ka\ue000te@example.com", False, False),
    ("unassigned U+0378", "ka\u0378te@example.com", True, False),
    ("NUL", "ka\x00te@example.com", False, False),
    ("fullwidth @ U+FF20", "kate\uff20example.com", False, False),
    ("small @ U+FE6B", "kate\ufe6bexample.com", False, False),
    ("fullwidth dot U+FF0E domain", "kate@example\uff0ecom", False, False),
    ("ideographic dot U+3002 domain", "kate@example\u3002com", False, False),
    ("halfwidth ideographic dot U+FF61", "kate@example\uff61com", False, False),
    ("fullwidth letters local", "\uff4bate@example.com", True, False),
    ("fullwidth letters domain", "kate@\uff45xample.com", False, False),
    ("math bold letters local", "\U0001d424ate@example.com", False, False),
    ("Kelvin sign", "\u212aate@example.com", True, False),
    ("dotless i", "\u0131a@example.com", True, False),
    ("capital I dot", "\u0130a@example.com", True, False),
    ("final sigma", "\u03bd\u03af\u03ba\u03bf\u03c2@example.gr", True, False),
    ("decomposed e + acute", "jose\u0301@example.com", True, False),
    ("precomposed é", "jos\xe9@example.com", True, True),
    ("Cyrillic a homoglyph local", "k\u0430te@example.com", True, True),
    ("Cyrillic a homoglyph domain", "kate@ex\u0430mple.com", True, True),
    ("Greek omicron domain", "kate@g\u03bfogle.com", True, True),
    ("mixed-script punycode domain", "kate@xn--80ak6aa92e.com", True, True),
    ("IDN domain Bücher", "kate@b\xfccher.de", True, True),
    ("punycode domain", "kate@xn--bcher-kva.de", True, True),
    ("malformed punycode label", "kate@xn--zz.de", True, True),
    ("IDN TLD", "kate@example.\u0440\u0444", True, True),
    ("emoji local", "\U0001f600@example.com", False, False),
    ("emoji domain", "kate@\U0001f600.com", True, False),
    ("emoji TLD", "kate@example.\U0001f600\U0001f600", False, False),
    ("CJK address", "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a", True, True),
    ("Arabic local RTL", "\u0645\u062b\u0627\u0644@example.com", True, True),
    ("Hebrew domain RTL", "kate@\u05d3\u05d5\u05d2\u05de\u05d4.com", True, True),
    ("bidi mixed label", "kate@a\u05d0.com", True, False),
    ("sharp s", "stra\xdfe@example.de", True, True),
    ("quoted local simple", '"kate"@example.com', True, False),
    ("quoted local with space", '"kate smith"@example.com', True, False),
    ("quoted local with @", '"kate@x"@example.com', True, False),
    ("quoted local with ZWSP", '"ka\u200bte"@example.com', True, False),
    ("IPv4 literal", "kate@[192.0.2.1]", False, False),
    ("IPv6 literal", "kate@[IPv6:2001:db8::1]", False, False),
    ("bare IPv4 domain", "kate@192.0.2.1", False, False),
    ("trailing dot domain", "kate@example.com.", False, False),
    ("trailing dot local", "kate.@example.com", False, False),
    ("leading dot local", ".kate@example.com", False, False),
    ("double dot local", "ka..te@example.com", False, False),
    ("double dot domain", "kate@example..com", False, False),
    ("no TLD", "kate@localhost", False, False),
    ("numeric TLD", "kate@example.123", False, False),
    ("one-letter TLD", "kate@example.c", False, False),
    ("hyphen label edge", "kate@-example.com", False, False),
    ("underscore domain", "kate@ex_ample.com", False, False),
    ("double hyphen label", "kate@ab--cd.com", True, True),
    ("display name", "Kate <kate@example.com>", False, False),
    ("leading space", " kate@example.com", False, False),
    ("trailing space", "kate@example.com ", False, False),
    ("trailing newline", "kate@example.com\n", False, False),
    ("two @", "kate@x@example.com", False, False),
    ("local 64 bytes", "a" * 64 + "@example.com", True, True),
    ("local 65 bytes", "a" * 65 + "@example.com", False, False),
    (
        "local 22 x é (44 bytes)",
        "\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9@example.com",
        True,
        True,
    ),
    (
        "local 33 x é (66 bytes)",
        "\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9\xe9@example.com",
        False,
        False,
    ),
    ("254 chars", "a" * 64 + "@" + ".".join(["b" * 63, "c" * 63, "d" * 57]) + ".com", True, True),
    ("label 64", "kate@" + "a" * 64 + ".com", False, False),
    ("special chars local", "k!#$%&'*+/=?^_`{|}~te@example.com", True, True),
    ("backslash local", "ka\\te@example.com", False, False),
    ("comment RFC5322", "kate(comment)@example.com", False, False),
    ("uppercase", "KATE@EXAMPLE.COM", True, True),
]


@pytest.mark.parametrize(("what", "text", "auth0", "ours"), TRICKY, ids=[row[0] for row in TRICKY])
def test_tricky_inputs_auth0s_answer_and_ours(what: str, text: str, auth0: bool, ours: bool) -> None:
    assert auth0_accepts(text) is auth0
    try:
        check_email_address(text)
    except InvalidEmailAddress:
        accepted = False
    else:
        accepted = True
    assert accepted is ours
    assert auth0 or not ours  # never accept what Auth0 refuses


def test_auth0s_answers_are_z_schemas() -> None:
    """Set ``ZSCHEMA_NODE_PATH`` to a ``node_modules`` holding z-schema 6 (``npm install z-schema@6``) to check the
    recorded answers of ``TRICKY`` against the real thing."""
    node_path = os.environ.get("ZSCHEMA_NODE_PATH")
    if not node_path or shutil.which("node") is None:
        pytest.skip("ZSCHEMA_NODE_PATH is not set (or node is missing)")
    script = (
        "const Z = require('z-schema'); const v = new Z(); let d = '';"
        "process.stdin.on('data', c => d += c);"
        "process.stdin.on('end', () => console.log(JSON.stringify("
        "JSON.parse(d).map(s => v.validate(s, {type: 'string', format: 'email'})))));"
    )
    texts = [row[1] for row in TRICKY]
    run = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NODE_PATH": node_path},
    )
    assert dict(zip(texts, json.loads(run.stdout), strict=True)) == {row[1]: row[2] for row in TRICKY}


def test_the_port_of_auth0s_check_agrees_with_validator_js_own_tests() -> None:
    assert [email for email in VALIDATOR_JS_VALID if not auth0_accepts(email)] == []
    assert [email for email in VALIDATOR_JS_INVALID if auth0_accepts(email)] == []


@pytest.mark.parametrize("email", VALIDATOR_JS_INVALID)
def test_whatever_auth0_refuses_is_refused(email: str) -> None:
    with pytest.raises(InvalidEmailAddress):
        check_email_address(email)


@pytest.mark.parametrize(
    ("lookalike", "letter"),
    [
        ("\u212a", "K"),  # Kelvin sign
        ("\u2126", "\u03a9"),  # Ohm sign, Greek capital omega
        ("\u212b", "\u00c5"),  # Angstrom sign, A with ring
        ("\u00b5", "\u03bc"),  # micro sign, Greek mu
        ("\u017f", "s"),  # long s
        ("\u0131", "i"),  # dotless i
        ("\u0130", "I"),  # capital I with dot above
        ("\u03c2", "\u03c3"),  # final sigma
        ("\u03d0", "\u03b2"),  # beta symbol
        ("\u03d1", "\u03b8"),  # theta symbol
        ("\u1c80", "\u0432"),  # Cyrillic rounded ve
        ("\u1e9b", "\u1e61"),  # long s with dot above, s with dot above
    ],
)
def test_a_letter_with_a_second_case_mapping_is_refused_and_its_plain_letter_accepted(lookalike, letter) -> None:
    with pytest.raises(InvalidEmailAddress):
        check_email_address(f"{lookalike}x@example.com")
    check_email_address(f"{letter}x@example.com")


def test_no_two_accepted_letters_are_stored_alike_unless_they_are_each_others_case() -> None:
    """Every cased letter in Unicode, as the local part: lower-casing may only merge an upper/lower pair."""
    stored: dict[str, set[str]] = defaultdict(set)
    for code in range(0x80, 0x110000):
        char = chr(code)
        if unicodedata.category(char) not in ("Lu", "Ll", "Lt", "Lm"):
            continue
        try:
            check_email_address(f"{char}@example.com")
        except InvalidEmailAddress:
            continue
        stored[char.lower()].add(char)
    merged = {lower: chars for lower, chars in stored.items() if chars - {lower, lower.upper()}}
    assert merged == {}
    for lower in stored:  # the stored form is accepted too (a refusal raises InvalidEmailAddress)
        check_email_address(f"{lower}@example.com")


# --- every entry point refuses the same addresses ------------------------------------------------------------


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_create_refuses(api, connection, email: str) -> None:
    response = api.post("/api/v2/users", {"connection": DB, "email": email, "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"
    assert _errors(response) == [_format_error(email)]
    assert not User.objects.exists()


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_patch_refuses(api, kate, email: str) -> None:
    response = api.patch(f"/api/v2/users/{quote(kate['user_id'])}", {"email": email}, format="json")
    assert response.status_code == 400
    assert _errors(response) == [_format_error(email)]
    assert User.objects.get().email == "kate@example.com"


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_signup_refuses(api_client, signup_app, email: str) -> None:
    body = {"client_id": signup_app.client_id, "connection": DB, "email": email, "password": STRONG_PASSWORD}
    response = api_client.post("/dbconnections/signup", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"
    assert _errors(response) == [_format_error(email)]
    assert not User.objects.exists()


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_v1_refuses(api, connection, email: str) -> None:
    response = api.post("/v1/users", {"email": email, "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert _errors(response) == [_format_error(email)]
    assert not User.objects.exists()


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_admin_add_form_refuses(admin_client, connection, email: str) -> None:
    form = {"email": email, "password": STRONG_PASSWORD, "user_metadata": "", "app_metadata": ""}
    response = admin_client.post(f"/admin/users/user/add/?connection={connection.pk}", form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [_format_error(email)[2]]
    assert not User.objects.exists()


@pytest.mark.parametrize("email", REFUSED.values(), ids=REFUSED.keys())
def test_admin_change_form_refuses(admin_client, kate, email: str) -> None:
    user = User.objects.get()
    form = {"email": email, "blocked": "", "user_metadata": "", "app_metadata": "", "new_password": ""}
    response = admin_client.post(f"/admin/users/user/{user.pk}/change/", form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [_format_error(email)[2]]
    assert User.objects.get().email == "kate@example.com"


def test_admin_form_checks_the_address_as_typed(admin_client, connection) -> None:
    form = {"email": " kate@example.com ", "password": STRONG_PASSWORD, "user_metadata": "", "app_metadata": ""}
    response = admin_client.post(f"/admin/users/user/add/?connection={connection.pk}", form)
    assert response.context["adminform"].form.errors["email"] == [_format_error(" kate@example.com ")[2]]
    assert not User.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_import_refuses_each_and_takes_the_accepted(api, connection) -> None:
    users = [{"email": email} for email in REFUSED.values()] + [{"email": sent} for sent, _ in ACCEPTED.values()]
    job_id = run_import_job(api, connection.id, users)
    assert api.get(f"/api/v2/jobs/{job_id}").json()["summary"] == {
        "failed": len(REFUSED),
        "updated": 0,
        "inserted": len(ACCEPTED),
        "total": len(users),
    }
    rejected = {item["user"]["email"]: item["errors"] for item in api.get(f"/api/v2/jobs/{job_id}/errors").json()}
    assert rejected == {
        email: [{"code": "FORMAT", "message": _format_error(email)[2], "path": "email"}] for email in REFUSED.values()
    }
    assert stored_emails() == sorted(stored for _, stored in ACCEPTED.values())


# --- what Auth0 accepts is accepted everywhere, stored in a form the API accepts again ------------------------


@pytest.mark.parametrize(("sent", "stored"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_create_accepts_and_stores_a_form_the_api_accepts_again(api, connection, sent: str, stored: str) -> None:
    response = api.post("/api/v2/users", {"connection": DB, "email": sent, "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["email"] == stored
    user_id = response.json()["user_id"]
    # The stored form passes the documented format: sent back unchanged by PATCH, it is accepted.
    patched = api.patch(f"/api/v2/users/{quote(user_id)}", {"email": stored}, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["email"] == stored
    for text in (sent, stored, _upper(sent)):
        found = api.get("/api/v2/users-by-email", {"email": text}).json()
        assert [user["user_id"] for user in found] == [user_id], text
    # An address differing only by letter case is the same user.
    again = {"connection": DB, "email": _upper(sent), "password": STRONG_PASSWORD}
    assert api.post("/api/v2/users", again, format="json").status_code == 409


@pytest.mark.parametrize(("sent", "stored"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_signup_accepts(api_client, signup_app, sent: str, stored: str) -> None:
    body = {"client_id": signup_app.client_id, "connection": DB, "email": sent, "password": STRONG_PASSWORD}
    response = api_client.post("/dbconnections/signup", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["email"] == stored


@pytest.mark.parametrize(("sent", "stored"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_v1_accepts(api, connection, sent: str, stored: str) -> None:
    response = api.post("/v1/users", {"email": sent, "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["email"] == stored


@pytest.mark.parametrize(("sent", "stored"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_admin_add_form_accepts(admin_client, connection, sent: str, stored: str) -> None:
    form = {"email": sent, "password": STRONG_PASSWORD, "user_metadata": "", "app_metadata": ""}
    response = admin_client.post(f"/admin/users/user/add/?connection={connection.pk}", form)
    assert response.status_code == 302
    assert User.objects.get().email == stored


# --- lookups compare in the stored form ----------------------------------------------------------------------


def test_a_lookalike_finds_nobody_in_users_by_email_or_the_user_list(api, kate) -> None:
    for lookalike in ("\u212aate@example.com", "ka\u200bte@example.com", "\u212aATE@EXAMPLE.COM"):
        assert api.get("/api/v2/users-by-email", {"email": lookalike}).json() == []
        assert api.get("/api/v2/users", {"email": lookalike}).json() == []
    assert [u["user_id"] for u in api.get("/api/v2/users-by-email", {"email": "KATE@example.com"}).json()] == [
        kate["user_id"]
    ]
    assert [u["user_id"] for u in api.get("/api/v2/users", {"email": "Kate@Example.com"}).json()] == [kate["user_id"]]


def test_a_lookalike_cannot_log_in_as_the_address_it_lower_cases_to(api_client, kate) -> None:
    client, secret = create_client(name="app", scopes="read:users", connections=[DB], actor=SYSTEM)

    def log_in(username: str) -> int:
        body = {
            "grant_type": "http://auth0.com/oauth/grant-type/password-realm",
            "realm": DB,
            "client_id": client.client_id,
            "client_secret": secret,
            "username": username,
            "password": STRONG_PASSWORD,
        }
        return api_client.post("/oauth/token", body, format="json").status_code

    assert log_in("\u212aate@example.com") == 403
    assert log_in("KATE@example.com") == 200
