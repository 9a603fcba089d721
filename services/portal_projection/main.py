"""Assembles the portal projection: read model, consumer of the dossier-check topic, HTTP API."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from servicekit.consumer import TrackingConsumer
from servicekit.mail import SmtpMailer, smtp_settings
from servicekit.pgsetup import assembled
from servicekit.runtime import Runtime, http_app, serve
from servicekit.settings import Settings
from services.portal_projection import kafka, settings, web
from services.portal_projection.http import router
from services.portal_projection.replay import rebuild_lease, upgrade_older_model
from services.portal_projection.signins import open_signins
from services.portal_projection.stores import current_name, open_store
from services.portal_projection.views import PortalView
from shared.events.native import decode_fast

log = logging.getLogger(__name__)


async def switch_to_served(config: Settings, view: PortalView, consumer: TrackingConsumer) -> bool:
    """Serve and follow the read model the pointer names, if it is another one.

    `actiepunten replay portal` builds a new read model and points at it once caught up.
    """
    target = await asyncio.to_thread(current_name, config)
    if target == view.name:
        return False
    store = await asyncio.to_thread(open_store, config, target)
    # Between two batches, so that every record goes to the store it was fetched for.
    await consumer.at_batch_boundary(lambda: view.reopen(store))
    log.info("serving read model %s", target)
    return True


async def follow_replays(
    config: Settings, view: PortalView, consumer: TrackingConsumer, interval: float = 1.0
) -> None:
    while True:
        await asyncio.sleep(interval)
        await switch_to_served(config, view, consumer)


def create_app(config: Settings | None = None) -> FastAPI:
    config = config or settings.load()
    view = PortalView(open_store(config))
    runtime = Runtime(config)
    kafka.declare(runtime.broker)
    consumer = runtime.consumer(
        topics=kafka.CONSUMES,
        handlers=kafka.handlers(view),
        positions=view,
        dlq_topic=kafka.DLQ,
        batch_handler=kafka.batch_handler(view),
        batch_decode=decode_fast,  # the projections read natively decoded events alike
    )
    runtime.add_job("follow-replays", lambda: follow_replays(config, view, consumer))
    # A model written by older projections (before the work queue) is rebuilt in the background.
    lease = rebuild_lease(config)
    runtime.add_job("upgrade-read-model", lambda: upgrade_older_model(config, view, lease))
    runtime.on_close(view.close)
    # Sessions and one-time codes: a store of their own, which a rebuilt read model leaves alone.
    signins = open_signins(config)
    runtime.on_close(signins.close)
    app = http_app(
        runtime,
        title="Actiepunten client-portal projection",
        description="The client portal's read model (klantportaal): the client's action points; "
        "the adviser's work queue",
    )
    app.state.view = view
    app.state.signins = signins
    app.state.mailer = SmtpMailer(smtp_settings())
    app.include_router(router)
    web.install(app)  # the web pages under /app (SPEC section 6)
    return app


def main() -> None:
    config = settings.load()
    serve(assembled(create_app, config), config)
