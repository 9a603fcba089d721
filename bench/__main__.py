"""Benchmarks of the hot paths, each beside a baseline measured in the same run.

- codec: validating DocumentRequested records vs. plain ``json.loads`` of the same bytes;
- dossier check: applying document requests with their tracking record (one transaction each)
  to a SQLite event store vs. one plain SQLite insert per transaction;
- portal view: projecting ActionPointOpened events vs. the same plain SQLite baseline;
- memory: peak Python allocation of the dossier-check run (tracemalloc).

Timings are printed, never asserted: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path

from eventsourcing.persistence import Tracking

from bench import sealing
from bench.timing import report, timed
from services.dossiercontrole_service import kafka as check_kafka
from services.dossiercontrole_service.application import DossierChecks
from services.portal_projection.stores import SQLiteStore
from services.portal_projection.views import PortalView
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import decode, encode, new_event

SUBJECT = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}


def requested(index: int) -> c.CloudEvent:
    return new_event(
        c.DocumentRequested,
        {
            "request_id": uuid.uuid4(),
            "dossier_id": f"dossier-{index % 50}",
            "subject": SUBJECT,
            "document_type": f"type_{index % 7}",
            "source": "manual",
            "requested_by": "bench",
        },
        source="bench",
        tenant="kantoor-bench",
        dossier=f"dossier-{index % 50}",
    )


def plain_sqlite_inserts(path: Path, count: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT)")
    for index in range(count):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, ?)", (str(index), "x" * 300))
        db.execute("COMMIT")
    db.close()


def bench_codec(count: int) -> None:
    records = [encode(requested(i)) for i in range(count)]
    import json

    baseline = timed(lambda: [json.loads(r) for r in records])
    seconds = timed(lambda: [decode(topics.SCENARIO, r) for r in records])
    report("codec decode DocumentRequested", count, seconds, baseline, "records")


def bench_dossier_check(count: int, tmp: Path) -> None:
    events = [requested(i) for i in range(count)]
    baseline = timed(lambda: plain_sqlite_inserts(tmp / "baseline-dc.sqlite", count))
    app = DossierChecks(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp / "dossiercontrole.sqlite"),
        }
    )
    # The consumer's own handler, so the benchmark cannot drift from what a record costs.
    handle = check_kafka.handlers(app)["DocumentRequested"]

    def run() -> None:
        for offset, event in enumerate(events):
            handle(event, Tracking("bench:0", offset + 1))

    tracemalloc.start()
    seconds = timed(run)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report("dossier check: request + tracking", count, seconds, baseline, "requests")
    print(f"{'  peak memory (tracemalloc)':34} {peak / 1024 / 1024:12.1f} MiB for {count} requests")
    app.close()


def bench_portal(count: int, tmp: Path) -> None:
    events = [
        new_event(
            c.ActionPointOpened,
            {
                "action_point_id": uuid.uuid4(),
                "document_id": uuid.uuid4(),
                "dossier_id": f"dossier-{i % 50}",
                "subject": SUBJECT,
                "document_type": "paspoort",
                "title": "Paspoort",
                "opened_at": datetime.now(UTC),
            },
            source="bench",
            tenant="kantoor-bench",
            dossier=f"dossier-{i % 50}",
        )
        for i in range(count)
    ]
    baseline = timed(lambda: plain_sqlite_inserts(tmp / "baseline-portal.sqlite", count))
    view = PortalView(SQLiteStore(tmp / "portal.sqlite"))
    seconds = timed(
        lambda: [view.process(e, Tracking("bench:0", i + 1)) for i, e in enumerate(events)]
    )
    report("portal view: project + tracking", count, seconds, baseline, "events")
    view.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--count", type=int, default=2000, help="records of the in-process pieces")
    parser.add_argument("--only", choices=["pieces", "e2e"], help="one part only (default: both)")
    parser.add_argument(
        "--erase-documents", type=int, default=5000, help="documents of the erased dossier"
    )
    parser.add_argument(
        "--stores", default="sqlite,postgres", help="stores of the end-to-end part (comma list)"
    )
    args = parser.parse_args()
    if args.only in (None, "pieces"):
        print("in-process pieces")
        with tempfile.TemporaryDirectory() as tmp:
            bench_codec(args.count * 5)
            bench_dossier_check(args.count, Path(tmp))
            bench_portal(args.count, Path(tmp))
            sealing.bench_store_path(args.count, Path(tmp))
            sealing.bench_replay_opening(args.count * 5)
            sealing.bench_erasure(args.erase_documents, Path(tmp))
    if args.only in (None, "e2e"):
        from bench import e2e

        e2e.run(args.stores.split(","))


if __name__ == "__main__":
    main()
