"""Imported password hashes: every supported format verifies its known-good vector and refuses a wrong
password; every schema rule and every cost bound refuses with Auth0's job error code and the dotted path."""

from __future__ import annotations

import copy
import json

import pytest
from django.conf import settings
from django.utils import translation

from users.credentials import hashes as password_hashes
from users.credentials.hashes import (
    HashFormatError,
    normalize_custom_password_hash,
    normalize_password_hash,
    verify_stored_password,
)
from users.credentials.passwords import is_current_bcrypt

B53 = "C" * 53  # a well-formed bcrypt salt and checksum, for the format checks

# --- known-good vectors (RFC test vectors where one exists; the rest made by the reference libraries) --------

PASSWORD_HASH_VECTORS = [
    # OpenBSD / Solar Designer's bcrypt test vector.
    ("bcrypt $2a$", "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    ("bcrypt $2b$", "U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    ("pbkdf2_sha256", "lètmein", "pbkdf2_sha256$1000$seasalt$JgZryXe2Ga8ysg6XbzkLpTdyPQrHqsinbL9BnnhgX4A="),
    ("pbkdf2_sha1", "lètmein", "pbkdf2_sha1$1000$seasalt$ljleU4wBmTtz/MoG5YTwxpM0d7I="),
    (
        "argon2",
        "lètmein",
        "argon2$argon2id$v=19$m=256,t=1,p=1$c2Vhc2FsdHNlYXNhbHQ$Bm+gI4J/yaZHU0sLWI64p6l7K3XTxU+AO0f8NDJyneA",
    ),
    ("bcrypt_sha256", "lètmein", "bcrypt_sha256$$2b$04$Yjpb6geNJOpYpBZMH3Mn9.G02tg5jNkFDdrGDJlTszlH/0QU/uLS6"),
    ("django bcrypt", "lètmein", "bcrypt$$2b$04$t5K1n1JQkGP7DNk.zj7oWuoya4D0x4uh9uNMT62y1BTDLLKIdNhtu"),
    (
        "scrypt",
        "lètmein",
        "scrypt$1024$seasalt$8$1$+qO2jTkVUbPNlniTkHY96ldSJKs4U0WQif8UbWlfO3wJDNhKOg+pPtDckiT6Zw0qkEvKIQ1MdONfGxsWrpoiNg==",
    ),
    ("md5 (salted)", "lètmein", "md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3"),
    ("sha1 (salted)", "lètmein", "sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8"),
]


def _digest(algorithm: str, value: str, encoding: str = "hex", **extra: object) -> dict:
    return {"algorithm": algorithm, "hash": {"value": value, "encoding": encoding}, **extra}


CUSTOM_VECTORS = [
    ("md5 hex", "password", _digest("md5", "5f4dcc3b5aa765d61d8327deb882cf99")),
    ("md5 upper-case hex", "password", _digest("md5", "5F4DCC3B5AA765D61D8327DEB882CF99")),
    ("sha1", "password", _digest("sha1", "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8")),
    ("sha256", "password", _digest("sha256", "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8")),
    ("sha256 base64", "password", _digest("sha256", "XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg=", "base64")),
    (
        "sha256 url-safe base64 unpadded",
        "password",
        _digest("sha256", "XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg", "base64"),
    ),
    (
        "sha512",
        "password",
        _digest(
            "sha512",
            "b109f3bbbc244eb82441917ed06d618b9008dd09b3befd1b5e07394c706a8bb9"
            "80b1d7785e5976ec049b46df5f1326af5a2ea6d103fd07c95385ffab0cacbc86",
        ),
    ),
    (
        "sha512 salt prefix",
        "password",
        _digest(
            "sha512",
            "2p0svfOgDTflOF7HK5wbHP+05l4lkdV8P+FFq+p6aHPQS7uBGa9TyGc8DfxZsfkcaV2Mfod35WxAzaj5yBEKYw==",
            "base64",
            salt={"value": "NaCl"},
        ),
    ),
    (
        "sha256 salt suffix in hex",
        "password",
        _digest(
            "sha256",
            "a288030f844c4476a70645097fb0aa4b5bc64d0351c0f4b149ed56468dcb5034",
            salt={"value": "0102", "encoding": "hex", "position": "suffix"},
        ),
    ),
    (
        "md5 latin1 password",
        "pässword",
        _digest("md5", "0126cf1f6e0dba240af4c5537ca51d0e", password={"encoding": "latin1"}),
    ),
    (
        "md5 utf16le password",
        "pässword",
        _digest("md5", "ccf871c0d2437f8670ecebeac6f422c8", password={"encoding": "utf16le"}),
    ),
    (
        "hmac-sha256 (RFC 4231 case 2)",
        "what do ya want for nothing?",
        {
            "algorithm": "hmac",
            "hash": {
                "value": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "encoding": "hex",
                "digest": "sha256",
                "key": {"value": "4a656665", "encoding": "hex"},
            },
        },
    ),
    ("ldap {MD5}", "password", {"algorithm": "ldap", "hash": {"value": "{MD5}X03MO1qnZdYdgyfeuILPmQ=="}}),
    ("ldap {SMD5}", "password", {"algorithm": "ldap", "hash": {"value": "{SMD5}8lsBmpRwMY1E1g4UFmMfNE5hQ2w="}}),
    ("ldap {SHA}", "password", {"algorithm": "ldap", "hash": {"value": "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}}),
    ("ldap {SSHA}", "password", {"algorithm": "ldap", "hash": {"value": "{SSHA}QCdIktL+AaarHg+95cIrgxLRB4BOYUNs"}}),
    (
        "ldap {SHA256}",
        "password",
        {"algorithm": "ldap", "hash": {"value": "{SHA256}XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg="}},
    ),
    (
        "ldap {SSHA256}",
        "password",
        {"algorithm": "ldap", "hash": {"value": "{SSHA256}AoSAlxEEs3aR9BxDDlngf9TFrg9TMXsqouBs+N27/hBOYUNs"}},
    ),
    (
        "ldap {SHA512}",
        "password",
        {
            "algorithm": "ldap",
            "hash": {
                "value": "{SHA512}sQnzu7wkTrgkQZF+0G1hi5AI3Qmzvv0bXgc5THBqi7mA"
                "sdd4Xll27ASbRt9fEyavWi6m0QP9B8lThf+rDKy8hg=="
            },
        },
    ),
    (
        "ldap {SSHA512}",
        "password",
        {
            "algorithm": "ldap",
            "hash": {
                "value": "{ssha512}tYbIf/bI/HhZZ2dslhzEvDWQNDXWPZk57IcB8/xZ698U"
                "pu3uBGo3dQ5GOJEj+qQsLM75NndOI8FhWhOszXhbCU5hQ2w="
            },
        },
    ),
    (
        "argon2i",
        "password",
        {
            "algorithm": "argon2",
            "hash": {
                "value": "$argon2i$v=19$m=64,t=1,p=1$kXvqK3OjakHe4cpSe196wQ$2WOpVGyGog/0w6rsXlZDT5bNUSynhNPJ/uZCcqpyL9Y"
            },
        },
    ),
    (
        "argon2d",
        "password",
        {
            "algorithm": "argon2",
            "hash": {
                "value": "$argon2d$v=19$m=64,t=1,p=1$XFWHZbbRG4CWEFLyYJo2RQ$hLSzFev37R08Pqeu5LrjzFgECOm4tgvz6VKdOFhbN1c"
            },
        },
    ),
    (
        "argon2id",
        "password",
        {
            "algorithm": "argon2",
            "hash": {
                "value": "$argon2id$v=19$m=64,t=1,p=1$kmigqsLL+tiXYUScLXLRwA"
                "$2kp7XEq7AI5AMEoc7/44HC46NQiu3mvg7kYt0Vo13B0",
                "encoding": "utf8",
            },
        },
    ),
    (
        "bcrypt $2a$",
        "U*U",
        {"algorithm": "bcrypt", "hash": {"value": "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}},
    ),
    (
        "bcrypt $2y$",
        "U*U",
        {"algorithm": "bcrypt", "hash": {"value": "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}},
    ),
    # RFC 6070 PBKDF2-HMAC-SHA1 test vector 1.
    (
        "pbkdf2-sha1 (RFC 6070)",
        "password",
        {"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$i=1,l=20$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"}},
    ),
    (
        "pbkdf2-sha512 default l=64",
        "password",
        {
            "algorithm": "pbkdf2",
            "hash": {
                "value": "$pbkdf2-sha512$i=1000$c2FsdFNBTFRzYWx0U0FMVA"
                "$L+vjhfY5mqKiCpkm0YIuL0mdqnbOXhYw/v74SUJEEwd4SPdh7srb8v5uXaGkjMc/LwzXWI4VCj9tRfIFZqlllw",
                "encoding": "utf8",
            },
        },
    ),
    # RFC 7914 scrypt test vector 2.
    (
        "scrypt (RFC 7914)",
        "password",
        {
            "algorithm": "scrypt",
            "hash": {
                "value": "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
                "encoding": "hex",
            },
            "salt": {"value": "NaCl"},
            "keylen": 64,
            "cost": 1024,
            "blockSize": 8,
            "parallelization": 16,
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "password", "stored"), PASSWORD_HASH_VECTORS, ids=[v[0] for v in PASSWORD_HASH_VECTORS]
)
def test_password_hash_vector_verifies_and_a_wrong_password_does_not(name, password, stored):
    assert normalize_password_hash(stored) == stored
    assert verify_stored_password(password, password_hash=stored, custom_password_hash=None) is True
    assert verify_stored_password(password + "x", password_hash=stored, custom_password_hash=None) is False
    assert verify_stored_password("", password_hash=stored, custom_password_hash=None) is False


@pytest.mark.parametrize(("name", "password", "custom"), CUSTOM_VECTORS, ids=[v[0] for v in CUSTOM_VECTORS])
def test_custom_hash_vector_verifies_and_a_wrong_password_does_not(name, password, custom):
    normalised = normalize_custom_password_hash(copy.deepcopy(custom))
    assert json.loads(json.dumps(normalised)) == normalised
    assert verify_stored_password(password, password_hash=None, custom_password_hash=normalised) is True
    assert verify_stored_password(password + "x", password_hash=None, custom_password_hash=normalised) is False
    assert verify_stored_password(password[:-1], password_hash=None, custom_password_hash=normalised) is False


def test_md4_verifies_where_the_platform_has_it_and_is_refused_where_it_does_not():
    custom = _digest("md4", "8a9d093f14f8701df17732b2bb182c74")  # md4("password")
    if password_hashes.digest_available("md4"):
        normalised = normalize_custom_password_hash(custom)
        assert verify_stored_password("password", password_hash=None, custom_password_hash=normalised)
        assert not verify_stored_password("passw0rd", password_hash=None, custom_password_hash=normalised)
    else:
        _refused(custom, "ENUM_MISMATCH", "custom_password_hash.algorithm")


def test_a_digest_the_platform_lacks_is_refused_at_validation(monkeypatch):
    monkeypatch.setattr(password_hashes, "digest_available", lambda name: name != "sha256")
    with pytest.raises(HashFormatError) as refused:
        normalize_custom_password_hash(_digest("sha256", "00" * 32))
    assert (refused.value.code, refused.value.path) == ("ENUM_MISMATCH", "custom_password_hash.algorithm")
    assert refused.value.message == "Digest sha256 is not available on this server"
    hmac_hash = {
        "algorithm": "hmac",
        "hash": {"value": "00" * 32, "encoding": "hex", "digest": "sha256", "key": {"value": "k"}},
    }
    _refused(hmac_hash, "ENUM_MISMATCH", "custom_password_hash.hash.digest")
    pbkdf2 = {"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha256$i=1,l=20$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"}}
    _refused(pbkdf2, "ENUM_MISMATCH", "custom_password_hash.hash.value")


def test_defaults_are_filled_in():
    assert normalize_custom_password_hash(_digest("md5", "00" * 16, salt={"value": "s"})) == {
        "algorithm": "md5",
        "hash": {"value": "00" * 16, "encoding": "hex"},
        "salt": {"value": "s", "encoding": "utf8", "position": "prefix"},
        "password": {"encoding": "utf8"},
    }
    scrypt = normalize_custom_password_hash(_digest("scrypt", "00" * 32, keylen=32))
    assert (scrypt["cost"], scrypt["blockSize"], scrypt["parallelization"]) == (16384, 8, 1)
    argon2 = normalize_custom_password_hash(ARGON2)
    assert argon2["hash"]["encoding"] == "utf8"
    hmac_hash = normalize_custom_password_hash(
        {"algorithm": "hmac", "hash": {"value": "00" * 20, "encoding": "hex", "digest": "sha1", "key": {"value": "k"}}}
    )
    assert hmac_hash["hash"]["key"] == {"value": "k", "encoding": "utf8"}


# --- refusals -----------------------------------------------------------------------------------------------


def _refused(value, code, path, normalize=normalize_custom_password_hash):
    with pytest.raises(HashFormatError) as refused:
        normalize(value)
    assert (refused.value.code, refused.value.path) == (code, path), refused.value.message
    assert isinstance(refused.value, ValueError)
    return refused.value


PASSWORD_HASH_REFUSALS = [
    ("not a string", 12, "INVALID_TYPE"),
    ("empty", "", "MIN_LENGTH"),
    ("longer than the column", "$2b$10$" + "C" * 249, "MAX_LENGTH"),
    ("bcrypt cost 16", f"$2b$16${B53}", "MAXIMUM"),
    ("bcrypt cost 3", f"$2b$03${B53}", "MINIMUM"),
    ("bcrypt $2y$ (not Auth0's password_hash rule)", f"$2y$10${B53}", "FORMAT"),
    ("bcrypt $2x$", f"$2x$10${B53}", "FORMAT"),
    ("bcrypt 59 characters", f"$2b$10${B53[:-1]}", "FORMAT"),
    ("bcrypt outside its alphabet", f"$2b$10${B53[:-1]}+", "FORMAT"),
    ("unknown scheme", "sha256$salt$abc", "FORMAT"),
    ("plain hex", "5f4dcc3b5aa765d61d8327deb882cf99", "FORMAT"),
    ("pbkdf2 over 10,000,000 iterations", "pbkdf2_sha256$10000001$salt$" + "A" * 43 + "=", "MAXIMUM"),
    ("pbkdf2 zero iterations", "pbkdf2_sha256$0$salt$" + "A" * 43 + "=", "MINIMUM"),
    ("pbkdf2 short digest", "pbkdf2_sha256$1000$salt$AAAA", "FORMAT"),
    ("pbkdf2 no salt", "pbkdf2_sha256$1000$$" + "A" * 43 + "=", "FORMAT"),
    ("argon2 over 1 GiB", "argon2$argon2id$v=19$m=1048577,t=1,p=1$c2Vhc2FsdHNlYXNhbHQ$" + "A" * 43, "MAXIMUM"),
    ("argon2 time cost", "argon2$argon2id$v=19$m=256,t=11,p=1$c2Vhc2FsdHNlYXNhbHQ$" + "A" * 43, "MAXIMUM"),
    ("argon2 parallelism", "argon2$argon2id$v=19$m=256,t=1,p=17$c2Vhc2FsdHNlYXNhbHQ$" + "A" * 43, "MAXIMUM"),
    ("argon2 memory below 8p", "argon2$argon2id$v=19$m=8,t=1,p=2$c2Vhc2FsdHNlYXNhbHQ$" + "A" * 43, "MINIMUM"),
    ("argon2 malformed", "argon2$argon2id$v=19$m=256$salt$hash", "FORMAT"),
    ("bcrypt_sha256 cost 16", f"bcrypt_sha256$$2b$16${B53}", "MAXIMUM"),
    ("scrypt N not a power of two", "scrypt$1000$salt$8$1$" + "A" * 86 + "==", "FORMAT"),
    ("scrypt N too large", f"scrypt${2**21}$salt$1$1$" + "A" * 86 + "==", "MAXIMUM"),
    ("scrypt over 1 GiB", f"scrypt${2**20}$salt$16$1$" + "A" * 86 + "==", "MAXIMUM"),
    ("scrypt parallelism", "scrypt$1024$salt$8$17$" + "A" * 86 + "==", "MAXIMUM"),
    ("md5 wrong length", "md5$salt$abcd", "FORMAT"),
    ("sha1 without salt", "sha1$$" + "0" * 40, "FORMAT"),
]


@pytest.mark.parametrize(("name", "value", "code"), PASSWORD_HASH_REFUSALS, ids=[r[0] for r in PASSWORD_HASH_REFUSALS])
def test_password_hash_refusal(name, value, code):
    _refused(value, code, "password_hash", normalize=normalize_password_hash)


def test_password_hash_messages_use_z_schema_wording_and_never_quote_the_hash():
    error = _refused(f"$2b$16${B53}", "MAXIMUM", "password_hash", normalize=normalize_password_hash)
    assert error.message == "Value 16 of cost is greater than maximum 15"
    error = _refused(f"$2x$10${B53}", "FORMAT", "password_hash", normalize=normalize_password_hash)
    assert error.message == "Object didn't pass validation for format bcrypt"
    assert B53 not in error.message
    error = _refused(12, "INVALID_TYPE", "password_hash", normalize=normalize_password_hash)
    assert error.message == "Expected type string but found type integer"


def test_messages_are_translated():
    with translation.override("ja"):
        error = _refused({"algorithm": "md5"}, "OBJECT_REQUIRED", "custom_password_hash.hash")
    assert error.message != "Missing required property: hash"


MD5 = "00" * 16


def _with(base: dict, path: str, value) -> dict:
    """``base`` with ``value`` set at the dotted ``path`` (``...`` deletes it)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target.setdefault(key, {})
    if value is ...:
        target.pop(last, None)
    else:
        target[last] = value
    return data


SALTED_MD5 = _digest("md5", MD5, salt={"value": "s"}, password={"encoding": "utf8"})
HMAC = {"algorithm": "hmac", "hash": {"value": "00" * 32, "encoding": "hex", "digest": "sha256", "key": {"value": "k"}}}
SCRYPT = _digest("scrypt", "00" * 32, keylen=32)
ARGON2 = {"algorithm": "argon2", "hash": {"value": "$argon2id$v=19$m=64,t=1,p=1$kmigqsLL+tiXYUScLXLRwA$" + "A" * 43}}
PBKDF2 = {"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-sha1$i=1,l=20$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"}}
LDAP = {"algorithm": "ldap", "hash": {"value": "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="}}
BCRYPT = {"algorithm": "bcrypt", "hash": {"value": f"$2b$10${B53}"}}
ROOT = "custom_password_hash"

CUSTOM_REFUSALS = [
    # types and required properties
    ("not an object", "md5", "INVALID_TYPE", ROOT),
    ("null", None, "INVALID_TYPE", ROOT),
    ("algorithm missing", _with(SALTED_MD5, "algorithm", ...), "OBJECT_REQUIRED", f"{ROOT}.algorithm"),
    ("hash missing", _with(SALTED_MD5, "hash", ...), "OBJECT_REQUIRED", f"{ROOT}.hash"),
    ("hash not an object", _with(SALTED_MD5, "hash", "abc"), "INVALID_TYPE", f"{ROOT}.hash"),
    ("hash.value missing", _with(SALTED_MD5, "hash.value", ...), "OBJECT_REQUIRED", f"{ROOT}.hash.value"),
    ("hash.value not a string", _with(SALTED_MD5, "hash.value", 5), "INVALID_TYPE", f"{ROOT}.hash.value"),
    ("hash.value empty", _with(SALTED_MD5, "hash.value", ""), "MIN_LENGTH", f"{ROOT}.hash.value"),
    ("hash.value too long", _with(SALTED_MD5, "hash.value", "0" * 1026), "MAX_LENGTH", f"{ROOT}.hash.value"),
    ("salt.value missing", _with(SALTED_MD5, "salt.value", ...), "OBJECT_REQUIRED", f"{ROOT}.salt.value"),
    ("salt.value too long", _with(SALTED_MD5, "salt.value", "s" * 1025), "MAX_LENGTH", f"{ROOT}.salt.value"),
    ("salt not an object", _with(SALTED_MD5, "salt", "s"), "INVALID_TYPE", f"{ROOT}.salt"),
    ("password not an object", _with(SALTED_MD5, "password", "utf8"), "INVALID_TYPE", f"{ROOT}.password"),
    ("hmac key missing", _with(HMAC, "hash.key", ...), "OBJECT_REQUIRED", f"{ROOT}.hash.key"),
    ("hmac key.value missing", _with(HMAC, "hash.key.value", ...), "OBJECT_REQUIRED", f"{ROOT}.hash.key.value"),
    ("hmac digest missing", _with(HMAC, "hash.digest", ...), "OBJECT_REQUIRED", f"{ROOT}.hash.digest"),
    ("md5 hash.encoding missing", _with(SALTED_MD5, "hash.encoding", ...), "OBJECT_REQUIRED", f"{ROOT}.hash.encoding"),
    ("scrypt keylen missing", _with(SCRYPT, "keylen", ...), "OBJECT_REQUIRED", f"{ROOT}.keylen"),
    # additionalProperties: false at every level
    ("unknown top-level property", _with(SALTED_MD5, "rounds", 3), "OBJECT_ADDITIONAL_PROPERTIES", ROOT),
    ("unknown hash property", _with(SALTED_MD5, "hash.salt", "x"), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.hash"),
    ("unknown salt property", _with(SALTED_MD5, "salt.length", 4), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.salt"),
    (
        "unknown password property",
        _with(SALTED_MD5, "password.x", 1),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.password",
    ),
    (
        "unknown key property",
        _with(HMAC, "hash.key.digest", "sha1"),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.hash.key",
    ),
    # enums
    ("unknown algorithm", _with(SALTED_MD5, "algorithm", "crc32"), "ENUM_MISMATCH", f"{ROOT}.algorithm"),
    ("algorithm not a string", _with(SALTED_MD5, "algorithm", 5), "INVALID_TYPE", f"{ROOT}.algorithm"),
    ("unknown hash.encoding", _with(SALTED_MD5, "hash.encoding", "binary"), "ENUM_MISMATCH", f"{ROOT}.hash.encoding"),
    ("md5 in utf8", _with(SALTED_MD5, "hash.encoding", "utf8"), "ENUM_MISMATCH", f"{ROOT}.hash.encoding"),
    ("argon2 in hex", _with(ARGON2, "hash.encoding", "hex"), "ENUM_MISMATCH", f"{ROOT}.hash.encoding"),
    ("pbkdf2 in base64", _with(PBKDF2, "hash.encoding", "base64"), "ENUM_MISMATCH", f"{ROOT}.hash.encoding"),
    ("unknown salt.encoding", _with(SALTED_MD5, "salt.encoding", "rot13"), "ENUM_MISMATCH", f"{ROOT}.salt.encoding"),
    ("unknown salt.position", _with(SALTED_MD5, "salt.position", "middle"), "ENUM_MISMATCH", f"{ROOT}.salt.position"),
    (
        "unknown password.encoding",
        _with(SALTED_MD5, "password.encoding", "utf32"),
        "ENUM_MISMATCH",
        f"{ROOT}.password.encoding",
    ),
    ("unknown hmac digest", _with(HMAC, "hash.digest", "crc"), "ENUM_MISMATCH", f"{ROOT}.hash.digest"),
    ("unknown key.encoding", _with(HMAC, "hash.key.encoding", "b32"), "ENUM_MISMATCH", f"{ROOT}.hash.key.encoding"),
    # properties an algorithm does not take
    ("salt with argon2", _with(ARGON2, "salt", {"value": "s"}), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.salt"),
    ("salt with bcrypt", _with(BCRYPT, "salt", {"value": "s"}), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.salt"),
    ("salt with ldap", _with(LDAP, "salt", {"value": "s"}), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.salt"),
    ("salt with pbkdf2", _with(PBKDF2, "salt", {"value": "s"}), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.salt"),
    ("digest with md5", _with(SALTED_MD5, "hash.digest", "md5"), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.hash.digest"),
    (
        "key with sha1",
        _with(SALTED_MD5, "hash.key", {"value": "k"}),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.hash.key",
    ),
    ("cost with md5", _with(SALTED_MD5, "cost", 16384), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.cost"),
    ("keylen with bcrypt", _with(BCRYPT, "keylen", 32), "OBJECT_ADDITIONAL_PROPERTIES", f"{ROOT}.keylen"),
    # encodings of the values
    ("md5 not hex", _with(SALTED_MD5, "hash.value", "zz" * 16), "FORMAT", f"{ROOT}.hash.value"),
    ("md5 odd hex", _with(SALTED_MD5, "hash.value", "0" * 31), "FORMAT", f"{ROOT}.hash.value"),
    ("md5 wrong length", _with(SALTED_MD5, "hash.value", "00" * 20), "FORMAT", f"{ROOT}.hash.value"),
    (
        "md5 bad base64",
        _with(_with(SALTED_MD5, "hash.encoding", "base64"), "hash.value", "!!!!"),
        "FORMAT",
        f"{ROOT}.hash.value",
    ),
    ("salt bad hex", _with(SALTED_MD5, "salt.encoding", "hex"), "FORMAT", f"{ROOT}.salt.value"),
    ("hmac key bad base64", _with(HMAC, "hash.key.encoding", "base64"), "FORMAT", f"{ROOT}.hash.key.value"),
    ("hmac digest length", _with(HMAC, "hash.digest", "sha1"), "FORMAT", f"{ROOT}.hash.value"),
    ("scrypt length differs from keylen", _with(SCRYPT, "keylen", 16), "FORMAT", f"{ROOT}.hash.value"),
    # string formats and their bounds
    ("bcrypt cost 16", _with(BCRYPT, "hash.value", f"$2b$16${B53}"), "MAXIMUM", f"{ROOT}.hash.value"),
    ("bcrypt $2x$", _with(BCRYPT, "hash.value", f"$2x$10${B53}"), "FORMAT", f"{ROOT}.hash.value"),
    (
        "argon2 over 1 GiB",
        _with(ARGON2, "hash.value", "$argon2id$v=19$m=2097152,t=1,p=1$kmigqsLL+tiXYUScLXLRwA$" + "A" * 43),
        "MAXIMUM",
        f"{ROOT}.hash.value",
    ),
    (
        "argon2 time cost",
        _with(ARGON2, "hash.value", "$argon2id$v=19$m=64,t=1000,p=1$kmigqsLL+tiXYUScLXLRwA$" + "A" * 43),
        "MAXIMUM",
        f"{ROOT}.hash.value",
    ),
    (
        "argon2 parallelism",
        _with(ARGON2, "hash.value", "$argon2id$v=19$m=1024,t=1,p=64$kmigqsLL+tiXYUScLXLRwA$" + "A" * 43),
        "MAXIMUM",
        f"{ROOT}.hash.value",
    ),
    (
        "argon2 unknown version",
        _with(ARGON2, "hash.value", "$argon2id$v=20$m=64,t=1,p=1$kmigqsLL+tiXYUScLXLRwA$" + "A" * 43),
        "FORMAT",
        f"{ROOT}.hash.value",
    ),
    ("argon2 not PHC", _with(ARGON2, "hash.value", "argon2id:abc"), "FORMAT", f"{ROOT}.hash.value"),
    (
        "pbkdf2 over 10,000,000 iterations",
        _with(PBKDF2, "hash.value", "$pbkdf2-sha1$i=10000001,l=20$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"),
        "MAXIMUM",
        f"{ROOT}.hash.value",
    ),
    (
        "pbkdf2 zero iterations",
        _with(PBKDF2, "hash.value", "$pbkdf2-sha1$i=0,l=20$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"),
        "MINIMUM",
        f"{ROOT}.hash.value",
    ),
    (
        "pbkdf2 l differs from the hash",
        _with(PBKDF2, "hash.value", "$pbkdf2-sha1$i=1,l=32$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"),
        "FORMAT",
        f"{ROOT}.hash.value",
    ),
    (
        "pbkdf2 unknown digest",
        _with(PBKDF2, "hash.value", "$pbkdf2-md2$i=1,l=20$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"),
        "ENUM_MISMATCH",
        f"{ROOT}.hash.value",
    ),
    (
        "pbkdf2 unknown parameter",
        _with(PBKDF2, "hash.value", "$pbkdf2-sha1$i=1,x=20$c2FsdA$DGDID5YfDnHzqbUkr2ASBi/gN6Y"),
        "FORMAT",
        f"{ROOT}.hash.value",
    ),
    ("ldap {CRYPT}", _with(LDAP, "hash.value", "{CRYPT}aZrCUdzgSPbjk"), "ENUM_MISMATCH", f"{ROOT}.hash.value"),
    ("ldap wrong length", _with(LDAP, "hash.value", "{SHA}AAAA"), "FORMAT", f"{ROOT}.hash.value"),
    (
        "ldap salted without salt",
        _with(LDAP, "hash.value", "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="),
        "FORMAT",
        f"{ROOT}.hash.value",
    ),
    # scrypt parameters
    ("keylen not an integer", _with(SCRYPT, "keylen", "32"), "INVALID_TYPE", f"{ROOT}.keylen"),
    ("keylen boolean", _with(SCRYPT, "keylen", True), "INVALID_TYPE", f"{ROOT}.keylen"),
    ("keylen zero", _with(SCRYPT, "keylen", 0), "MINIMUM", f"{ROOT}.keylen"),
    ("keylen too large", _with(SCRYPT, "keylen", 1025), "MAXIMUM", f"{ROOT}.keylen"),
    ("cost not a power of two", _with(SCRYPT, "cost", 1000), "FORMAT", f"{ROOT}.cost"),
    ("cost one", _with(SCRYPT, "cost", 1), "MINIMUM", f"{ROOT}.cost"),
    ("cost too large", _with(SCRYPT, "cost", 2**21), "MAXIMUM", f"{ROOT}.cost"),
    ("memory over 1 GiB", _with(_with(SCRYPT, "cost", 2**20), "blockSize", 16), "MAXIMUM", f"{ROOT}.cost"),
    ("blockSize too large", _with(SCRYPT, "blockSize", 33), "MAXIMUM", f"{ROOT}.blockSize"),
    ("blockSize zero", _with(SCRYPT, "blockSize", 0), "MINIMUM", f"{ROOT}.blockSize"),
    ("parallelization too large", _with(SCRYPT, "parallelization", 17), "MAXIMUM", f"{ROOT}.parallelization"),
    ("parallelization zero", _with(SCRYPT, "parallelization", 0), "MINIMUM", f"{ROOT}.parallelization"),
    ("cost a fraction", _with(SCRYPT, "cost", 1024.5), "INVALID_TYPE", f"{ROOT}.cost"),
]


@pytest.mark.parametrize(("name", "value", "code", "path"), CUSTOM_REFUSALS, ids=[r[0] for r in CUSTOM_REFUSALS])
def test_custom_password_hash_refusal(name, value, code, path):
    _refused(value, code, path)


# Which problem is reported when a hash has several: a job's error report (GET /api/v2/jobs/{id}/errors) shows the
# first, so the order is part of the wire contract. A level's shape (unknown, then missing properties) comes before
# any of its values, the algorithm before the rest, and a property the algorithm does not take is refused as such,
# whatever its value.
CUSTOM_FIRST_PROBLEMS = [
    (
        "a missing hash before an unknown algorithm",
        _with(_with(SALTED_MD5, "algorithm", "crc32"), "hash", ...),
        "OBJECT_REQUIRED",
        f"{ROOT}.hash",
        "Missing required property: hash",
    ),
    (
        "a missing hash.encoding before a salt.encoding out of the enum",
        _with(_with(SALTED_MD5, "hash.encoding", ...), "salt.encoding", "rot13"),
        "OBJECT_REQUIRED",
        f"{ROOT}.hash.encoding",
        "Missing required property: encoding",
    ),
    (
        "a hash.key that is no object, with md5",
        _with(SALTED_MD5, "hash.key", 5),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.hash.key",
        "Property key is not allowed with algorithm md5",
    ),
    (
        "a hash.key with unknown properties, with md5",
        _with(SALTED_MD5, "hash.key", {"zz": 1}),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.hash.key",
        "Property key is not allowed with algorithm md5",
    ),
    (
        "a hash.digest out of the enum, with md5",
        _with(SALTED_MD5, "hash.digest", "crc"),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.hash.digest",
        "Property digest is not allowed with algorithm md5",
    ),
    (
        "a keylen that is no integer, with md5",
        _with(SALTED_MD5, "keylen", "32"),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.keylen",
        "Property keylen is not allowed with algorithm md5",
    ),
    (
        "a blockSize below its minimum, with sha256",
        _with(_digest("sha256", "00" * 32), "blockSize", 0),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.blockSize",
        "Property blockSize is not allowed with algorithm sha256",
    ),
    (
        "a salt that is no object, with bcrypt",
        _with(BCRYPT, "salt", 5),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.salt",
        "Property salt is not allowed with algorithm bcrypt",
    ),
    (
        "two unknown top-level properties",
        _with(_with(SALTED_MD5, "zz", 1), "yy", 2),
        "OBJECT_ADDITIONAL_PROPERTIES",
        ROOT,
        "Additional properties not allowed: zz, yy",
    ),
    (
        "two unknown hash.key properties",
        _with(_with(HMAC, "hash.key.zz", 1), "hash.key.yy", 2),
        "OBJECT_ADDITIONAL_PROPERTIES",
        f"{ROOT}.hash.key",
        "Additional properties not allowed: zz, yy",
    ),
]


@pytest.mark.parametrize(
    ("name", "value", "code", "path", "message"), CUSTOM_FIRST_PROBLEMS, ids=[r[0] for r in CUSTOM_FIRST_PROBLEMS]
)
def test_custom_password_hash_reports_its_first_problem_as_it_always_did(name, value, code, path, message):
    assert _refused(value, code, path).message == message


def test_custom_messages_use_z_schema_wording():
    assert _refused(_with(SALTED_MD5, "rounds", 3), "OBJECT_ADDITIONAL_PROPERTIES", ROOT).message == (
        "Additional properties not allowed: rounds"
    )
    assert _refused(_with(SALTED_MD5, "algorithm", "crc32"), "ENUM_MISMATCH", f"{ROOT}.algorithm").message == (
        "No enum match for: crc32"
    )
    assert _refused(_with(SCRYPT, "keylen", ...), "OBJECT_REQUIRED", f"{ROOT}.keylen").message == (
        "Missing required property: keylen"
    )
    assert _refused(_with(SCRYPT, "keylen", 0), "MINIMUM", f"{ROOT}.keylen").message == (
        "Value 0 is less than minimum 1"
    )
    assert _refused(_with(SALTED_MD5, "hash.value", "0" * 1026), "MAX_LENGTH", f"{ROOT}.hash.value").message == (
        "String is too long (1026 chars), maximum 1024"
    )
    memory = _refused(_with(_with(SCRYPT, "cost", 2**20), "blockSize", 16), "MAXIMUM", f"{ROOT}.cost")
    assert memory.message == "Memory needed (2147483648 bytes) is greater than maximum 1073741824 bytes"


# --- verification edge cases and is_current_bcrypt ----------------------------------------------------------


def test_nothing_stored_never_verifies():
    assert verify_stored_password("x", password_hash=None, custom_password_hash=None) is False
    assert verify_stored_password("", password_hash="", custom_password_hash=None) is False


def test_a_stored_custom_hash_outside_the_bounds_never_verifies():
    tampered = normalize_custom_password_hash(SCRYPT)
    tampered["cost"] = 2**24  # written by hand into the database
    assert verify_stored_password("password", password_hash=None, custom_password_hash=tampered) is False


def test_a_malformed_stored_password_hash_never_verifies():
    assert verify_stored_password("U*U", password_hash=f"$2b$31${B53}", custom_password_hash=None) is False


def test_odd_passwords_fail_cleanly():
    stored = PASSWORD_HASH_VECTORS[0][2]
    assert verify_stored_password("\ud800", password_hash=stored, custom_password_hash=None) is False
    assert verify_stored_password("x" * 73, password_hash=stored, custom_password_hash=None) is False
    django_hash = PASSWORD_HASH_VECTORS[2][2]
    assert verify_stored_password("\ud800", password_hash=django_hash, custom_password_hash=None) is False
    md5 = normalize_custom_password_hash(CUSTOM_VECTORS[0][2])
    assert verify_stored_password("\ud800", password_hash=None, custom_password_hash=md5) is False


def test_the_custom_hash_wins_over_password_hash():
    md5 = normalize_custom_password_hash(CUSTOM_VECTORS[0][2])
    assert verify_stored_password("password", password_hash=PASSWORD_HASH_VECTORS[0][2], custom_password_hash=md5)
    assert not verify_stored_password("U*U", password_hash=PASSWORD_HASH_VECTORS[0][2], custom_password_hash=md5)


def test_is_current_bcrypt_only_for_bcrypt_at_the_configured_cost():
    rounds = settings.BCRYPT_ROUNDS
    assert is_current_bcrypt(f"$2b${rounds:02d}${B53}")
    assert is_current_bcrypt(f"$2a${rounds:02d}${B53}")
    assert not is_current_bcrypt(f"$2b${rounds + 1:02d}${B53}")
    assert not is_current_bcrypt(f"$2y${rounds:02d}${B53}")
    assert not is_current_bcrypt(PASSWORD_HASH_VECTORS[2][2])
    assert not is_current_bcrypt(None)
    assert not is_current_bcrypt("")


def test_hash_format_error_carries_code_message_and_path():
    error = HashFormatError("FORMAT", "msg", "password_hash")
    assert (error.code, error.message, error.path, str(error)) == ("FORMAT", "msg", "password_hash", "msg")
