"""Admin forms for directory users: they collect fields, then run the same schema, strategy and password
checks and the same services as the API, and show each refusal on its field.

The service runs inside ``clean()`` (the admin wraps the whole view in one transaction), so a refusal of any
kind (schema, strategy, policy, a duplicate decided by the database) becomes a form error, never a 500.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from connections.models import Connection
from connections.password_policy import PasswordPolicyError, check_password
from connections.strategies import check_user_fields, identifier_fields
from core.actors import Actor
from core.admin_forms import JSONObjectFormField
from core.errors import DomainError, FieldError, PayloadValidationError
from core.schema import validate_payload
from users.errors import IdentifierTaken, UserAlreadyExists
from users.fields import METADATA_FIELDS, METADATA_MAX_DEPTH, PROFILE_FIELDS, VERIFICATION_FLAGS
from users.models import User
from users.serializers import CreateUserRequestSerializer, UpdateUserRequestSerializer, UserInput
from users.services import check_password_policy, create_user, update_user


def fields_for(connection: Connection) -> list[str]:
    """The fields a connection's users may have, in form order: the identifiers its strategy takes
    (``connections.strategies.identifier_fields``), their verification flags, the profile, metadata, ``blocked``."""
    identifiers = identifier_fields(connection)
    flags = [flag for field in identifiers for flag in VERIFICATION_FLAGS.get(field, ())]
    return [*identifiers, *flags, *PROFILE_FIELDS, *METADATA_FIELDS, "blocked"]


def takes_password(connection: Connection) -> bool:
    """Whether the connection's strategy takes a password (an operator may set one)."""
    return "password" in identifier_fields(connection)


def _apply_errors(
    form: forms.BaseForm,
    errors: list[FieldError],
    message: str,
    password_field: str = "password",  # noqa: S107 - a field name
) -> None:
    placed = False
    for error in errors:
        field = (error.field or "").split(".")[0]
        field = password_field if field == "password" else field
        if field in form.fields:
            form.add_error(field, error.message)
            placed = True
    if not placed:
        form.add_error(None, message)


def _run(
    form: forms.BaseForm,
    action: Any,
    password_field: str = "password",  # noqa: S107 - a field name
    *,
    skip_placed: bool = False,
) -> Any:
    """Call a service (or a check) and turn its domain errors into form errors; with ``skip_placed``, a field
    error on a field that already shows one is left out (it speaks of the same value)."""
    try:
        return action()
    except PasswordPolicyError as exc:
        target = password_field if password_field in form.fields else None
        for _code, message in exc.failures or [("", f"{exc.name}: {exc.message}")]:
            form.add_error(target, message)
    except UserAlreadyExists as exc:
        form.add_error(None, exc.message)
    except IdentifierTaken as exc:  # a change to an identifier another user holds: shown beside that field
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    except PayloadValidationError as exc:
        errors = [e for e in exc.errors if not (skip_placed and (e.field or "").split(".")[0] in form.errors)]
        if errors or not skip_placed:
            _apply_errors(form, errors, exc.message, password_field)
    except DomainError as exc:
        form.add_error(None, exc.message)
    return None


class _PlainTextFields(forms.ModelForm):
    """Formats are checked by the API's schema, so its wording (and every problem at once) reaches the form."""

    # Not stripped: the address is checked as typed, like the API's (users.emails.check_email_address).
    email = forms.CharField(label=_("e-mail"), required=False, strip=False)
    phone_number = forms.CharField(label=_("phone number"), required=False)
    picture = forms.CharField(label=_("picture"), required=False)
    # A checkbox on both forms: the model's "never set" (None) shows unchecked and stays None unless ticked.
    blocked = forms.BooleanField(label=_("blocked"), required=False)


class UserAddForm(_PlainTextFields):
    """Step two of adding a user: the chosen connection's fields only."""

    password = forms.CharField(label=_("password"), widget=forms.PasswordInput(render_value=False), required=False)
    verify_email = forms.BooleanField(label=_("send a verification e-mail"), required=False, initial=True)
    user_metadata = JSONObjectFormField(label=_("user metadata"), required=False, max_depth=METADATA_MAX_DEPTH)
    app_metadata = JSONObjectFormField(label=_("app metadata"), required=False, max_depth=METADATA_MAX_DEPTH)

    class Meta:
        model = User
        fields = (
            "email", "username", "phone_number", "email_verified", "phone_verified",
            *PROFILE_FIELDS, "blocked",
        )  # fmt: skip

    def __init__(self, *args: Any, connection: Connection, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection = connection
        self.actor = actor
        self.created: User | None = None
        allowed = fields_for(connection)
        for name in list(self.fields):
            if name not in allowed:
                del self.fields[name]

    def _payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"connection": self.connection.name}
        for name, value in self.cleaned_data.items():
            if value in (None, "") or (name in ("blocked",) and value is False):
                continue
            payload[name] = value
        return payload

    def clean(self) -> dict[str, Any]:
        """Every refusal in one round: when the schema (or a field) refuses something, the connection's own rules
        (required fields, the password policy) still judge what was typed; the service runs once all pass."""
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns (typed Optional: a Form.clean() may return None)
        payload = self._payload()
        try:
            data = validate_payload(CreateUserRequestSerializer, payload)
        except PayloadValidationError as exc:
            _apply_errors(self, exc.errors, exc.message)
            self._check_connection_rules(payload)
            return cleaned
        if self.errors:
            self._check_connection_rules(payload)
            return cleaned
        self.created = _run(self, lambda: create_user(data=data, actor=self.actor))
        return cleaned

    def _check_connection_rules(self, payload: dict[str, Any]) -> None:
        """The strategy's required and refused fields and the password policy, on the typed values (text only:
        whatever the schema refused is already on its field), without creating anything."""
        typed = {k: v for k, v in payload.items() if isinstance(v, str | bool) or k == "connection"}
        _run(self, lambda: check_user_fields(self.connection, typed), skip_placed=True)
        if isinstance(typed.get("password"), str) and "password" not in self.errors:
            # The typed text values, shaped as the body the policy reads (password, e-mail, username, names).
            _run(self, lambda: check_password_policy(connection=self.connection, data=cast("UserInput", typed)))

    def _post_clean(self) -> None:
        """The service built and saved the row; the ModelForm must not validate a second, unsaved copy."""


class UserChangeForm(_PlainTextFields):
    """Profile fields, metadata as JSON and an operator-set password, applied through ``update_user``."""

    new_password = forms.CharField(
        label=_("new password"),
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text=_("Leave empty to keep the current password. It must pass the connection's policy."),
    )
    user_metadata = JSONObjectFormField(label=_("user metadata"), required=False, max_depth=METADATA_MAX_DEPTH)
    app_metadata = JSONObjectFormField(label=_("app metadata"), required=False, max_depth=METADATA_MAX_DEPTH)

    class Meta:
        model = User
        fields = (
            "email", "username", "phone_number", "email_verified", "phone_verified",
            *PROFILE_FIELDS, *METADATA_FIELDS, "blocked",
        )  # fmt: skip

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.updated: User | None = None
        allowed = set(fields_for(self.instance.connection)) | {"new_password"}
        for name in list(self.fields):
            if name not in allowed:
                del self.fields[name]
        if not takes_password(self.instance.connection):
            del self.fields["new_password"]

    def _changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in self.changed_data:
            if name == "new_password":
                continue
            value = self.cleaned_data.get(name)
            if name in METADATA_FIELDS and isinstance(value, dict):
                # The form edits the whole object: send it as a replacement (clear, then merge all keys).
                old = getattr(self.instance, name) or {}
                changes[name] = {**{k: None for k in old if k not in value}, **value} if value else {}
            elif name in METADATA_FIELDS:
                # An emptied box (or null) clears the metadata; any other JSON (an array, a string, a number) goes
                # to the schema as typed, which refuses it on its field: it used to end the page with a 500, and
                # [], 0, false or "" cleared the metadata as if the box were empty.
                changes[name] = {} if value is None else value
            else:
                changes[name] = None if value == "" else value
        if self.cleaned_data.get("new_password"):
            changes["password"] = self.cleaned_data["new_password"]
        return changes

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns (typed Optional: a Form.clean() may return None)
        changes = self._changes()
        if not changes:
            return cleaned
        try:
            data = validate_payload(UpdateUserRequestSerializer, changes)
        except PayloadValidationError as exc:
            _apply_errors(self, exc.errors, exc.message, "new_password")
            self._check_new_password()
            return cleaned
        if self.errors:
            self._check_new_password()
            return cleaned
        self.updated = _run(
            self, lambda: update_user(user_id=self.instance.user_id, data=data, actor=self.actor), "new_password"
        )
        return cleaned

    def _check_new_password(self) -> None:
        """The connection's password policy on a typed new password, so its refusal shows with the form's other
        errors instead of in a second round (judged against the stored profile)."""
        password = self.cleaned_data.get("new_password")
        if not password or "new_password" in self.errors:
            return
        user = self.instance
        profile = {field: getattr(user, field) for field in ("email", "username", "name", "nickname")}
        _run(
            self,
            lambda: check_password(
                password, options=user.connection.options, user_info={**profile, "user_metadata": user.user_metadata}
            ),
            "new_password",
        )

    def _post_clean(self) -> None:
        """The service saved the change; the instance is not validated or saved by the form."""


class ChooseConnectionForm(forms.Form):
    connection = forms.ModelChoiceField(
        queryset=Connection.objects.order_by("name"), label=_("connection"), empty_label=None
    )
