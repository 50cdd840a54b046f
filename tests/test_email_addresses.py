"""One e-mail rule at every entry point (``users.emails``): what Auth0's ``format: email`` refuses, invisible and
compatibility characters and letters whose lower case would change whom an address names are refused by
``POST``/``PATCH /api/v2/users``, ``/dbconnections/signup``, ``POST /v1/users``, the admin's forms and imports;
addresses Auth0 accepts (IDN domains, UTF-8 local parts) are created and stored in a form the API accepts again.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import DB, STRONG_PASSWORD, stored_emails
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
    upload = SimpleUploadedFile("users.json", json.dumps(users).encode(), content_type="application/json")
    response = api.post(
        "/api/v2/jobs/users-imports", {"connection_id": connection.id, "users": upload}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    call_command("run_jobs", "--once")
    job_id = response.json()["id"]
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
