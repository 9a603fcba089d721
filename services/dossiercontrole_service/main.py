"""Assembles the dossier-check service: store, blob store, outbox relay, consumer, HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit.pgsetup import assembled
from servicekit.runtime import Runtime, http_app, serve
from servicekit.settings import Settings
from services.dossiercontrole_service import kafka, settings
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.blobstore import Blobs, BlobStore, PostgresBlobStore
from services.dossiercontrole_service.data_keys import OpenedHere, data_keys
from services.dossiercontrole_service.evidence import Evidence
from services.dossiercontrole_service.evidence_http import router as evidence_router
from services.dossiercontrole_service.files import router as files_router
from services.dossiercontrole_service.http import router
from services.dossiercontrole_service.lifecycle_http import router as lifecycle_router
from services.dossiercontrole_service.retention import Erasure, RetentionScheduler
from services.dossiercontrole_service.scheduler import DueScheduler, ExpiryScheduler

# Room for the multipart framing around the file: boundaries, part headers, a long filename.
MULTIPART_ALLOWANCE = 64 * 1024
# A dossier's closing, retention and erasure take small JSON bodies; a batch of data keys asks
# for up to 1,000 dossier ids of up to 200 characters.
MAX_LIFECYCLE_BODY_BYTES = 256 * 1024


def create_app(config: Settings | None = None) -> FastAPI:
    config = config or settings.load()
    keys = data_keys(config)
    application = DossierChecks(env=config.eventstore_env("dossiercontrole"), keys=keys)
    runtime = Runtime(config)
    # The scenario service's requests are sealed with this service's keys: opened here.
    runtime.event_sourced(application, kafka, opener=OpenedHere(keys).open)
    runtime.add_job("expiries", ExpiryScheduler(application).run)
    runtime.add_job("due-dates", DueScheduler(application).run)
    blobs = blob_store(config)
    erasure = Erasure(application, blobs)
    runtime.add_job("retention", RetentionScheduler(application, erasure).run)
    app = http_app(
        runtime,
        title="Actiepunten dossier-check service",
        description="Dossier check (dossiercontrole), uploads, action points, document types.",
    )
    app.state.application = application
    app.state.blobs = blobs
    app.state.erasure = erasure
    app.state.data_keys = keys
    app.state.evidence = Evidence(application, blobs)
    # Refuse a body beyond the upload limit while it arrives (or at once, when its announced
    # length is too large), before it is parsed and spooled to disk: the handler's own check
    # of the file's size only runs once the whole body has been read.
    app.include_router(router, max_body_size=config.max_upload_bytes + MULTIPART_ALLOWANCE)
    app.include_router(lifecycle_router, max_body_size=MAX_LIFECYCLE_BODY_BYTES)
    app.include_router(files_router, max_body_size=MULTIPART_ALLOWANCE)
    app.include_router(evidence_router, max_body_size=MAX_LIFECYCLE_BODY_BYTES)
    return app


def blob_store(config: Settings) -> Blobs:
    """Uploads in the shared PostgreSQL database (so any replica reads any upload), or in the
    data dir next to the SQLite files."""
    if config.persistence == "postgres":
        return PostgresBlobStore(config.postgres_params(), f"actiepunten_{config.service}")
    return BlobStore(config.data_dir / "blobs")


def main() -> None:
    config = settings.load()
    serve(assembled(create_app, config), config)
