"""Signals of the connections app, for the apps above it (``connections`` may not import them: pyproject's
layering contract).

``connection_deleting`` is sent by ``connections.services.delete_connection`` inside its transaction, with the
connection's row locked ``FOR UPDATE`` and before the row (and, by cascade, its users) goes: keyword arguments
``connection`` (the ``Connection``) and ``actor``. A receiver's writes commit or roll back with the deletion; an
exception it raises rolls the deletion back. ``users`` writes each user's ``user.deleted`` event here
(``users.streams.emit_connection_users_deleted``), so a stream hears of every user the deletion takes with it.

``connection_users_deleting`` is its counterpart for a connection with more users than
``CONNECTION_DELETE_SYNC_MAX_USERS``, whose users are deleted in the background (``connections.deletion``), one
batch per transaction: it is sent in each batch's transaction, the batch's users locked ``FOR UPDATE`` and about to
be deleted: keyword arguments ``connection`` (the ``Connection`` being deleted) and ``users`` (the batch, a list of
users with their connection read). A receiver's writes commit or roll back with the batch; an exception it raises
rolls the batch back, which is tried again later. ``users`` writes the batch's ``user.deleted`` events here
(``users.streams.emit_users_deleted``).
"""

from __future__ import annotations

from django.dispatch import Signal

connection_deleting = Signal()
connection_users_deleting = Signal()
