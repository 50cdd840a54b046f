"""Form fields the admin forms of several apps share."""

from __future__ import annotations

import json
import sys
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput
from django.utils.translation import gettext as _

from core import messages
from core.errors import FieldCode


class JSONObjectFormField(forms.JSONField):
    """A JSON object as text (metadata of a user, of a connection); its shape is checked by the API's schema in the
    form's ``clean()``. ``max_depth`` is that schema's, named when the text nests too deeply to be read at all."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def __init__(self, *, max_depth: int, **kwargs: Any) -> None:
        self.max_depth = max_depth
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        """Django's JSON parsing, and nesting too deep for Python's ``json`` (which raises ``RecursionError``, not
        a JSON error, a thousand or so levels down) refused as the API's schema refuses anything past its depth.

        An integer of more digits than Python reads (``sys.get_int_max_str_digits()``, CVE-2020-10735) is a
        ``ValueError`` that is no ``JSONDecodeError``, which is all Django's field catches: refused as not readable.
        """
        try:
            return super().to_python(value)
        except RecursionError as exc:
            raise forms.ValidationError(messages.too_deep(self.max_depth), code=FieldCode.MAX_DEPTH) from exc
        except ValueError as exc:  # JSONDecodeError is caught by Django's field: this is the digits limit
            raise forms.ValidationError(
                _("Enter a valid JSON: a number has more than %(digits)d digits.")
                % {"digits": sys.get_int_max_str_digits()},
                code="invalid",
            ) from exc

    def bound_data(self, data: Any, initial: Any) -> Any:
        """What the refused form shows again: the text as typed when it cannot be read back."""
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, InvalidJSONInput):
            return value  # text that is not JSON is shown as typed, not quoted as a JSON string
        if value is None:
            return ""
        text = json.dumps(value, ensure_ascii=False, indent=2)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate typed as an escape ("\ud800", which the schema refuses) cannot be written into the
            # page as text: the refused form is shown with the escapes as typed, not a 500 from encoding the page.
            text = json.dumps(value, ensure_ascii=True, indent=2)
        return text
