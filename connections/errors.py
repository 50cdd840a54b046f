"""Errors raised by the connections app (stable codes, Auth0's messages)."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class ConnectionNotFound(DomainError):
    status = 400
    code = "inexistent_connection"
    default_message = _("The connection does not exist.")


class ConnectionAlreadyExists(DomainError):
    status = 409
    code = "connection_conflict"
    default_message = _("A connection with the same name already exists")


class ConnectionNotFoundById(DomainError):
    """``GET/PATCH/DELETE /connections/{id}`` of an id that does not exist (404, as Auth0 answers)."""

    status = 404
    code = "inexistent_connection"
    default_message = _("The connection does not exist")


class UnknownClients(DomainError):
    status = 400
    code = "invalid_body"
    default_message = _("Unknown clients in enabled_clients.")
