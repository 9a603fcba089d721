"""What to do with an error met while consuming a record or publishing a stored event.

Classified once, here, for the tracking consumer and the outbox relay alike:

- ``TRANSIENT``: the store or the network is away or busy (connection lost, operational
  errors, a pool that has no connection in time, serialization failures, deadlocks). Nothing
  about the record is wrong: retry with backoff until it goes through, never dead-letter.
- ``CONFLICT``: an ``IntegrityError``. Either the position was recorded already (another
  replica got there first) or an aggregate changed under us; the caller tells which and
  retries a bounded number of times.
- ``PERMANENT``: retrying changes nothing (bad data, a statement the store refuses, a stored
  event of an older shape that the code no longer reads: ``KeyError``/``TypeError``/
  ``ValueError``). Dead-letter it with the reason and go on, so one record cannot stall a
  partition or the relay for every office.

Anything not listed is permanent: a bug that is fixed later can be replayed from the DLQ
(``actiepunten dlq retry``), a stalled partition cannot be replayed around.
"""

from __future__ import annotations

import enum
import sqlite3

import psycopg
from eventsourcing import persistence as es


class Disposition(enum.Enum):
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    PERMANENT = "permanent"


# Order matters: the first class in the table that the error is an instance of decides.
# eventsourcing wraps the drivers' errors in its own (DataError, OperationalError, ...), the
# portal's read model uses sqlite3 and psycopg directly: both families are listed.
CLASSIFICATION: tuple[tuple[type[BaseException], Disposition], ...] = (
    (es.IntegrityError, Disposition.CONFLICT),
    (sqlite3.IntegrityError, Disposition.CONFLICT),
    (psycopg.IntegrityError, Disposition.CONFLICT),
    # Wrong data or a statement the store will never accept: the same every time.
    (es.DataError, Disposition.PERMANENT),
    (es.ProgrammingError, Disposition.PERMANENT),
    (es.NotSupportedError, Disposition.PERMANENT),
    (sqlite3.DataError, Disposition.PERMANENT),
    (sqlite3.ProgrammingError, Disposition.PERMANENT),
    (sqlite3.NotSupportedError, Disposition.PERMANENT),
    (psycopg.DataError, Disposition.PERMANENT),
    (psycopg.ProgrammingError, Disposition.PERMANENT),
    (psycopg.NotSupportedError, Disposition.PERMANENT),
    # The store or the network away or busy. psycopg's SerializationFailure, DeadlockDetected
    # and psycopg_pool's PoolTimeout are OperationalErrors; eventsourcing's pool timeout
    # (ConnectionUnavailableError) is its OperationalError and a TimeoutError.
    (es.OperationalError, Disposition.TRANSIENT),
    (es.InterfaceError, Disposition.TRANSIENT),
    (es.InternalError, Disposition.TRANSIENT),
    (es.WaitInterruptedError, Disposition.TRANSIENT),
    (es.ConnectionPoolClosedError, Disposition.TRANSIENT),
    (sqlite3.OperationalError, Disposition.TRANSIENT),
    (sqlite3.InterfaceError, Disposition.TRANSIENT),
    (sqlite3.InternalError, Disposition.TRANSIENT),
    (psycopg.OperationalError, Disposition.TRANSIENT),
    (psycopg.InterfaceError, Disposition.TRANSIENT),
    (psycopg.InternalError, Disposition.TRANSIENT),
    (OSError, Disposition.TRANSIENT),  # ConnectionError, TimeoutError, a full disk
    # A DatabaseError that none of the above names: eventsourcing's and the drivers' catch-all
    # for "the database said no" without saying why; treat it as the store being unwell.
    (es.PersistenceError, Disposition.TRANSIENT),
    (sqlite3.DatabaseError, Disposition.TRANSIENT),
    (psycopg.DatabaseError, Disposition.TRANSIENT),
)


def classify(error: BaseException) -> Disposition:
    """The disposition of ``error``: the first matching row of ``CLASSIFICATION``, else
    permanent (``KeyError``, ``TypeError``, ``ValueError`` and every other error included)."""
    for kind, disposition in CLASSIFICATION:
        if isinstance(error, kind):
            return disposition
    return Disposition.PERMANENT


def is_transient(error: BaseException) -> bool:
    return classify(error) is Disposition.TRANSIENT


class Refused(Exception):
    """Something refused on purpose, with a message that says why (``consumer.Rejected``)."""


def describe(error: BaseException) -> str:
    """The reason written to a dead letter: the error's own words, with its kind where those
    alone say little (a ``KeyError`` prints only the missing key)."""
    if isinstance(error, Refused):
        return str(error)
    if isinstance(error, ValueError) and str(error):
        return str(error)
    return f"{type(error).__name__}: {error}"
