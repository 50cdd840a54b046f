"""Auth0 password policies for database connections.

Auth0 checks passwords with its own library, password-sheriff (github.com/auth0/password-sheriff),
and clients (Lock, auth0.js, the SDKs) read sheriff's output verbatim from the
``PasswordStrengthError`` body. So the strength rules here reproduce sheriff's rule objects key for
key: ``strength_report()`` is sheriff's ``missing()`` and ``policy_text()`` its ``toString()``.

On top of the strength level, a connection may enable the dictionary policy and the "no personal
information" policy. ``check_password()`` applies all of them and raises ``PasswordPolicyError``
named ``PasswordStrengthError``, ``PasswordDictionaryError`` or ``PasswordNoUserInfoError``
(error code ``invalid_password``), checked in that order.

Translation: the wire texts (``message``, ``description``, ``policy``) stay in English whatever the
active language, because Auth0 sends them in English and clients localise from ``code`` and
``format`` themselves. They are marked with ``gettext_noop`` so ``makemessages`` still extracts
them. ``PasswordPolicyError.failures`` is for people (admin form, sign-up page), so its messages go
through ``gettext`` when the error is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import Any

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.utils.translation import gettext, gettext_noop

from connections.errors import ConnectionErrorCode
from core.errors import DomainError

LEVELS: tuple[str, ...] = ("none", "low", "fair", "good", "excellent")

# Used when a connection's options carry no `passwordPolicy` key: it is the level Auth0 gives new
# database connections. An explicit null means "none", as in Auth0's API.
DEFAULT_LEVEL = "good"

# Bounds of `password_complexity_options.min_length` in Auth0's connection schema.
MIN_LENGTH_BOUNDS = (1, 128)

# Shorter personal values are ignored: a one- or two-letter name or nickname ("Al", "J") occurs
# in a large share of all passwords, so refusing it would reject most passwords for no real gain.
MIN_PERSONAL_INFO_LENGTH = 3

# Auth0's default ``password_history.size`` when the policy is enabled without one.
DEFAULT_HISTORY_SIZE = 5

STRENGTH_ERROR = "PasswordStrengthError"
DICTIONARY_ERROR = "PasswordDictionaryError"
NO_USER_INFO_ERROR = "PasswordNoUserInfoError"
HISTORY_ERROR = "PasswordHistoryError"


class PasswordPolicyError(DomainError):
    """A password broke one of the connection's password policies: 400 ``invalid_password``.

    ``api.problems.translate`` turns it into a problem each contract renders in Auth0's shape (`name`,
    `message`, `code`, `description`, `policy`); the admin forms show `failures`. `name`, `message`
    (untranslated: sheriff's English) and `description` describe the first policy that failed; `failures`
    lists every failed rule of every enabled policy, so a form can show all problems at once.
    """

    status = 400
    code = ConnectionErrorCode.INVALID_PASSWORD

    def __init__(
        self,
        *,
        name: str,
        message: str,
        description: dict[str, Any] | str,
        policy: str | None = None,
        failures: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.name = name
        self.description = description
        self.policy = policy
        self.failures: list[tuple[str, str]] = list(failures)

    def __str__(self) -> str:
        # The Management API reports these errors as "<name>: <message>".
        return f"{self.name}: {self.message}"


# --- sheriff's rules ------------------------------------------------------------------------------
# Key order inside every dict copies sheriff's object literals, so serialised bodies match Auth0's
# byte for byte, not just as JSON values.

# sheriff's OWASP list: ASCII space plus the 32 ASCII punctuation characters. Letters, digits and
# symbols outside ASCII ("é", "€", "٣") belong to no class at all, as in sheriff.
SPECIAL_CHARACTERS = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


@dataclass(frozen=True)
class _Charset:
    code: str
    message: str
    pattern: re.Pattern[str]

    def explain(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code}

    def missing(self, password: str) -> dict[str, Any]:
        return {**self.explain(), "verified": bool(self.pattern.search(password))}


_LOWER_CASE = _Charset("lowerCase", gettext_noop("lower case letters (a-z)"), re.compile("[a-z]"))
_UPPER_CASE = _Charset("upperCase", gettext_noop("upper case letters (A-Z)"), re.compile("[A-Z]"))
# JavaScript's \d (no `u` flag) is ASCII-only; Python's \d would also accept other scripts' digits.
_NUMBERS = _Charset("numbers", gettext_noop("numbers (i.e. 0-9)"), re.compile("[0-9]"))
_SPECIAL = _Charset(
    "specialCharacters",
    gettext_noop("special characters (e.g. !@#$%^&*)"),
    re.compile("[" + re.escape(SPECIAL_CHARACTERS) + "]"),
)
_FOUR_CHARSETS = (_LOWER_CASE, _UPPER_CASE, _NUMBERS, _SPECIAL)


@dataclass(frozen=True)
class _Length:
    """sheriff's `length` rule. Python counts code points where JavaScript counts UTF-16 units,
    so a character outside the BMP (an emoji) counts 1 here and 2 in sheriff: we count what a
    person sees as one character."""

    min_length: int

    def explain(self) -> dict[str, Any]:
        if self.min_length == 1:
            return {"message": gettext_noop("Non-empty password required"), "code": "nonEmpty"}
        return {
            "message": gettext_noop("At least %d characters in length"),
            "format": [self.min_length],
            "code": "lengthAtLeast",
        }

    def missing(self, password: str) -> dict[str, Any]:
        return {**self.explain(), "verified": bool(password) and len(password) >= self.min_length}


@dataclass(frozen=True)
class _Contains:
    """sheriff's `contains` rule: every charset must occur."""

    charsets: tuple[_Charset, ...]

    def explain(self) -> dict[str, Any]:
        return {
            "message": gettext_noop("Should contain:"),
            "code": "shouldContain",
            "items": [charset.explain() for charset in self.charsets],
        }

    def missing(self, password: str) -> dict[str, Any]:
        items = [charset.missing(password) for charset in self.charsets]
        # sheriff puts `verified` before `items` in this rule only.
        return {
            "message": gettext_noop("Should contain:"),
            "code": "shouldContain",
            "verified": all(item["verified"] for item in items),
            "items": items,
        }


@dataclass(frozen=True)
class _ContainsAtLeast:
    """sheriff's `containsAtLeast` rule: `at_least` of the charsets must occur."""

    at_least: int
    charsets: tuple[_Charset, ...]

    def explain(self) -> dict[str, Any]:
        return {
            # Auth0 sends this wording (sheriff 1.1.1); sheriff's newer TypeScript port says
            # "At least %d of the following ..." instead, which does not match captured bodies.
            "message": gettext_noop("Contain at least %d of the following %d types of characters:"),
            "code": "containsAtLeast",
            "format": [self.at_least, len(self.charsets)],
            "items": [charset.explain() for charset in self.charsets],
        }

    def missing(self, password: str) -> dict[str, Any]:
        items = [charset.missing(password) for charset in self.charsets]
        verified = sum(item["verified"] for item in items) >= self.at_least
        return {**self.explain(), "items": items, "verified": verified}


@dataclass(frozen=True)
class _IdenticalChars:
    """sheriff's `identicalChars` rule: no run of more than `max` equal characters."""

    max: int

    def explain(self) -> dict[str, Any]:
        return {
            "message": gettext_noop('No more than %d identical characters in a row (e.g., "%s" not allowed)'),
            "code": "identicalChars",
            "format": [self.max, "a" * (self.max + 1)],
        }

    def missing(self, password: str) -> dict[str, Any]:
        # Like sheriff, an empty password fails this rule too.
        longest_run = max((len(list(run)) for _, run in groupby(password)), default=0)
        verified = bool(password) and longest_run <= self.max
        return {**self.explain(), "verified": verified}


_Rule = _Length | _Contains | _ContainsAtLeast | _IdenticalChars

# sheriff's index.js: the level's default minimum length and its other rules, in sheriff's order.
_LEVEL_RULES: dict[str, tuple[int, tuple[_Rule, ...]]] = {
    "none": (1, ()),
    "low": (6, ()),
    "fair": (8, (_Contains((_LOWER_CASE, _UPPER_CASE, _NUMBERS)),)),
    "good": (8, (_ContainsAtLeast(3, _FOUR_CHARSETS),)),
    "excellent": (10, (_ContainsAtLeast(3, _FOUR_CHARSETS), _IdenticalChars(2))),
}


def _rules(level: str, min_length: int | None) -> tuple[_Rule, ...]:
    """The level's rules, its length rule first, with `min_length` replacing the level's
    minimum the way Auth0's `password_complexity_options.min_length` does."""
    if level not in _LEVEL_RULES:
        # sheriff silently falls back to "none" here; refusing is safer than weakening a policy.
        raise ValueError(f"Unknown password policy {level!r}; expected one of {LEVELS}.")
    default_length, rules = _LEVEL_RULES[level]
    if min_length is None:
        return (_Length(default_length), *rules)
    low, high = MIN_LENGTH_BOUNDS
    if isinstance(min_length, bool) or not isinstance(min_length, int):
        raise ValueError(f"min_length must be an integer, not {min_length!r}.")
    if not low <= min_length <= high:
        raise ValueError(f"min_length must be between {low} and {high}, not {min_length}.")
    return (_Length(min_length), *rules)


def strength_report(password: str, level: str, min_length: int | None = None) -> dict[str, Any]:
    """Sheriff's `missing()`: every rule of the level with whether the password meets it.

    This is the `description` of Auth0's PasswordStrengthError body, so its shape is a contract.
    """
    report: dict[str, Any] = {"rules": [], "verified": True}
    for rule in _rules(level, min_length):
        missing = rule.missing(password)
        report["rules"].append(missing)
        report["verified"] = report["verified"] and missing["verified"]
    return report


def _format(message: str, args: Sequence[Any]) -> str:
    """sheriff's printf-style `format` (a copy of Node's util.format) for %d, %s and %%."""
    values = iter(args)

    def substitute(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%"
        try:
            value = next(values)
        except StopIteration:
            return match.group()
        return str(value)

    return re.sub(r"%[sd%]", substitute, message)


def _flatten(descriptions: Sequence[Mapping[str, Any]], depth: int) -> str:
    """sheriff's `flatDescriptions`: one "* " bullet a rule, items indented one space a level.

    (sheriff also indents the first item of a third level twice; no policy nests that deep.)
    """
    lines = []
    for description in descriptions:
        spaces = " " * depth
        line = spaces + "* " + _format(description["message"], description.get("format", ()))
        if "items" in description:
            line += "\n" + _flatten(description["items"], depth + 1)
        lines.append(line)
    return "\n".join(lines)


def policy_text(level: str, min_length: int | None = None) -> str:
    """Sheriff's `toString()`: the `policy` field of a PasswordStrengthError body."""
    return _flatten([rule.explain() for rule in _rules(level, min_length)], 0)


def _strength_failures(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One translated (code, message) pair for each rule the report marks as failed."""
    failures = []
    for rule in report["rules"]:
        if rule["verified"]:
            continue
        message = _format(gettext(rule["message"]), rule.get("format", ()))
        items = rule.get("items", ())
        if rule["code"] == "shouldContain":
            # Every item is required, so name only the ones still missing.
            items = [item for item in items if not item["verified"]]
        if items:
            message += " " + ", ".join(gettext(item["message"]) for item in items)
        failures.append((rule["code"], message))
    return failures


# --- dictionary -----------------------------------------------------------------------------------


@cache
def _common_passwords() -> frozenset[str]:
    """Django's list of about 20,000 common passwords (already lower-cased), read on first use
    rather than at import because it is a gzip file of a few hundred kilobytes."""
    return frozenset(CommonPasswordValidator().passwords)


def _is_common(password: str, entries: Sequence[Any]) -> bool:
    # Auth0 compares the whole password case-insensitively. lower(), not casefold(), because
    # Django's list was lower-cased.
    candidate = password.lower()
    if candidate in _common_passwords():
        return True
    return any(isinstance(entry, str) and entry.lower() == candidate for entry in entries)


# --- personal information -------------------------------------------------------------------------


def _personal_values(user_info: Mapping[str, Any]) -> list[str]:
    """The values Auth0's "no personal info" policy forbids inside a password."""
    values = [user_info.get(key) for key in ("name", "username", "nickname")]
    metadata = user_info.get("user_metadata")
    if isinstance(metadata, Mapping):
        values.extend(metadata.get(key) for key in ("name", "first", "last"))
    email = user_info.get("email")
    if isinstance(email, str):
        values.append(email.rpartition("@")[0] if "@" in email else email)
    return [
        value.strip().casefold()
        for value in values
        if isinstance(value, str) and len(value.strip()) >= MIN_PERSONAL_INFO_LENGTH
    ]


def _contains_personal_info(password: str, user_info: Mapping[str, Any]) -> bool:
    folded = password.casefold()
    return any(value in folded for value in _personal_values(user_info))


# --- entry point ----------------------------------------------------------------------------------


def _enabled(options: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """The policy's settings when the connection turned it on, else None."""
    settings = options.get(key)
    if isinstance(settings, Mapping) and settings.get("enable"):
        return settings
    return None


def policy_level(options: Mapping[str, Any]) -> str:
    """The strength level a connection's options ask for: ``DEFAULT_LEVEL`` when they name none, ``none`` for an
    explicit null (as in Auth0's API)."""
    return options.get("passwordPolicy", DEFAULT_LEVEL) or "none"


def check_password(password: str, *, options: Mapping[str, Any], user_info: Mapping[str, Any]) -> None:
    """Apply a database connection's password policies to a new password.

    `options` is the connection's Auth0 `options`; `user_info` holds the user's `email`,
    `username`, `name`, `nickname` and `user_metadata`. Raises PasswordPolicyError named after
    the first failing policy: strength, then dictionary, then personal information.
    """
    level = policy_level(options)
    complexity = options.get("password_complexity_options") or {}
    min_length = complexity.get("min_length")

    report = strength_report(password, level, min_length)
    failures = _strength_failures(report)
    errors: list[PasswordPolicyError] = []
    if not report["verified"]:
        errors.append(
            PasswordPolicyError(
                name=STRENGTH_ERROR,
                message=gettext_noop("Password is too weak"),
                description=report,
                policy=policy_text(level, min_length),
            )
        )

    dictionary = _enabled(options, "password_dictionary")
    if dictionary is not None and _is_common(password, dictionary.get("dictionary") or ()):
        failures.append(("password_dictionary", gettext("Password is not allowed, it might be too common.")))
        errors.append(
            PasswordPolicyError(
                name=DICTIONARY_ERROR,
                message=gettext_noop("Password is too common"),
                description=gettext_noop("Password is not allowed, it might be too common."),
            )
        )

    if _enabled(options, "password_no_personal_info") is not None and _contains_personal_info(password, user_info):
        failures.append(("password_no_personal_info", gettext("Password contains user information")))
        errors.append(
            PasswordPolicyError(
                name=NO_USER_INFO_ERROR,
                message=gettext_noop("Password contains user information"),
                description=gettext_noop("Password contains user information"),
            )
        )

    if errors:
        error = errors[0]
        error.failures = failures
        raise error


def password_history_size(options: Mapping[str, Any]) -> int:
    """How many of a user's passwords the connection's ``password_history`` policy remembers, the current one
    included (0 when the policy is off). Auth0's ``password_history.size``: 0 to 24, default 5."""
    history = _enabled(options, "password_history")
    if history is None:
        return 0
    size = history.get("size", DEFAULT_HISTORY_SIZE)
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0


def password_history_error() -> PasswordPolicyError:
    """Auth0's refusal of a password the user had recently (``PasswordHistoryError: Password has previously been
    used``, reference/auth0.md)."""
    return PasswordPolicyError(
        name=HISTORY_ERROR,
        message=gettext_noop("Password has previously been used"),
        description=gettext_noop("Password has previously been used"),
        failures=[("password_history", gettext("Password has previously been used"))],
    )


# --- the rules as a checklist for people --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleStatus:
    """One rule of a connection's policies in the request's language, and whether a password meets it."""

    code: str
    text: str
    met: bool
    items: tuple[RuleStatus, ...] = ()


def policy_checklist(password: str, *, options: Mapping[str, Any], user_info: Mapping[str, Any]) -> list[RuleStatus]:
    """Every rule ``check_password`` applies, each with whether ``password`` meets it, worded for a page.

    The strength rules are sheriff's report (``strength_report``), as Auth0's password-reset page lists them; then
    the dictionary and personal-information policies when the connection enables them.
    """
    complexity = options.get("password_complexity_options") or {}
    report = strength_report(password, policy_level(options), complexity.get("min_length"))
    checklist = [
        RuleStatus(
            code=rule["code"],
            text=_format(gettext(rule["message"]), rule.get("format", ())),
            met=rule["verified"],
            items=tuple(
                RuleStatus(code=item["code"], text=gettext(item["message"]), met=item["verified"])
                for item in rule.get("items", ())
            ),
        )
        for rule in report["rules"]
    ]
    dictionary = _enabled(options, "password_dictionary")
    if dictionary is not None:
        common = bool(password) and _is_common(password, dictionary.get("dictionary") or ())
        checklist.append(
            RuleStatus("password_dictionary", gettext("Not a common password"), bool(password) and not common)
        )
    if _enabled(options, "password_no_personal_info") is not None:
        personal = _contains_personal_info(password, user_info)
        checklist.append(
            RuleStatus(
                "password_no_personal_info",
                gettext("Does not contain your name, username or e-mail"),
                bool(password) and not personal,
            )
        )
    return checklist
