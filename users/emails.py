"""E-mail addresses: the one rule every entry point applies, and the one way an address is folded.

``check_email_address(text)`` is used by the request field ``EmailAddressField`` (``POST``/``PATCH
/api/v2/users``, ``/dbconnections/signup``, ``POST /v1/users``, the admin's add and change forms and every
imported user). It accepts the text exactly as sent (nothing is trimmed or normalised first) when:

1. **Auth0 accepts it.** Auth0's Management API checks ``format: email`` with z-schema, whose ``email`` format is
   validator.js ``isEmail(value, {require_tld: true})`` (z-schema ``src/FormatValidators.js``), i.e. validator.js's
   defaults. ``auth0_accepts`` is a port of that call; refusing what it refuses means never storing an address
   Auth0 would not.
2. **The local part is not quoted** (``"a b"@example.com``): Auth0 accepts it, but it is a second spelling of
   the unquoted address and room for ``@``, spaces and quotes inside an identity.
3. For text with any non-ASCII character, also:

   a. **NFKC form** (Unicode TR #39's e-mail security profile asks for it): a compatibility character (U+212A
      KELVIN SIGN, U+017F LONG S, full-width letters or U+FF20 FULLWIDTH COMMERCIAL AT, U+210C BLACK-LETTER H,
      U+2126 OHM SIGN) would be another spelling of an address that means something else.
   b. **Lower-casing cannot change whom it names**: each character is caseless or one half of a single
      upper/lower pair (its lower case is one character, and upper/lower lead back to it). This refuses U+0130
      (capital I with dot, which lower-cases to ``i`` + U+0307), U+0131 (dotless i) and U+017F (long s), whose
      upper case is ASCII ``I``/``S`` so that any case-insensitive comparison merges them with ``i``/``s``, and
      U+03C2 (Greek final sigma); ``ß``, ``é``, Cyrillic, CJK and the like are kept.
   c. **No invisible character**: nothing of Unicode's ``Default_Ignorable_Code_Point`` (UAX #44; the characters a
      renderer draws as nothing: format and bidi controls, variation selectors U+FE00-U+FE0F and
      U+E0100-U+E01EF, U+034F COMBINING GRAPHEME JOINER, the Hangul fillers U+115F/U+1160/U+3164/U+FFA0, the
      Mongolian free variation selectors, tags U+E0000-U+E0FFF, ...) and no U+2800 BRAILLE PATTERN BLANK (drawn as
      an empty cell). validator.js accepts them all in the local part and the domain; email-validator refuses the
      format characters but not the marks and letters among them, and its IDNA step silently drops those in a
      domain (``kate@exa<U+FE0F>mple.com`` is ``kate@example.com`` to it, a second spelling of that address).
   d. **email-validator accepts it** (RFC 6531 syntax, IDNA 2008 domain, and no control, format, private-use,
      unassigned or non-ASCII space characters) **and reads it as written**: its normalised form of the stored
      (lower-cased) text is that text itself, so no IDNA mapping (UTS #46) makes two texts one mailbox.

4. **Its lower-cased form passes as well**, so what is stored (``fold_email``) always passes the documented
   format, and two accepted addresses are stored alike only when they differ by letter case.

ASCII text needs none of 3: it has no invisible, compatibility or case-ambiguous character, validator.js allows
only RFC 5322 atext in the local part and letters, digits and hyphens in the domain, and lower-casing ASCII
changes only A-Z, which every class of the port accepts in either case. (email-validator would also refuse
ASCII labels such as ``ab--c`` or a malformed ``xn--`` label; Auth0 accepts those and so does this rule. Calling
the library only for non-ASCII text keeps the bulk import's cost per address at about 10 µs instead of 70.)
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from functools import lru_cache

import email_validator
import idna


class InvalidEmailAddress(ValueError):
    """The text is not an address this service accepts; ``reason`` says which rule refused it (for logs/tests).

    A parser's ``ValueError``, not a ``DomainError``: the serializers turn it into a ``FORMAT`` field error.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- 1. Auth0's check: validator.js isEmail(str, {require_tld: true}) -----------------------------------------
# Ported from validator.js src/lib/isEmail.js, src/lib/isFQDN.js and src/lib/isByteLength.js (13.x; z-schema
# 6.x depends on "validator": "^13.7.0"). Only the branches reachable with the default options are kept:
# allow_display_name, domain_specific_validation, allow_ip_domain, host lists and blacklisted_chars are off.
# JavaScript regexes without the ``u`` flag work on UTF-16 code units and ``/i`` folds ASCII letters only for
# these classes, so the classes below spell out A-Za-z and run on the UTF-16 view of the text (``_utf16``).
MAX_EMAIL_LENGTH = 254  # defaultMaxEmailLength, compared with JavaScript's str.length (UTF-16 units)
_USER_UTF8_PART = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u00A1-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF]+")
_QUOTED_USER_UTF8 = re.compile(
    r"(?:[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
    r"\x01-\x08\x0b\x0c\x0e-\x1f\x7f\x21\x23-\x5b\x5d-\x7e\u00A0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF]"
    r"|\\[\x01-\x09\x0b\x0c\x0d-\x7f\u00A0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF])*"
)
_TLD = re.compile(r"[A-Za-z\u00A1-\u00A8\u00AA-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF]{2,}|[Xx][Nn][A-Za-z0-9-]{2,}")
# JavaScript's \s: WhiteSpace and LineTerminator.
_JS_SPACE = re.compile(r"[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]")
_LABEL = re.compile(r"[A-Za-z_\u00a1-\uffff0-9-]+")
_FULL_WIDTH = re.compile(r"[\uff01-\uff5e]")


def _utf16(text: str) -> str:
    """The text as JavaScript sees it: astral characters as two surrogate code units."""
    if text.isascii() or max(text) < "\U00010000":
        return text
    data = text.encode("utf-16-le", "surrogatepass")
    return "".join(chr(int.from_bytes(data[i : i + 2], "little")) for i in range(0, len(data), 2))


@lru_cache(maxsize=4096)  # pure; the users of an import share a few domains
def _is_fqdn(domain: str) -> bool:
    """validator.js isFQDN(domain, {require_tld: true, allow_underscores: false, ignore_max_length: false})."""
    parts = domain.split(".")
    tld = parts[-1]
    if len(parts) < 2 or not _TLD.fullmatch(tld) or _JS_SPACE.search(tld):
        return False
    if tld.isascii() and tld.isdigit():
        return False
    for part in parts:
        if len(part) > 63 or not _LABEL.fullmatch(part) or _FULL_WIDTH.search(part):
            return False
        if part.startswith("-") or part.endswith("-") or "_" in part:
            return False
    return True


def _utf8_length(units: str) -> int:
    """validator.js isByteLength's count: UTF-8 bytes, a lone surrogate counted as U+FFFD (three bytes)."""
    if units.isascii():
        return len(units)
    return len(units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8"))


def auth0_accepts(text: str) -> bool:
    """Whether Auth0's ``format: email`` (validator.js ``isEmail`` as z-schema calls it) accepts ``text``."""
    text = _utf16(text)
    if len(text) > MAX_EMAIL_LENGTH:
        return False
    user, _at, domain = text.rpartition("@")
    if _utf8_length(user) > 64 or _utf8_length(domain) > 254:
        return False
    if not _is_fqdn(domain):
        return False
    if user[:1] == '"' and user[-1:] == '"':
        return bool(_QUOTED_USER_UTF8.fullmatch(user[1:-1]))
    return all(_USER_UTF8_PART.fullmatch(part) for part in user.split("."))


# --- 3b. Case stability --------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _case_stable(char: str) -> bool:
    """``char`` is caseless or one half of exactly one upper/lower pair (see the module docstring)."""
    lower = char.lower()
    if len(lower) != 1:
        return False  # İ -> i + U+0307
    if lower != char and lower.upper() != char:
        return False  # Kelvin sign -> k -> K; Ohm sign -> ω -> Ω
    upper = char.upper()
    # A multi-character upper case (ß -> SS) is never produced by lower-casing, so it merges nothing here.
    # Long s -> S -> s and dotless i -> I -> i are refused here.
    return len(upper) != 1 or upper == char or upper.lower() == char


# --- 3c. Invisible characters -------------------------------------------------------------------------------
# Default_Ignorable_Code_Point from Unicode's DerivedCoreProperties.txt (the same list from Unicode 14.0 to 15.1,
# the version of this Python's unicodedata): the derived property has no accessor in unicodedata, and the whole
# list is a few dozen ranges. Plus U+2800 BRAILLE PATTERN BLANK, a visible-width blank that is not in it.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # SOFT HYPHEN
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x061C, 0x061C),  # ARABIC LETTER MARK
    (0x115F, 0x1160),  # HANGUL CHOSEONG FILLER, HANGUL JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ, AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS ONE-THREE, VOWEL SEPARATOR, FREE VARIATION SELECTOR FOUR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE .. RIGHT-TO-LEFT MARK
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # WORD JOINER .. NOMINAL DIGIT SHAPES (invisible operators, bidi isolates)
    (0x2800, 0x2800),  # BRAILLE PATTERN BLANK (ours, not Unicode's)
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTOR-1 .. 16
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (byte order mark)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # SHORTHAND FORMAT LETTER OVERLAP .. UP STEP
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN BEAM .. END PHRASE
    (0xE0000, 0xE0FFF),  # LANGUAGE TAG, TAG SPACE .. CANCEL TAG, VARIATION SELECTOR-17 .. 256, reserved
)
_INVISIBLE = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _INVISIBLE_RANGES) + "]")


def _check_one(text: str) -> str | None:
    """Rules 1 to 3 for ``text``; returns email-validator's normalised form of a non-ASCII text (None for ASCII)."""
    if not auth0_accepts(text):
        raise InvalidEmailAddress("refused by Auth0's format: email")
    if text.startswith('"'):
        raise InvalidEmailAddress("a quoted local part")
    if text.isascii():
        return None  # nothing below can refuse ASCII that passed the checks above (see the module docstring)
    if unicodedata.normalize("NFKC", text) != text:
        raise InvalidEmailAddress("not in NFKC form")
    if not all(_case_stable(char) for char in text):
        raise InvalidEmailAddress("a character changes identity when lower-cased")
    invisible = _INVISIBLE.search(text)
    if invisible is not None:
        raise InvalidEmailAddress(f"an invisible character (U+{ord(invisible.group()):04X})")
    try:
        result = email_validator.validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            # Auth0's check already demands a top-level domain; special-use names (.test, .local) are accepted as
            # Auth0 accepts them: this is an identity store, not a mailer.
            globally_deliverable=False,
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidEmailAddress(str(exc)) from exc
    return result.normalized


def check_email_address(text: str) -> None:
    """Accept ``text`` as an e-mail address or raise ``InvalidEmailAddress`` (rules in the module docstring).

    The text is checked as sent (nothing is trimmed or normalised first), then in the lower case it is stored in,
    which email-validator must read as written (rule 3d).
    """
    normalized = _check_one(text)
    if text.isascii():
        return
    folded = text.lower()
    if folded != text:
        normalized = _check_one(folded)
    if normalized != folded:
        raise InvalidEmailAddress(f"another spelling of {normalized}")


def fold_email(text: str) -> str:
    """The stored and compared form of an address that ``check_email_address`` accepted: its lower case.

    Auth0 lower-cases e-mails on database connections; the rule above guarantees that this changes letter case
    only, never which address is meant.
    """
    return text.lower()


def email_lookup_key(text: str) -> str | None:
    """The stored form to look ``text`` up by, or ``None`` when no stored address can equal it.

    Every stored address passed ``check_email_address``, so a text that fails it (``K`` for ``k``, an invisible
    character) matches nothing instead of being folded onto somebody else's address.
    """
    try:
        check_email_address(text)
    except InvalidEmailAddress:
        return None
    return fold_email(text)


def email_rate_limit_key(text: str) -> str:
    """The per-address rate-limit key of ``text`` (``POST /dbconnections/change_password``): every text that finds
    the same stored address shares it, since it starts from ``email_lookup_key`` (``Ann@EXAMPLE.com`` and
    ``ann@example.com``), and so do spellings that the lookup tells apart or refuses but that name one mailbox for a
    reader or a mail server:

    - the domain in IDNA's ASCII form, mapped by UTS 46 (``ann@Bücher.de``, ``ann@bücher.de`` and
      ``ann@xn--bcher-kva.de``), kept as it is where IDNA refuses it;
    - a text that is no acceptable address by its NFKC form, case-folded (a Kelvin sign for ``K``, full-width
      letters for ASCII ones).

    A bucket shared by more spellings only limits sooner; never less than the lookup's, so no spelling of an address
    gets a bucket of its own.
    """
    key = email_lookup_key(text)
    if key is None:
        key = unicodedata.normalize("NFKC", text).casefold()
    local, at, domain = key.rpartition("@")
    if not at:
        return key
    # A domain IDNA cannot spell stays as folded: key enough.
    with contextlib.suppress(idna.IDNAError, UnicodeError):
        domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local}@{domain}"
