"""Assembles the notification service: store, outbox relay, consumer, digest scheduler with
its SMTP mailer, HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit.mail import SmtpMailer
from servicekit.pgsetup import assembled
from servicekit.runtime import Runtime, http_app, serve
from servicekit.settings import Settings
from services.notification_service import kafka, settings
from services.notification_service.application import Notifications
from services.notification_service.http import router
from services.notification_service.scheduler import DigestScheduler

MAX_BODY_BYTES = 64 * 1024


def create_app(config: Settings | None = None) -> FastAPI:
    config = config or settings.load()
    application = Notifications(env=config.eventstore_env("notification"))
    runtime = Runtime(config)
    runtime.event_sourced(application, kafka)
    mailer = SmtpMailer(settings.smtp())
    runtime.add_job("scheduler", DigestScheduler(application, mailer, settings.outgoing()).run)
    app = http_app(
        runtime,
        title="Actiepunten notification service",
        description="Mails to clients about their action points; the office's notification "
        "settings (admin).",
    )
    app.state.application = application
    app.include_router(router, max_body_size=MAX_BODY_BYTES)
    return app


def main() -> None:
    config = settings.load()
    serve(assembled(create_app, config), config)
