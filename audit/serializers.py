"""Query schema of the logs API."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.schema import MAX_PAGE, QueryBooleanField, QueryIntegerField, StrictCharField, StrictSerializer


class ListLogsQuerySerializer(StrictSerializer):
    page = QueryIntegerField(min_value=0, max_value=MAX_PAGE, help_text=_("Page index of the results to return."))
    per_page = QueryIntegerField(min_value=0, max_value=100, help_text=_("Number of results per page."))
    sort = StrictCharField(pattern=r"^date:(1|-1)$", help_text=_("date:1 for oldest first, date:-1 for newest."))
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.fields; the stubs
    # cannot express that.
    fields = StrictCharField(  # type: ignore[assignment]
        help_text=_("Comma-separated list of fields to include or exclude.")
    )
    include_fields = QueryBooleanField(help_text=_("Whether the fields are included (true) or excluded (false)."))
    include_totals = QueryBooleanField(help_text=_("Return an object with the total count (true) or an array."))
