"""Assembles the portal projection: read model, consumer of the dossier-check topic, HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit.runtime import Runtime, http_app, serve
from servicekit.settings import Settings
from services.portal_projection import kafka, settings
from services.portal_projection.http import router
from services.portal_projection.views import PortalView


def create_app(config: Settings | None = None) -> FastAPI:
    config = config or settings.load()
    view = PortalView(config.data_dir / "portal.sqlite")
    runtime = Runtime(config)
    kafka.declare(runtime.broker)
    runtime.consumer(
        topics=kafka.CONSUMES, handlers=kafka.handlers(view), positions=view, dlq_topic=kafka.DLQ
    )
    runtime.on_close(view.close)
    app = http_app(
        runtime,
        title="Actiepunten client-portal projection",
        description="The client portal's read model (klantportaal): the client's action points",
    )
    app.state.view = view
    app.include_router(router)
    return app


def main() -> None:
    config = settings.load()
    serve(create_app(config), config)
