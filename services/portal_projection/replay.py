"""Rebuilding the portal's read model from the beginning of the topics it consumes (the
dossier check's, the platform's clients).

Into a new SQLite file or PostgreSQL schema, while the portal keeps serving the old model; once
the new one has caught up with the end offsets seen at the start, the pointer names it and every
replica of the portal switches to it (``main.follow_replays``). `actiepunten replay portal` runs
it on an operator's word; the portal runs it by itself when the model it serves was built by
older projections than its own (``stores.VERSION``: one written before the work queue has no
documents), so that an upgrade needs no command. One replica at a time does that (a lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import Tracking

from servicekit.datadir import private_dir
from servicekit.kafka import TopicReader, tracking_name
from servicekit.keyclient import DataKeyClient, KeysUnavailable, has_sealed
from servicekit.lease import FileLease, Lease, PostgresAdvisoryLease
from servicekit.retry import Backoff
from servicekit.settings import Settings, service_url
from services.portal_projection.kafka import CONSUMES
from services.portal_projection.stores import VERSION, activate, current_name, new_name, open_store
from services.portal_projection.views import PortalView
from shared.events.codec import CodecError
from shared.events.native import decode_fast

log = logging.getLogger(__name__)

KEY_ATTEMPTS = 60


class Progress(Protocol):
    """Told how many records there are to read, then how many were read."""

    total: int | None

    def advance(self, count: int = 1) -> None: ...


class Source(Protocol):
    """The records of the topic to its end (``TopicReader``)."""

    async def __aenter__(self) -> Source: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def remaining(self) -> int: ...

    def batches(self) -> AsyncIterator[tuple[Any, list[Any]]]: ...


@dataclass(frozen=True)
class Rebuilt:
    name: str
    skipped: int  # records that are no event (the live consumer dead-lettered them)


async def rebuild(
    settings: Settings,
    progress: Progress | None = None,
    source: Source | None = None,
    keys: DataKeyClient | None = None,
) -> Rebuilt:
    """A new read model from the topic's beginning to its end as of now, then served; sealed
    personal fields opened with their dossiers' keys (``keys``: by default from the dossier
    check, as the live consumer gets them)."""
    keys = keys or DataKeyClient(
        service_url("dossiercontrole"), settings.jwt_secret, name="portal-replay"
    )
    target = new_name(settings)
    store = await asyncio.to_thread(open_store, settings, target, rebuilding=True)
    view = PortalView(store)
    sources = (
        [source]
        if source is not None
        else [TopicReader(settings.kafka, topic) for topic in CONSUMES]
    )
    try:
        skipped = 0
        # One topic after the other: no projection of one topic reads another topic's tables.
        for each in sources:
            skipped += await _read(view, each, progress, keys)
        await asyncio.to_thread(store.rebuilt)
    finally:
        view.close()
        await keys.close()
    await asyncio.to_thread(activate, settings, target)
    return Rebuilt(target, skipped)


async def _read(
    view: PortalView, source: Source | TopicReader, progress: Progress | None, keys: DataKeyClient
) -> int:
    """One topic into the new model to its end as of now; how many records were no event.

    A pipeline of two steps beside the event loop (a portal rebuilding itself serves on): a
    batch is decoded while the one before it is written (SQLite and PostgreSQL do most of a
    write without holding the GIL). Batches are written one after the other, in order.
    """
    skipped = 0
    writing: asyncio.Future[None] | None = None
    async with source as reader:
        if progress is not None:
            progress.total = (progress.total or 0) + await reader.remaining()
        try:
            async for _, records in reader.batches():
                events = await _opened(keys, await asyncio.to_thread(_decoded, records))
                skipped += events.count(None)
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(asyncio.to_thread(_write, view, records, events))
                if progress is not None:
                    progress.advance(len(records))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                # Failing elsewhere: the write in hand ends before the model is closed.
                await asyncio.wait([writing])
    return skipped


def _decoded(records: Sequence[Any]) -> list[Any]:
    """The events of one fetched batch (None for a record that is no event), decoded natively
    where the record allows (``native.decode_fast``: the projections read both kinds alike)."""
    events: list[Any] = []
    for record in records:
        try:
            events.append(decode_fast(record.topic, record.value))
        except CodecError:
            events.append(None)
    return events


async def _opened(keys: DataKeyClient, events: list[Any]) -> list[Any]:
    """The batch's events with their sealed fields opened; waits for the dossier check a while
    (it may be starting too), then stops the rebuild with the reason."""
    if not any(event is not None and has_sealed(event) for event in events):
        return events
    backoff = Backoff(0.2, 2.0)
    for _attempt in range(KEY_ATTEMPTS):
        try:
            opened = iter(await keys.open([e for e in events if e is not None]))
        except KeysUnavailable as error:
            log.warning("replay: waiting for the dossiers' keys: %s", error)
            await backoff.sleep()
            continue
        return [next(opened) if event is not None else None for event in events]
    raise KeysUnavailable("the dossier check gave no data keys: start it, then replay again")


def _write(view: PortalView, records: Sequence[Any], events: Sequence[Any]) -> None:
    """One fetched batch of one partition in one transaction, with the position after its last
    record."""
    last = records[-1]
    view.process_many(events, Tracking(tracking_name(last.topic, last.partition), last.offset + 1))


# --- a portal that serves an older model rebuilds it ---------------------------------------------


def rebuild_lease(settings: Settings) -> Lease:
    """Who rebuilds: one replica at a time, across the replicas sharing the read model."""
    if settings.persistence == "postgres":
        import psycopg

        def connect() -> Any:
            return psycopg.connect(**settings.postgres_params(), autocommit=True)

        return PostgresAdvisoryLease(connect, "actiepunten_portal.rebuild")
    private_dir(settings.data_dir)
    return FileLease(settings.data_dir / "portal-rebuild.lock")


async def upgrade_older_model(
    settings: Settings, view: PortalView, lease: Lease, interval: float = 30.0
) -> None:
    """While the served model is older than this code's projections, rebuild it (a replica
    that holds the lease; the others switch once the pointer names the new model)."""
    while True:
        if view.store.version < VERSION:
            await _upgrade_once(settings, view, lease)
        await asyncio.sleep(interval)


async def _upgrade_once(settings: Settings, view: PortalView, lease: Lease) -> None:
    if not await asyncio.to_thread(lease.acquire):
        return  # another replica rebuilds it
    try:
        if await asyncio.to_thread(current_name, settings) != view.name:
            return  # a rebuilt model is named already: this replica switches to it
        log.warning(
            "read model %s was built by older projections (version %d, this code's %d): "
            "rebuilding it from the topic in the background",
            view.name,
            view.store.version,
            VERSION,
        )
        rebuilt = await rebuild(settings)
        log.info("read model rebuilt in %s (%d unreadable records)", rebuilt.name, rebuilt.skipped)
    except Exception:
        log.exception("rebuilding the read model failed; trying again later")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(lease.release)
