"""Wire schemas of the connections API (shape only; options are checked per strategy by ``options.py``), and the
typed bodies they accept, which the views pass to ``connections.services`` as keywords."""

from __future__ import annotations

from typing import Any, Required, TypedDict

from django.utils.translation import gettext_lazy as _

from connections.auth0_strategies import STRATEGIES
from connections.models import CONNECTION_NAME_MAX_LENGTH, CONNECTION_NAME_PATTERN, Strategy
from connections.options import display_name_field, metadata_field
from core import messages
from core.errors import FieldCode
from core.schema import (
    MAX_PAGE,
    JSONObjectField,
    QueryBooleanField,
    QueryIntegerField,
    QueryStringListField,
    StrictCharField,
    StrictField,
    StrictSerializer,
    check_text,
    echo,
    fail,
    json_type,
)


class ClientIdListField(StrictField):
    """An array of client ids (strings)."""

    expected_type = "array"

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            raise self.type_error(data)
        for item in data:
            if not isinstance(item, str):
                raise fail(messages.invalid_type("string", json_type(item)), FieldCode.INVALID_TYPE)
            # A form-encoded body reaches here without the JSON parser's text check: PostgreSQL refuses a NUL.
            check_text(item)
        return list(dict.fromkeys(data))


class NewConnection(TypedDict, total=False):
    """A body ``CreateConnectionRequestSerializer`` accepted: ``connections.services.create_connection``'s keywords."""

    name: Required[str]
    strategy: Required[str]
    options: dict[str, Any]
    enabled_clients: list[str]
    display_name: str
    metadata: dict[str, str | None]


# Of Auth0's CreateConnectionRequestContent only what this service acts on or keeps (display_name and metadata are
# stored and answered): realms, is_domain_connection, show_as_button and the rest are refused as additional
# properties rather than accepted and silently dropped.
class CreateConnectionRequestSerializer(StrictSerializer[NewConnection]):
    name = StrictCharField(
        min_length=1,
        max_length=CONNECTION_NAME_MAX_LENGTH,
        pattern=CONNECTION_NAME_PATTERN,
        required=True,
        help_text=_(
            "The name of the connection. Must start and end with an alphanumeric character and can "
            "only contain alphanumeric characters and '-'. Max length 128"
        ),
    )
    display_name = display_name_field()
    strategy = StrictCharField(min_length=1, required=True, help_text=_("The identity provider identifier"))
    options = JSONObjectField(max_depth=6, help_text=_("Options for the connection, per strategy"))
    enabled_clients = ClientIdListField(
        help_text=_("The identifiers of the clients for which the connection is to be enabled.")
    )
    metadata = metadata_field()

    def validate_strategy(self, value: str) -> str:
        if value not in Strategy.values:
            raise fail(messages.enum_mismatch(echo(value)), FieldCode.ENUM_MISMATCH)
        return value


class ConnectionChanges(TypedDict, total=False):
    """A body ``UpdateConnectionRequestSerializer`` accepted: ``connections.services.update_connection``'s keywords."""

    options: dict[str, Any]
    enabled_clients: list[str]
    display_name: str
    metadata: dict[str, str | None]


# name and strategy cannot change (Auth0 refuses them as additional properties); realms, is_domain_connection and
# show_as_button are refused too: nothing here would act on them.
class UpdateConnectionRequestSerializer(StrictSerializer[ConnectionChanges]):
    display_name = display_name_field()
    options = JSONObjectField(max_depth=6, help_text=_("Options for the connection; replaces the whole object"))
    enabled_clients = ClientIdListField(
        help_text=_("The identifiers of the clients for which the connection is to be enabled.")
    )
    metadata = metadata_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Auth0's schema has minProperties: 1; an empty PATCH is a mistake, not a no-op that moves updated_at.
        if not attrs:
            raise fail(messages.too_few_properties(0, 1), FieldCode.OBJECT_PROPERTIES_MINIMUM)
        return attrs


class ConnectionFieldsQuerySerializer(StrictSerializer):
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.fields; the stubs
    # cannot express that.
    fields = StrictCharField(  # type: ignore[assignment]
        help_text=_("A comma separated list of fields to include or exclude.")
    )
    include_fields = QueryBooleanField(
        help_text=_("true if the fields specified are to be included in the result, false otherwise.")
    )


class ListConnectionsQuerySerializer(ConnectionFieldsQuerySerializer):
    # Auth0's documented default is 100 (the view applies it); the help text stays the translated sentence.
    per_page = QueryIntegerField(min_value=1, max_value=100, help_text=_("The amount of entries per page."))
    page = QueryIntegerField(min_value=0, max_value=MAX_PAGE, help_text=_("The page number. Zero based."))
    include_totals = QueryBooleanField(help_text=_("true if a query summary must be included in the result."))
    take = QueryIntegerField(min_value=1, max_value=100, help_text=_("Number of results per page."))
    strategy = QueryStringListField(help_text=_("Only retrieve connections of these strategies (comma-separated)."))
    name = StrictCharField(help_text=_("The name of the connection to retrieve."))

    def validate_strategy(self, value: list[str]) -> list[str]:
        """Each value one of Auth0's strategies: a typo (``strategy=Auth0``) is a 400, not an empty list."""
        for strategy in value:
            if strategy not in STRATEGIES:
                raise fail(messages.enum_mismatch(echo(strategy)), FieldCode.ENUM_MISMATCH)
        return value

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword: declared here rather than as a class attribute.
        # mypy takes the declared field "fields" above for Serializer.fields (see there).
        self.fields["from"] = StrictCharField(  # type: ignore[index]
            help_text=_("Optional id from which to start selection.")
        )
