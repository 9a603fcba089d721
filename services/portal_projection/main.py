"""Assembles the portal projection: read model, consumer of the dossier-check topic, HTTP API."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from servicekit.runtime import Runtime, http_app, serve
from servicekit.settings import Settings
from services.portal_projection import kafka, settings
from services.portal_projection.http import router
from services.portal_projection.views import PortalView, current_path


def create_app(config: Settings | None = None) -> FastAPI:
    config = config or settings.load()
    view = PortalView(current_path(config.data_dir))
    runtime = Runtime(config)
    kafka.declare(runtime.broker)
    consumer = runtime.consumer(
        topics=kafka.CONSUMES, handlers=kafka.handlers(view), positions=view, dlq_topic=kafka.DLQ
    )

    async def follow_replays() -> None:
        # `actiepunten replay portal` builds a new read model and points at it when caught up.
        while True:
            await asyncio.sleep(0.5)
            target = current_path(config.data_dir)
            if target != view.path:
                await asyncio.to_thread(view.reopen, target)
                consumer.request_reseek()

    runtime.add_job("follow-replays", follow_replays)
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
