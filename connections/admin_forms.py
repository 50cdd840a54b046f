"""Admin forms for connections: only the options that fit the strategy, Auth0's ``display_name`` and ``metadata``,
validated and saved by the same services as the connections API (inside ``clean()``, so every refusal is a form
error)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from connections.models import (
    CONNECTION_NAME_MAX_LENGTH,
    CONNECTION_NAME_PATTERN,
    DEFAULT_USERNAME_MAX,
    DEFAULT_USERNAME_MIN,
    Connection,
    Strategy,
)
from connections.options import validate_connection, validate_display_name_and_metadata
from connections.password_policy import DEFAULT_LEVEL, LEVELS, policy_level
from connections.services import create_connection, update_connection
from core import messages
from core.actors import Actor
from core.admin_forms import JSONObjectFormField
from core.errors import DomainError, FieldCode, PayloadValidationError

DATABASE_OPTIONS = (
    "requires_username",
    "username_min",
    "username_max",
    "password_policy",
    "min_length",
    "dictionary_enabled",
    "dictionary_words",
    "history_enabled",
    "history_size",
    "no_personal_info",
    "disable_signup",
    "brute_force_protection",
)
PASSWORDLESS_OPTIONS = ("disable_signup", "brute_force_protection")
_ERROR_FIELDS = {
    "options.requires_username": "requires_username",
    "options.validation.username.min": "username_min",
    "options.validation.username.max": "username_max",
    "options.passwordPolicy": "password_policy",
    "options.password_complexity_options.min_length": "min_length",
    "options.password_dictionary.dictionary": "dictionary_words",
    "options.password_history.size": "history_size",
    "name": "name",
    "display_name": "display_name",
    "metadata": "metadata",
}


def option_fields(strategy: str) -> tuple[str, ...]:
    return DATABASE_OPTIONS if strategy == Strategy.AUTH0 else PASSWORDLESS_OPTIONS


class ConnectionForm(forms.ModelForm):
    # Labels are short names; what each option does (in this service, not only in Auth0) is its help text.
    name = forms.CharField(
        label=_("Name"),
        max_length=CONNECTION_NAME_MAX_LENGTH,
        help_text=_("Letters and digits, with single hyphens between them; up to 128 characters. Cannot be changed."),
    )
    # Auth0's display_name and metadata, checked by the API's own fields in clean() (so their words, once each).
    # Not stripped: the API keeps the text as sent.
    display_name = forms.CharField(
        label=_("Display name"),
        required=False,
        strip=False,
        help_text=_("Auth0's display_name, up to 128 characters: a label for your tools, returned by the API."),
    )
    metadata = JSONObjectFormField(
        label=_("Metadata"),
        required=False,
        max_depth=1,
        help_text=_(
            'A JSON object of at most 10 keys, each a string of up to 255 characters or null, e.g. {"team": "ops"}. '
            "Empty for none."
        ),
    )
    requires_username = forms.BooleanField(
        label=_("Require a username"),
        required=False,
        help_text=_("Users need a username besides their e-mail address, and may log in with either."),
    )
    username_min = forms.IntegerField(
        label=_("Shortest username"),
        required=False,
        help_text=_("In characters; 1 when empty."),  # DEFAULT_USERNAME_MIN
    )
    username_max = forms.IntegerField(
        label=_("Longest username"),
        required=False,
        help_text=_("In characters; 15 when empty."),  # DEFAULT_USERNAME_MAX
    )
    password_policy = forms.ChoiceField(
        label=_("Password policy"),
        choices=[(level, level) for level in LEVELS],
        initial=DEFAULT_LEVEL,
        help_text=_("Auth0's levels, from none to excellent: each asks for more kinds of characters and length."),
    )
    min_length = forms.IntegerField(
        label=_("Minimum password length"),
        required=False,
        help_text=_("Replaces the policy's own minimum length when set."),
    )
    dictionary_enabled = forms.BooleanField(
        label=_("Refuse common passwords"),
        required=False,
        help_text=_("Refuses about 20,000 common passwords and the extra words below."),
    )
    dictionary_words = forms.CharField(
        label=_("Extra words to refuse"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line; used only while common passwords are refused."),
    )
    # Without these fields a save dropped the option: the form replaces the whole options object.
    history_enabled = forms.BooleanField(
        label=_("Refuse recently used passwords"),
        required=False,
        help_text=_("A password change may not reuse the current password or the ones before it (password history)."),
    )
    history_size = forms.IntegerField(
        label=_("Passwords remembered"),
        required=False,
        help_text=_("The current password included, up to 24; 5 when empty."),  # DEFAULT_HISTORY_SIZE
    )
    no_personal_info = forms.BooleanField(
        label=_("Refuse personal data in passwords"),
        required=False,
        help_text=_("Refuses a password that contains the user's name, username, nickname or e-mail local part."),
    )
    disable_signup = forms.BooleanField(
        label=_("Disable public sign-up"),
        required=False,
        help_text=_(
            "Refuses POST /dbconnections/signup; operators, the management API and imports still create users."
        ),
    )
    brute_force_protection = forms.BooleanField(
        label=_("Brute-force protection"),
        required=False,
        help_text=_(
            "Kept and returned as Auth0's option. Failed logins are limited on every connection, on or off "
            "(LOGIN_FAILURES_PER_USERNAME and LOGIN_FAILURES_PER_IP)."
        ),
    )

    class Meta:
        model = Connection
        fields = ("name",)

    def __init__(self, *args: Any, strategy: str, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strategy = strategy
        self.actor = actor
        self.saved: Connection | None = None
        for name in set(DATABASE_OPTIONS) - set(option_fields(strategy)):
            del self.fields[name]
        if not self.instance._state.adding:  # the id has a default, so "has a pk" is no test of "exists"
            del self.fields["name"]
            self._load(self.instance.options)
            self.initial["display_name"] = self.instance.display_name
            self.initial["metadata"] = self.instance.metadata

    def _load(self, options: dict[str, Any]) -> None:
        username = (options.get("validation") or {}).get("username") or {}
        dictionary = options.get("password_dictionary") or {}
        history = options.get("password_history") or {}
        values = {
            "requires_username": options.get("requires_username", False),
            "username_min": username.get("min"),
            "username_max": username.get("max"),
            "password_policy": policy_level(options),
            "min_length": (options.get("password_complexity_options") or {}).get("min_length"),
            "dictionary_enabled": dictionary.get("enable", False),
            "dictionary_words": "\n".join(dictionary.get("dictionary", [])),
            "history_enabled": history.get("enable", False),
            "history_size": history.get("size"),
            "no_personal_info": (options.get("password_no_personal_info") or {}).get("enable", False),
            "disable_signup": options.get("disable_signup", False),
            "brute_force_protection": options.get("brute_force_protection", False),
        }
        for name, value in values.items():
            if name in self.fields:
                self.initial[name] = value

    def options(self) -> dict[str, Any]:
        data = self.cleaned_data
        options: dict[str, Any] = {}
        for flag in ("disable_signup", "brute_force_protection"):
            if data.get(flag):
                options[flag] = True
        if self.strategy != Strategy.AUTH0:
            return options
        options["passwordPolicy"] = data.get("password_policy", DEFAULT_LEVEL)
        if data.get("requires_username"):
            options["requires_username"] = True
        if data.get("username_min") is not None or data.get("username_max") is not None:
            options["validation"] = {
                "username": {
                    "min": data.get("username_min") or DEFAULT_USERNAME_MIN,
                    "max": data.get("username_max") or DEFAULT_USERNAME_MAX,
                }
            }
        if data.get("min_length") is not None:
            options["password_complexity_options"] = {"min_length": data["min_length"]}
        words = [w.strip() for w in (data.get("dictionary_words") or "").splitlines() if w.strip()]
        if data.get("dictionary_enabled") or words:
            options["password_dictionary"] = {"enable": bool(data.get("dictionary_enabled")), "dictionary": words}
        if data.get("history_enabled") or data.get("history_size") is not None:
            options["password_history"] = {"enable": bool(data.get("history_enabled"))}
            if data.get("history_size") is not None:
                options["password_history"]["size"] = data["history_size"]
        if data.get("no_personal_info"):
            options["password_no_personal_info"] = {"enable": True}
        return options

    def clean_name(self) -> str:
        """Auth0's connection name rule (``CONNECTION_NAME_PATTERN``), said in words: the API answers with the
        pattern itself, as Auth0 does, which reads as noise to an operator."""
        name: str = self.cleaned_data["name"]
        if not re.fullmatch(CONNECTION_NAME_PATTERN, name):
            raise forms.ValidationError(
                _(
                    "Use only letters (a-z, A-Z) and digits, with single hyphens between them: no spaces, dots or "
                    "underscores, and no hyphen at the start or the end."
                ),
                code="pattern",
            )
        return name

    def clean_metadata(self) -> dict[str, Any] | None:
        """Empty is no metadata; the text ``null`` is refused, as the API refuses a null ``metadata``."""
        value: dict[str, Any] | None = self.cleaned_data.get("metadata")
        if value is None and (self.data.get(self.add_prefix("metadata")) or "").strip():
            raise forms.ValidationError(messages.invalid_type("object", "null"), code=FieldCode.INVALID_TYPE)
        return value

    def details(self) -> dict[str, Any]:
        """The display name and metadata to write: all given ones for a new connection, those that changed for an
        existing one. Emptied metadata is stored as ``{}``, as the API's PATCH stores it (it cannot go back to none).
        """
        data = self.cleaned_data
        details: dict[str, Any] = {}
        if "display_name" in data:
            details["display_name"] = data["display_name"]
        if "metadata" in data and (data["metadata"] is not None or self.instance.metadata is not None):
            details["metadata"] = {} if data["metadata"] is None else data["metadata"]
        if self.instance._state.adding:
            return details
        return {key: value for key, value in details.items() if getattr(self.instance, key) != value}

    def clean(self) -> dict[str, Any]:
        """Every refusal in one round: the options, display name and metadata are checked by the API's own
        validation even when another field was refused, and the service runs only once nothing was."""
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns (typed Optional: a Form.clean() may return None)
        adding = self.instance._state.adding
        # A refused name is already on its field; the options are checked under a stand-in that passes.
        name = (cleaned.get("name") or "stand-in") if adding else self.instance.name
        refused = False
        for check in (
            lambda: validate_connection(name=name, strategy=self.strategy, options=self.options()),
            lambda: validate_display_name_and_metadata(self.details()),
        ):
            try:
                check()
            except PayloadValidationError as exc:
                self._place(exc)
                refused = True
        if refused or self.errors:
            return cleaned
        try:
            if not adding:
                self.saved = update_connection(
                    connection_id=self.instance.pk, options=self.options(), actor=self.actor, **self.details()
                )
            else:
                self.saved = create_connection(
                    name=cleaned["name"],
                    strategy=self.strategy,
                    options=self.options(),
                    actor=self.actor,
                    **self.details(),
                )
        except PayloadValidationError as exc:
            self._place(exc)
        except DomainError as exc:
            self.add_error("name" if "name" in self.fields else None, exc.message)
        return cleaned

    def _place(self, exc: PayloadValidationError) -> None:
        """Each of the API's field errors on the form field it is about; the summary when none fits."""
        placed = False
        for error in exc.errors:
            field = _ERROR_FIELDS.get(error.field or "")
            if field in self.fields and field not in self.errors:
                self.add_error(field, error.message)
                placed = True
            elif field in self.errors:
                placed = True
        if not placed:
            self.add_error(None, exc.message)

    def _post_clean(self) -> None:
        """The service validated and saved the connection."""


class ChooseStrategyForm(forms.Form):
    strategy = forms.ChoiceField(label=_("Strategy"), choices=Strategy.choices)
