"""OAuth errors of the token endpoint: ``{error, error_description}`` with a status (RFC 6749 §5.2)."""

from __future__ import annotations


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.retry_after = retry_after
        self.status = status
        self.error = error
        self.description = description


class ClientNotFound(Exception):
    """No client with that id (commands and admin actions)."""
