"""Auth0 password policies: sheriff's strength levels, the dictionary, personal information."""

import json
from typing import Any

import pytest

from connections import password_policy
from connections.password_policy import (
    LEVELS,
    SPECIAL_CHARACTERS,
    PasswordPolicyError,
    check_password,
    policy_text,
    strength_report,
)

# Captured Auth0 body (go-auth0 authentication_error_test.go), `description` and `policy` fields;
# the JSON is re-wrapped to fit the line length, tokens unchanged.
CAPTURED_GOOD_DESCRIPTION = """
{"rules":[
  {"message":"At least %d characters in length","format":[8],"code":"lengthAtLeast",
   "verified":true},
  {"message":"Contain at least %d of the following %d types of characters:",
   "code":"containsAtLeast","format":[3,4],
   "items":[{"message":"lower case letters (a-z)","code":"lowerCase","verified":true},
            {"message":"upper case letters (A-Z)","code":"upperCase","verified":false},
            {"message":"numbers (i.e. 0-9)","code":"numbers","verified":false},
            {"message":"special characters (e.g. !@#$%^&*)","code":"specialCharacters",
             "verified":true}],
   "verified":false}],
 "verified":false}
"""
CAPTURED_GOOD_POLICY = (
    "* At least 8 characters in length\n"
    "* Contain at least 3 of the following 4 types of characters:\n"
    " * lower case letters (a-z)\n"
    " * upper case letters (A-Z)\n"
    " * numbers (i.e. 0-9)\n"
    " * special characters (e.g. !@#$%^&*)"
)
# sheriff's test/policies/excellent.js
SHERIFF_EXCELLENT_POLICY = (
    "* At least 10 characters in length\n"
    "* Contain at least 3 of the following 4 types of characters:\n"
    " * lower case letters (a-z)\n"
    " * upper case letters (A-Z)\n"
    " * numbers (i.e. 0-9)\n"
    " * special characters (e.g. !@#$%^&*)\n"
    '* No more than 2 identical characters in a row (e.g., "aaa" not allowed)'
)
CONTAINS_AT_LEAST_FAILURE = (
    "Contain at least 3 of the following 4 types of characters: lower case letters (a-z), "
    "upper case letters (A-Z), numbers (i.e. 0-9), special characters (e.g. !@#$%^&*)"
)


def failed_codes(password: str, level: str, min_length: int | None = None) -> list[str]:
    report = strength_report(password, level, min_length)
    return [rule["code"] for rule in report["rules"] if not rule["verified"]]


def item_flags(password: str, level: str = "good") -> dict[str, bool]:
    rule = strength_report(password, level)["rules"][1]
    return {item["code"]: item["verified"] for item in rule["items"]}


def raised(password: str, options: dict[str, Any], user_info: dict[str, Any] | None = None):
    with pytest.raises(PasswordPolicyError) as excinfo:
        check_password(password, options=options, user_info=user_info or {})
    return excinfo.value


def allowed(password: str, options: dict[str, Any], user_info: dict[str, Any] | None = None):
    check_password(password, options=options, user_info=user_info or {})
    return True


# --- the captured Auth0 body ----------------------------------------------------------------------


def test_good_report_equals_captured_auth0_description_including_key_order():
    expected = json.loads(CAPTURED_GOOD_DESCRIPTION)

    report = strength_report("hello!world", "good")

    assert report == expected
    # Same bytes once serialised, so key order inside every rule and item matches too.
    assert json.dumps(report) == json.dumps(expected)


def test_strength_error_carries_captured_description_and_policy():
    error = raised("hello!world", {"passwordPolicy": "good"})

    assert error.name == "PasswordStrengthError"
    assert error.message == "Password is too weak"
    assert error.code == "invalid_password"
    assert error.description == json.loads(CAPTURED_GOOD_DESCRIPTION)
    assert error.policy == CAPTURED_GOOD_POLICY
    assert str(error) == "PasswordStrengthError: Password is too weak"


def test_report_is_verified_when_every_rule_passes():
    report = strength_report("Hello!world", "good")

    assert report["verified"] is True
    assert all(rule["verified"] for rule in report["rules"])


# --- levels at their length boundaries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "too_short", "exact", "length_code"),
    [
        ("none", "", "a", "nonEmpty"),
        ("low", "abcde", "abcdef", "lengthAtLeast"),
        ("fair", "Abcdef1", "Abcdef12", "lengthAtLeast"),
        ("good", "Abcdef1", "Abcdef12", "lengthAtLeast"),
        ("excellent", "Abcdef123", "Abcdef1234", "lengthAtLeast"),
    ],
)
def test_level_rejects_one_character_short_and_accepts_exact_minimum(level, too_short, exact, length_code):
    assert failed_codes(too_short, level) == [length_code]
    assert failed_codes(exact, level) == []
    assert raised(too_short, {"passwordPolicy": level}).name == "PasswordStrengthError"
    assert allowed(exact, {"passwordPolicy": level})


def test_none_level_rule_is_sheriffs_non_empty_rule():
    assert strength_report("", "none") == {
        "rules": [{"message": "Non-empty password required", "code": "nonEmpty", "verified": False}],
        "verified": False,
    }


def test_low_level_has_only_a_length_rule():
    assert allowed("aaaaaa", {"passwordPolicy": "low"})


def test_missing_password_policy_defaults_to_good():
    error = raised("abcdefgh", {})

    assert error.policy == CAPTURED_GOOD_POLICY


def test_null_password_policy_means_none():
    assert allowed("a", {"passwordPolicy": None})
    assert raised("", {"passwordPolicy": None}).policy == "* Non-empty password required"


def test_unknown_level_is_refused_rather_than_weakened():
    with pytest.raises(ValueError, match="Unknown password policy"):
        strength_report("whatever", "strong")


# --- character classes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing_code", "password"),
    [("lowerCase", "ABCDEFG1"), ("upperCase", "abcdefg1"), ("numbers", "Abcdefgh")],
)
def test_fair_requires_every_class(missing_code, password):
    assert allowed("Abcdefg1", {"passwordPolicy": "fair"})

    report = strength_report(password, "fair")

    assert failed_codes(password, "fair") == ["shouldContain"]
    flags = {item["code"]: item["verified"] for item in report["rules"][1]["items"]}
    assert [code for code, ok in flags.items() if not ok] == [missing_code]


def test_fair_does_not_ask_for_special_characters():
    assert strength_report("Abcdefg1", "fair")["rules"][1] == {
        "message": "Should contain:",
        "code": "shouldContain",
        "verified": True,
        "items": [
            {"message": "lower case letters (a-z)", "code": "lowerCase", "verified": True},
            {"message": "upper case letters (A-Z)", "code": "upperCase", "verified": True},
            {"message": "numbers (i.e. 0-9)", "code": "numbers", "verified": True},
        ],
    }


@pytest.mark.parametrize("level", ["good", "excellent"])
@pytest.mark.parametrize(
    ("code", "three_classes", "class_removed"),
    [
        ("lowerCase", "abcdEF12xy", "ABCDEF12XY"),
        ("upperCase", "ABCDef12xy", "abcdef12xy"),
        ("numbers", "abcdEF12xy", "abcdEFghxy"),
        ("specialCharacters", "abcd!@12xy", "abcdzw12xy"),
    ],
)
def test_three_of_four_classes_each_class_counts(level, code, three_classes, class_removed):
    assert item_flags(three_classes, level)[code] is True
    assert failed_codes(three_classes, level) == []

    assert item_flags(class_removed, level)[code] is False
    assert failed_codes(class_removed, level) == ["containsAtLeast"]


@pytest.mark.parametrize("char", list(SPECIAL_CHARACTERS))
def test_each_owasp_character_counts_as_special(char):
    assert item_flags(char) == {
        "lowerCase": False,
        "upperCase": False,
        "numbers": False,
        "specialCharacters": True,
    }


def test_special_characters_are_sheriffs_33_ascii_characters():
    import string

    assert sorted(SPECIAL_CHARACTERS) == sorted(" " + string.punctuation)


@pytest.mark.parametrize("char", ["é", "Ä", "ß", "٣", "€", "£", "\t", "\u00a0"])
def test_non_ascii_letters_digits_and_symbols_belong_to_no_class(char):
    assert not any(item_flags(char).values())


# --- excellent's identical characters rule --------------------------------------------------------


def test_excellent_allows_two_identical_characters_in_a_row():
    assert failed_codes("Abcde12!!x", "excellent") == []
    assert allowed("Abcde12!!x", {"passwordPolicy": "excellent"})


def test_excellent_rejects_three_identical_characters_in_a_row():
    report = strength_report("Abcde12aaa", "excellent")

    assert report["rules"][2] == {
        "message": 'No more than %d identical characters in a row (e.g., "%s" not allowed)',
        "code": "identicalChars",
        "format": [2, "aaa"],
        "verified": False,
    }
    assert failed_codes("Abcde12aaa", "excellent") == ["identicalChars"]
    assert raised("Abcde12aaa", {"passwordPolicy": "excellent"}).failures == [
        ("identicalChars", 'No more than 2 identical characters in a row (e.g., "aaa" not allowed)')
    ]


def test_identical_characters_rule_is_excellent_only():
    assert failed_codes("Abcde12aaa", "good") == []


def test_identical_characters_rule_is_case_sensitive_like_sheriff():
    assert failed_codes("Abcde12aAa", "excellent") == []


# --- min_length override --------------------------------------------------------------------------


def test_min_length_override_raises_the_level_minimum():
    options = {"passwordPolicy": "good", "password_complexity_options": {"min_length": 12}}

    error = raised("Abcdef12345", options)

    assert error.failures == [("lengthAtLeast", "At least 12 characters in length")]
    assert error.description["rules"][0]["format"] == [12]
    assert error.policy.startswith("* At least 12 characters in length\n")
    assert allowed("Abcdef123456", options)


def test_min_length_override_lowers_the_level_minimum():
    options = {"passwordPolicy": "excellent", "password_complexity_options": {"min_length": 4}}

    assert allowed("Ab1!", options)
    assert raised("Ab1", options).failures == [("lengthAtLeast", "At least 4 characters in length")]


def test_min_length_override_applies_to_none_level_as_length_rule():
    options = {"passwordPolicy": "none", "password_complexity_options": {"min_length": 3}}

    assert raised("ab", options).failures == [("lengthAtLeast", "At least 3 characters in length")]
    assert allowed("abc", options)
    assert policy_text("none", 3) == "* At least 3 characters in length"


def test_min_length_override_of_one_becomes_non_empty_rule_like_sheriff():
    assert policy_text("low", 1) == "* Non-empty password required"
    assert failed_codes("a", "low", 1) == []


def test_missing_complexity_options_keep_the_level_minimum():
    options = {"passwordPolicy": "good", "password_complexity_options": {}}

    assert raised("Abcde1!", options).failures == [("lengthAtLeast", "At least 8 characters in length")]


@pytest.mark.parametrize("bad", [0, 129, -1, True, "8", 8.0])
def test_min_length_outside_auth0_bounds_is_refused(bad):
    with pytest.raises(ValueError, match="min_length"):
        strength_report("whatever", "good", bad)


def test_length_counts_code_points():
    # sheriff (JavaScript) would count each emoji as two UTF-16 units.
    assert failed_codes("😀😀😀😀😀😀", "low") == []
    assert failed_codes("😀😀😀😀😀", "low") == ["lengthAtLeast"]


# --- policy_text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "text"),
    [
        ("none", "* Non-empty password required"),
        ("low", "* At least 6 characters in length"),
        (
            "fair",
            "* At least 8 characters in length\n"
            "* Should contain:\n"
            " * lower case letters (a-z)\n"
            " * upper case letters (A-Z)\n"
            " * numbers (i.e. 0-9)",
        ),
        ("good", CAPTURED_GOOD_POLICY),
        ("excellent", SHERIFF_EXCELLENT_POLICY),
    ],
)
def test_policy_text_matches_sheriff_to_string(level, text):
    assert policy_text(level) == text


def test_every_level_has_a_policy_text():
    assert all(policy_text(level) for level in LEVELS)


# --- dictionary -----------------------------------------------------------------------------------

DICTIONARY_ON = {"passwordPolicy": "low", "password_dictionary": {"enable": True, "dictionary": []}}


def test_dictionary_rejects_django_common_password():
    error = raised("password1", DICTIONARY_ON)

    assert error.name == "PasswordDictionaryError"
    assert error.message == "Password is too common"
    assert error.description == "Password is not allowed, it might be too common."
    assert error.policy is None
    assert error.failures == [("password_dictionary", "Password is not allowed, it might be too common.")]


def test_dictionary_comparison_ignores_case():
    assert raised("PaSsWoRd1", DICTIONARY_ON).name == "PasswordDictionaryError"


def test_dictionary_matches_whole_password_only():
    assert allowed("password1xyz", DICTIONARY_ON)


def test_dictionary_rejects_connection_entries_in_any_case():
    options = {
        "passwordPolicy": "low",
        "password_dictionary": {"enable": True, "dictionary": ["MyCompany2024"]},
    }

    assert raised("mycompany2024", options).name == "PasswordDictionaryError"
    assert raised("MYCOMPANY2024", options).name == "PasswordDictionaryError"
    assert allowed("mycompany2025", options)


def test_connection_entries_are_ignored_when_dictionary_disabled():
    options = {
        "passwordPolicy": "low",
        "password_dictionary": {"enable": False, "dictionary": ["mycompany2024"]},
    }

    assert allowed("mycompany2024", options)


@pytest.mark.parametrize(
    "options",
    [
        {"passwordPolicy": "low"},
        {"passwordPolicy": "low", "password_dictionary": {"enable": False, "dictionary": []}},
        {"passwordPolicy": "low", "password_dictionary": None},
    ],
)
def test_common_password_allowed_when_dictionary_not_enabled(options):
    assert allowed("password1", options)


def test_dictionary_policy_works_with_no_custom_entries_key():
    options = {"passwordPolicy": "low", "password_dictionary": {"enable": True}}

    assert raised("iloveyou", options).name == "PasswordDictionaryError"


# --- personal information -------------------------------------------------------------------------

NO_PERSONAL_INFO = {"passwordPolicy": "low", "password_no_personal_info": {"enable": True}}


@pytest.mark.parametrize(
    "user_info",
    [
        {"email": "chuck.norris@example.com"},
        {"username": "chuck.norris"},
        {"name": "chuck.norris"},
        {"nickname": "chuck.norris"},
        {"user_metadata": {"name": "chuck.norris"}},
        {"user_metadata": {"first": "chuck.norris"}},
        {"user_metadata": {"last": "chuck.norris"}},
    ],
)
def test_personal_info_rejects_each_source_field(user_info):
    error = raised("xx-chuck.norris-99", NO_PERSONAL_INFO, user_info)

    assert error.name == "PasswordNoUserInfoError"
    assert error.message == "Password contains user information"
    assert error.description == "Password contains user information"
    assert error.policy is None
    assert error.failures == [("password_no_personal_info", "Password contains user information")]


def test_personal_info_comparison_ignores_case():
    assert raised("xxCHUCKyy", NO_PERSONAL_INFO, {"username": "Chuck"}).name == ("PasswordNoUserInfoError")


def test_personal_info_uses_only_the_email_local_part():
    user_info = {"email": "chuck@example.com"}

    assert allowed("example.com-rocks", NO_PERSONAL_INFO, user_info)
    assert raised("i-am-chuck", NO_PERSONAL_INFO, user_info).name == "PasswordNoUserInfoError"


def test_personal_info_ignores_values_shorter_than_three_characters():
    user_info = {"name": "Al", "nickname": "J", "user_metadata": {"first": "Al", "last": "Wu"}}

    assert allowed("always-wu-jump", NO_PERSONAL_INFO, user_info)
    assert allowed("al-is-here", NO_PERSONAL_INFO, {"email": "al@example.com"})


def test_personal_info_counts_three_character_values():
    assert raised("i-am-bob-ok", NO_PERSONAL_INFO, {"nickname": "Bob"}).name == ("PasswordNoUserInfoError")


def test_personal_info_ignores_other_metadata_and_non_string_values():
    user_info = {"name": None, "user_metadata": {"city": "london", "first": 12345}}

    assert allowed("london12345", NO_PERSONAL_INFO, user_info)


@pytest.mark.parametrize(
    "options",
    [
        {"passwordPolicy": "low"},
        {"passwordPolicy": "low", "password_no_personal_info": {"enable": False}},
    ],
)
def test_personal_info_allowed_when_policy_not_enabled(options):
    assert allowed("i-am-chuck", options, {"username": "chuck"})


# --- order and failures ---------------------------------------------------------------------------

ALL_POLICIES = {
    "passwordPolicy": "good",
    "password_dictionary": {"enable": True, "dictionary": []},
    "password_no_personal_info": {"enable": True},
}


def test_strength_is_checked_before_dictionary_and_personal_info():
    error = raised("password", ALL_POLICIES, {"username": "pass"})

    assert error.name == "PasswordStrengthError"
    assert error.failures == [
        ("containsAtLeast", CONTAINS_AT_LEAST_FAILURE),
        ("password_dictionary", "Password is not allowed, it might be too common."),
        ("password_no_personal_info", "Password contains user information"),
    ]


def test_dictionary_is_checked_before_personal_info():
    error = raised("Password1", ALL_POLICIES, {"username": "pass"})

    assert error.name == "PasswordDictionaryError"
    assert [code for code, _ in error.failures] == [
        "password_dictionary",
        "password_no_personal_info",
    ]


def test_password_meeting_every_policy_is_allowed():
    assert allowed("Correct-Horse-7", ALL_POLICIES, {"email": "chuck@example.com"})


def test_failures_list_every_failed_strength_rule_with_values_substituted():
    error = raised("abc", {"passwordPolicy": "good"})

    assert error.failures == [
        ("lengthAtLeast", "At least 8 characters in length"),
        ("containsAtLeast", CONTAINS_AT_LEAST_FAILURE),
    ]


def test_fair_failure_names_only_the_missing_classes():
    error = raised("abcdefgh", {"passwordPolicy": "fair"})

    assert error.failures == [("shouldContain", "Should contain: upper case letters (A-Z), numbers (i.e. 0-9)")]


def test_empty_password_fails_non_empty_rule():
    assert raised("", {"passwordPolicy": "none"}).failures == [("nonEmpty", "Non-empty password required")]


def test_failures_are_translated_but_wire_texts_are_not(monkeypatch):
    monkeypatch.setattr(password_policy, "gettext", lambda text: f"<{text}>")

    error = raised("abc", ALL_POLICIES, {"username": "abc"})

    failures = dict(error.failures)
    assert failures["lengthAtLeast"] == "<At least 8 characters in length>"
    assert failures["containsAtLeast"].startswith("<Contain at least 3 of")
    assert "<lower case letters (a-z)>" in failures["containsAtLeast"]
    assert failures["password_no_personal_info"] == "<Password contains user information>"
    assert error.message == "Password is too weak"
    assert error.description["rules"][0]["message"] == "At least %d characters in length"
    assert error.policy.startswith("* At least 8 characters in length")
