"""Signals of the connections app, for the apps above it (``connections`` may not import them: pyproject's
layering contract).

``connection_deleting`` is sent by ``connections.services.delete_connection`` inside its transaction, with the
connection's row locked ``FOR UPDATE`` and before the row (and, by cascade, its users) goes: keyword arguments
``connection`` (the ``Connection``) and ``actor``. A receiver's writes commit or roll back with the deletion; an
exception it raises rolls the deletion back. ``users`` writes each user's ``user.deleted`` event here
(``users.streams.emit_connection_users_deleted``), so a stream hears of every user the deletion takes with it.
"""

from __future__ import annotations

from django.dispatch import Signal

connection_deleting = Signal()
