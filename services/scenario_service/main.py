"""Assembles the scenario service: store, outbox relay, platform consumer, scheduler, HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit.dossier_keys import HttpKeySource, KeySource
from servicekit.pgsetup import assembled
from servicekit.runtime import Runtime, http_app, serve
from servicekit.settings import Settings, service_url
from services.scenario_service import kafka, settings
from services.scenario_service.application import Scenarios
from services.scenario_service.http import router
from services.scenario_service.scheduler import RunScheduler

MAX_BODY_BYTES = 1024 * 1024


def create_app(config: Settings | None = None, key_source: KeySource | None = None) -> FastAPI:
    """``key_source``: where the dossiers' data keys are; the dossier check's ``POST
    /data-keys`` unless given (a test's keys in memory)."""
    config = config or settings.load()
    keys = key_source or HttpKeySource(
        service_url("dossiercontrole"), config.jwt_secret, name=config.service
    )
    application = Scenarios(env=config.eventstore_env("scenario"), key_source=keys)
    runtime = Runtime(config)
    runtime.event_sourced(application, kafka)
    runtime.add_job("scheduler", RunScheduler(application).run)
    app = http_app(
        runtime,
        title="Actiepunten scenario service",
        description="Scenario catalogue (admin), scenario runs and document requests (adviser).",
    )
    app.state.application = application
    # JSON bodies here are small (a scenario's items are at most 192 KiB): refuse a larger one
    # while it arrives, before it is parsed.
    app.include_router(router, max_body_size=MAX_BODY_BYTES)
    return app


def main() -> None:
    config = settings.load()
    serve(assembled(create_app, config), config)
