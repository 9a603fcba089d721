"""The garbage collector set for processes that make many short-lived objects per record.

CPython collects its youngest generation every 700 container allocations and, every tenth time,
the older ones too, walking every object the process holds: the modules, pydantic's schemas and
FastAPI's routes included. Validating one event makes a few dozen such objects, so a service
spent about half of a record's decoding in the collector. Nearly all of that garbage is freed by
reference counting anyway; the collector is there for cycles.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Container allocations between two collections of the youngest generation (CPython: 700).
Garbage in cycles waits a little longer: a few MiB at most."""


def tune_for_throughput() -> None:
    """Freeze what start-up made (the collector no longer walks it) and collect less often.

    Call once the process has imported and built what it keeps for its lifetime.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
