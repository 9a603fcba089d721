"""eventsourcing's PostgreSQL persistence, its events written as four binary arrays.

eventsourcing 9.5 inserts a save's events as one array of a composite type (``unnest
(%s::stored_event_uuid[])``). psycopg dumps that array in Python, field by field: 40 us of CPU
an event in the client and 60 us of wall time for a batch of 2,000 here, the largest single
share (9-10 %) of the dossier check's and the notification service's CPU under the Kafka
path's load. The same rows as four arrays (ids, versions, topics, states), dumped in binary by
psycopg's C layer, take 5 us and 17 us. Everything else (the table lock, the notify, the
notification ids returned, the tables) is eventsourcing's own.

``PERSISTENCE_MODULE=servicekit.postgres_store`` selects it (``Settings.eventstore_env``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any
from uuid import UUID

import eventsourcing.postgres as es_postgres
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from psycopg.sql import SQL, Composed, Identifier


class ArrayInsert(es_postgres.PostgresAggregateRecorder):
    """Inserts stored events from one binary array per column."""

    @cached_property
    def _insert_from_arrays(self) -> Composed:
        statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::int8[], %b::text[], %b::bytea[])"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )
        if isinstance(self, ApplicationRecorder):
            statement += SQL(" RETURNING notification_id")  # as eventsourcing's statement
        return statement

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        as_uuid = self.datastore.originator_id_type == "uuid"
        ids = [
            UUID(str(e.originator_id))
            if as_uuid and not isinstance(e.originator_id, UUID)
            else e.originator_id
            for e in stored_events
        ]
        curs.execute(
            self._insert_from_arrays,
            (
                ids,
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )


class ArrayAggregateRecorder(ArrayInsert):
    """Snapshots."""


class ArrayApplicationRecorder(es_postgres.PostgresApplicationRecorder, ArrayInsert):
    """An application's events and notification log (its lock and notify, then the insert)."""


class ArrayProcessRecorder(es_postgres.PostgresProcessRecorder, ArrayApplicationRecorder):
    """An application's events, notification log and tracking."""


class ArrayPostgresFactory(es_postgres.PostgresFactory):
    """The only factory of the module: ``PERSISTENCE_MODULE`` names the module."""

    aggregate_recorder_class = ArrayAggregateRecorder
    application_recorder_class = ArrayApplicationRecorder
    process_recorder_class = ArrayProcessRecorder
