"""Query-string lookups the admin's lists refuse: fields that hold secrets or users' data no page shows.

Django's change list filters on any of the model's own fields named in the query string (``ModelAdmin.
lookup_allowed`` allows every lookup that does not cross a relation), whatever the page shows: a staff user who may
only view a list could read a hidden field a guess at a time, by the rows ``?field__startswith=…`` lists (a user's
password hash, a client's secret hash, the plain passwords of an import file still waiting). ``HiddenFieldLookups``
answers such a list 400, as Django answers a lookup it refuses.
"""

from __future__ import annotations

from typing import ClassVar

from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest


class HiddenFieldLookups:
    """A ``ModelAdmin`` mixin (before ``ModelAdmin`` in the bases): no query-string lookup on ``hidden_lookups``,
    the names of the model's fields no page shows."""

    hidden_lookups: ClassVar[tuple[str, ...]] = ()

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.split(LOOKUP_SEP, 1)[0] in self.hidden_lookups:
            return False
        allowed: bool = super().lookup_allowed(lookup, value, request)  # type: ignore[misc]
        return allowed
