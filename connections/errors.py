"""Errors raised by the connections app (stable codes, Auth0's messages)."""

from config.errors import DomainError


class ConnectionNotFound(DomainError):
    status = 400
    code = "inexistent_connection"
    default_message = "The connection does not exist."


class ConnectionAlreadyExists(DomainError):
    status = 409
    code = "connection_conflict"
    default_message = "A connection with the same name already exists"
