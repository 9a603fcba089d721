"""What crypto-shredding costs (issue 22), in process, each beside the same work without it in
the same run:

- the P1k path's dossier-check step: document requests with a title and instructions handled
  by the consumer's own handler into a SQLite store, and what the outbox publishes of them,
  with sealing and with a store whose aggregates have no key;
- the P3 path's decoding: records of a topic decoded natively, and then opened with their
  dossiers' keys (kept in memory, as the replay keeps them after one ``POST /data-keys`` per
  batch), beside decoding records that carry the same fields in plain text;
- erasing a dossier of 5,000 documents with a file each (the erasure recorded, the key
  destroyed, the files deleted), beside loading that dossier cold.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking

from bench.timing import report, timed
from servicekit.crypto import seal
from servicekit.keyclient import DataKeyClient
from servicekit.sealing import KeyRing, published_context
from services.dossiercontrole_service import kafka as check_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    DossierChecks,
    UploadDocument,
)
from services.dossiercontrole_service.blobstore import BlobStore
from services.dossiercontrole_service.domainmodel import DossierCheck, Outcome, document_id_for
from services.dossiercontrole_service.lifecycle import CloseDossier, EraseDossier
from services.dossiercontrole_service.retention import Erasure
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from shared.events.native import decode_fast

OFFICE = "kantoor-bench"
SUBJECT = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
DOSSIERS = 50


class NoKeys:
    """A key ring that knows no key: the same store, nothing sealed."""

    def key_of(self, aggregate_id: Any, *, fresh: bool = False) -> None:
        return None

    def ensure(self, aggregates: Any) -> None:
        return None

    def published_key(self, tenant: str, dossier_id: str) -> None:
        return None


class Unsealed(DossierChecks):
    def construct_key_ring(self) -> KeyRing:
        return NoKeys()


def _requested(index: int) -> c.CloudEvent:
    dossier = f"dossier-{index % DOSSIERS}"
    return new_event(
        c.DocumentRequested,
        {
            "request_id": uuid.uuid4(),
            "dossier_id": dossier,
            "subject": SUBJECT,
            "document_type": f"type_{index % 7}",
            "title": f"Loonstrook Jan de Vries {index}",
            "instructions": "Alle pagina's, ook de lege, van beide werkgevers",
            "source": "manual",
            "requested_by": "bench",
        },
        source="bench",
        tenant=OFFICE,
        dossier=dossier,
    )


def _store_path(app: DossierChecks, events: list[c.CloudEvent]) -> None:
    handle = check_kafka.handlers(app)["DocumentRequested"]
    for offset, event in enumerate(events):
        handle(event, Tracking("bench:0", offset + 1))
    translate = check_kafka.OUTBOX.translator(app)
    for notification in app.recorder.select_notifications(1, len(events) * 4):
        for published in translate(app.mapper.to_domain_event(notification)):
            encode(published)


def bench_store_path(count: int, tmp: Path) -> None:
    events = [_requested(i) for i in range(count)]

    def store(cls: type[DossierChecks], name: str) -> DossierChecks:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / name)}
        return cls(env=env)

    plain, sealed = store(Unsealed, "unsealed.sqlite"), store(DossierChecks, "sealed.sqlite")
    baseline = timed(lambda: _store_path(plain, events))
    seconds = timed(lambda: _store_path(sealed, events))
    report("sealing: request, store, publish", count, seconds, baseline, "requests")
    plain.close()
    sealed.close()


def _opened_records(count: int, keys: dict[str, bytes], sealed: bool) -> list[bytes]:
    records = []
    for index in range(count):
        dossier = f"dossier-{index % 1000}"
        context = published_context(OFFICE, dossier)
        title = f"Paspoort Jan de Vries {index}"
        event = new_event(
            c.ActionPointOpened,
            {
                "action_point_id": uuid.uuid4(),
                "document_id": uuid.uuid4(),
                "dossier_id": dossier,
                "subject": SUBJECT,
                "document_type": "paspoort",
                "title": seal(keys[dossier], title, context) if sealed else title,
                "opened_at": datetime.now(UTC),
            },
            source="bench",
            tenant=OFFICE,
            dossier=dossier,
        )
        records.append(encode(event))
    return records


def bench_replay_opening(count: int) -> None:
    keys = {f"dossier-{i}": os.urandom(32) for i in range(1000)}
    plain = _opened_records(count, keys, sealed=False)
    sealed = _opened_records(count, keys, sealed=True)
    client = DataKeyClient("http://unused", "unused")
    for dossier, key in keys.items():
        client._keep((OFFICE, dossier), key)  # as one POST /data-keys per batch leaves them

    def decode_all(records: list[bytes]) -> list[Any]:
        return [decode_fast(topics.DOSSIERCONTROLE, r) for r in records]

    def decode_and_open() -> None:
        asyncio.run(client.open(decode_all(sealed)))

    baseline = timed(lambda: decode_all(plain))
    seconds = timed(decode_and_open)
    report("sealing: replay decode + open", count, seconds, baseline, "records")


def bench_erasure(documents: int, tmp: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "big.sqlite")}
    app = DossierChecks(env=env)
    blobs = BlobStore(tmp / "blobs")
    now = datetime.now(UTC)
    for index in range(documents):
        request_id = uuid.uuid4()
        app.add_requested_document(
            AddRequestedDocument(
                OFFICE, "groot", request_id, SUBJECT, "bijlage", f"Bijlage {index}", True, now
            )
        )
        content = f"%PDF-1.4 bijlage {index}\n%%EOF\n".encode()
        file = {
            "sha256": blobs.put(content),
            "size": len(content),
            "content_type": "application/pdf",
            "filename": f"bijlage-{index}.pdf",
        }
        app.upload(UploadDocument(OFFICE, document_id_for(request_id), file, "client:k", now))
    app.close_dossier(CloseDossier(OFFICE, "groot", Outcome.DECLINED, "adviser:a", now))
    check_id = DossierCheck.create_id(OFFICE, "groot")

    def cold_load() -> None:
        fresh = DossierChecks(env=env)
        fresh.repository.get(check_id)
        fresh.close()

    baseline = timed(cold_load)
    erasure = Erasure(app, blobs)
    seconds = timed(lambda: erasure.erase(EraseDossier(OFFICE, "groot", "admin:a", now)))
    left = sum(1 for path in (tmp / "blobs").rglob("*") if path.is_file())
    report(f"erasing a dossier of {documents:,} documents", 1, seconds, baseline, "erasures")
    print(f"{'  files left after the erasure':34} {left:12,}  (its files: {documents:,})")
    app.close()
