"""Query schemas of the logs API (``GET /api/v2/logs`` and ``GET /api/v2/users/{id}/logs``), as Auth0's OAS
declares them."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from core.schema import MAX_PAGE, QueryBooleanField, QueryIntegerField, StrictCharField, StrictSerializer
from core.search import MAX_QUERY_LENGTH

# log_id's column size: a longer checkpoint names no event and is refused before any query.
CHECKPOINT_MAX_LENGTH = 64
_SORT = r"^date:(1|-1)$"


class ListLogsQuerySerializer(StrictSerializer):
    page = QueryIntegerField(min_value=0, max_value=MAX_PAGE, help_text=_("Page index of the results to return."))
    per_page = QueryIntegerField(min_value=0, max_value=100, help_text=_("Number of results per page."))
    sort = StrictCharField(pattern=_SORT, help_text=_("date:1 for oldest first, date:-1 for newest."))
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.fields; the stubs
    # cannot express that.
    fields = StrictCharField(  # type: ignore[assignment]
        help_text=_("Comma-separated list of fields to include or exclude.")
    )
    include_fields = QueryBooleanField(help_text=_("Whether the fields are included (true) or excluded (false)."))
    include_totals = QueryBooleanField(help_text=_("Return an object with the total count (true) or an array."))
    q = StrictCharField(
        max_length=MAX_QUERY_LENGTH,
        help_text=_(
            "Query in Lucene query string syntax (Auth0's log search). Fields, all case sensitive: type, user_id, "
            "user_name, client_id, connection, connection_id, description, ip, user_agent, log_id, and date (a day "
            "such as 2026-01-31, a month, a year or an instant; ranges like date:[2026-01-01 TO 2026-01-31]). A bare "
            "term searches connection, description, ip, log_id, type and user_name. log_id ranges read in the "
            "log's order: log_id:[ID TO *] is that event and every later one."
        ),
    )
    # The official SDKs send the search as "search" (Auth0's OAS names get_logs' query parameter so: auth0-python 6's
    # logs.list(search=...), node-auth0's logs.list({search})); refusing it as an unknown parameter broke them.
    search = StrictCharField(
        max_length=MAX_QUERY_LENGTH,
        help_text=_(
            "The same query as q, under the name the official SDKs send it (auth0-python's logs.list(search=...)). "
            "With q as well, an event must match both."
        ),
    )
    # Auth0's OAS: "Number of entries to retrieve when using the from parameter. Default 50, max 100".
    take = QueryIntegerField(
        min_value=1, max_value=100, help_text=_("Number of entries to retrieve when using the from parameter.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword: declared here rather than as a class attribute.
        self.fields["from"] = StrictCharField(  # type: ignore[index]
            max_length=CHECKPOINT_MAX_LENGTH,
            help_text=_("Log event id from which to start retrieving logs (checkpoint paging)."),
        )


class UserLogsQuerySerializer(StrictSerializer):
    page = QueryIntegerField(min_value=0, max_value=MAX_PAGE, help_text=_("Page index of the results to return."))
    # Auth0's OAS for this operation: per_page from 1 to 100 (the logs search allows 0).
    per_page = QueryIntegerField(min_value=1, max_value=100, help_text=_("Number of results per page."))
    sort = StrictCharField(pattern=_SORT, help_text=_("date:1 for oldest first, date:-1 for newest."))
    include_totals = QueryBooleanField(help_text=_("Return an object with the total count (true) or an array."))
