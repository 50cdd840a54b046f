"""PostgreSQL autovacuum settings for the queue tables (the tasks, the event outbox, the deliveries), for their
migrations.

A queue table's rows change state quickly (ready, running, finished; pending, delivered): each change leaves a dead
row version, and dead entries in the partial indexes the claims read (``status = 'READY'``, ``status =
'pending'``). By default autovacuum cleans a table once a fifth of it is dead and re-analyses it once a tenth
changed: the tasks table keeps a day of finished tasks, so under load hundreds of thousands of dead entries would
pile up between cleanings, and every claim would step over them (a claim cost grows with them: measured 0.4 ms with
2,700 dead entries on a 2-core machine, against 0.04 ms after a cleaning). These settings have such a table cleaned
and re-analysed after a fixed number of changes instead, the usual advice for queue tables (PostgreSQL 15
documentation, "Routine Vacuuming", 25.1.6, and the per-table storage parameters of CREATE TABLE). Other databases
are left alone.
"""

from __future__ import annotations

from typing import Any

# Clean and re-analyse after this many changed rows, whatever the table's size.
QUEUE_TABLE_SETTINGS = {
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_vacuum_threshold": "2000",
    "autovacuum_vacuum_insert_scale_factor": "0",
    "autovacuum_vacuum_insert_threshold": "2000",
    "autovacuum_analyze_scale_factor": "0",
    "autovacuum_analyze_threshold": "2000",
}


def tune_queue_tables(*models: str) -> tuple[Any, Any]:
    """A migration's forward and backward functions (``migrations.RunPython``) that set, then reset,
    ``QUEUE_TABLE_SETTINGS`` on the tables of ``models`` (``"app_label.Model"``) on PostgreSQL."""

    def tables(apps: Any) -> list[str]:
        return [apps.get_model(label)._meta.db_table for label in models]

    def forward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        options = ", ".join(f"{name} = {value}" for name, value in QUEUE_TABLE_SETTINGS.items())
        for table in tables(apps):
            schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET ({options})")

    def backward(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables(apps):
            schema_editor.execute(
                f"ALTER TABLE {schema_editor.quote_name(table)} RESET ({', '.join(QUEUE_TABLE_SETTINGS)})"
            )

    return forward, backward
