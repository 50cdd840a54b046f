"""Admin forms for connections: only the options that fit the strategy, validated and saved by the same
services as the connections API (inside ``clean()``, so every refusal is a form error)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from connections.models import DEFAULT_USERNAME_MAX, DEFAULT_USERNAME_MIN, Connection, Strategy
from connections.password_policy import DEFAULT_LEVEL, LEVELS, policy_level
from connections.services import create_connection, update_connection
from core.actors import Actor
from core.errors import DomainError, PayloadValidationError

DATABASE_OPTIONS = (
    "requires_username",
    "username_min",
    "username_max",
    "password_policy",
    "min_length",
    "dictionary_enabled",
    "dictionary_words",
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
    "name": "name",
}


def option_fields(strategy: str) -> tuple[str, ...]:
    return DATABASE_OPTIONS if strategy == Strategy.AUTH0 else PASSWORDLESS_OPTIONS


class ConnectionForm(forms.ModelForm):
    requires_username = forms.BooleanField(label=_("Users must have a username."), required=False)
    username_min = forms.IntegerField(label=_("Minimum username length."), required=False)
    username_max = forms.IntegerField(label=_("Maximum username length."), required=False)
    password_policy = forms.ChoiceField(
        label=_("Password strength level."), choices=[(level, level) for level in LEVELS], initial=DEFAULT_LEVEL
    )
    min_length = forms.IntegerField(label=_("Minimum password length; supersedes the policy's."), required=False)
    dictionary_enabled = forms.BooleanField(label=_("Refuse common passwords."), required=False)
    dictionary_words = forms.CharField(
        label=_("Extra words to refuse."), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line."),
    )  # fmt: skip
    no_personal_info = forms.BooleanField(
        label=_("Refuse passwords that contain the user's personal data"), required=False
    )
    disable_signup = forms.BooleanField(label=_("Refuse public sign-ups."), required=False)
    brute_force_protection = forms.BooleanField(label=_("Brute-force protection on logins."), required=False)

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

    def _load(self, options: dict[str, Any]) -> None:
        username = (options.get("validation") or {}).get("username") or {}
        dictionary = options.get("password_dictionary") or {}
        values = {
            "requires_username": options.get("requires_username", False),
            "username_min": username.get("min"),
            "username_max": username.get("max"),
            "password_policy": policy_level(options),
            "min_length": (options.get("password_complexity_options") or {}).get("min_length"),
            "dictionary_enabled": dictionary.get("enable", False),
            "dictionary_words": "\n".join(dictionary.get("dictionary", [])),
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
        options["passwordPolicy"] = data["password_policy"]
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
        if data.get("no_personal_info"):
            options["password_no_personal_info"] = {"enable": True}
        return options

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns (typed Optional: a Form.clean() may return None)
        if self.errors:
            return cleaned
        try:
            if not self.instance._state.adding:
                self.saved = update_connection(connection_id=self.instance.pk, options=self.options(), actor=self.actor)
            else:
                self.saved = create_connection(
                    name=cleaned["name"], strategy=self.strategy, options=self.options(), actor=self.actor
                )
        except PayloadValidationError as exc:
            placed = False
            for error in exc.errors:
                field = _ERROR_FIELDS.get(error.field or "")
                if field in self.fields:
                    self.add_error(field, error.message)
                    placed = True
            if not placed:
                self.add_error(None, exc.message)
        except DomainError as exc:
            self.add_error("name" if "name" in self.fields else None, exc.message)
        return cleaned

    def _post_clean(self) -> None:
        """The service validated and saved the connection."""


class ChooseStrategyForm(forms.Form):
    strategy = forms.ChoiceField(label=_("strategy"), choices=Strategy.choices)
