"""Auth0's limit on offset paging: a list pages through its first 1,000 records only, and a page past them is a 400
``invalid_paging`` rather than an empty page. The official SDKs' pagers read pages until one is empty, so on Auth0
a script paging past the limit gets the SDK's ``BadRequestError``; an empty page would end it silently, as if every
record had been read.

The limit is a rule of the management API's lists (the admin pages through every user), so it is checked here, before
any query; ``include_totals`` still counts every record on the pages it allows. Each list counts and words it as
Auth0's does:

- users (``GET /api/v2/users``): a page reaching past the 1,000th record, ``(page + 1) * per_page > 1000``, is refused
  with "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-
  results-by-page#limitation" (the "View Search Results by Page" page's limitation; the body as auth0/auth0.net#979
  quotes it).
- logs (``GET /api/v2/logs``): Auth0's page says one "may paginate only through 1,000 search results"; its logs
  search answered ``page=10&per_page=100`` and refused ``page=11`` with "Requesting page 11 exceeds the allowed maximum
  of 1000 records: please consider searching by checkpoint https://auth0.com/docs/logs/retrieve-log-events-using-
  mgmt-api#retrieve-logs-by-checkpoint" (tfadeyi/auth0-simple-exporter#69, whose client asked pages 0, 1, 2, ... of
  100), so a page starting past the 1,000th record is refused: ``page * per_page > 1000``.
- connections (``GET /api/v2/connections``): Auth0's description says checkpoint paging "must be used if you need to
  retrieve more than 1000 connections". Its lists that also page by checkpoint (role users, organizations and their
  members) refuse ``(page + 1) * per_page > 1000`` with "Requesting page 10 exceeds the allowed maximum of 1000
  records. To fetch results beyond 1000, use the checkpoint pagination method." (auth0/auth0-python#277,
  airbytehq/airbyte#39493, the role-users support article); connections answer the same.

The code is ``invalid_paging`` for all three (the users body above; the organization members page documents it for
"Requesting page exceeds the allowed maximum of 1000 records.").
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from core.errors import PagingLimitExceeded

RECORDS_LIMIT = 1000


def check_users_page(*, page: int, per_page: int) -> None:
    """Refuse a users page that reaches past the first 1,000 users: ``PagingLimitExceeded`` (400 ``invalid_paging``)."""
    if (page + 1) * per_page > RECORDS_LIMIT:
        raise PagingLimitExceeded(
            _(
                "You can only page through the first 1000 records. "
                "See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation"
            )
        )


def check_logs_page(*, page: int, per_page: int) -> None:
    """Refuse a logs page that starts past the first 1,000 events: ``PagingLimitExceeded`` (400 ``invalid_paging``)."""
    if page * per_page > RECORDS_LIMIT:
        message = _(
            "Requesting page %(page)s exceeds the allowed maximum of 1000 records: please consider searching by "
            "checkpoint https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#retrieve-logs-by-checkpoint"
        )
        raise PagingLimitExceeded(message % {"page": page})


def check_connections_page(*, page: int, per_page: int) -> None:
    """Refuse a connections page that reaches past the first 1,000 connections: ``PagingLimitExceeded`` (400
    ``invalid_paging``); checkpoint paging (``from``/``take``) has no limit."""
    if (page + 1) * per_page > RECORDS_LIMIT:
        message = _(
            "Requesting page %(page)s exceeds the allowed maximum of 1000 records. "
            "To fetch results beyond 1000, use the checkpoint pagination method."
        )
        raise PagingLimitExceeded(message % {"page": page})
