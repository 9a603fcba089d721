"""Notification service settings: the shared ones, named for this service, and where its mails
go out (``ACTIEPUNTEN_SMTP_*``, ``ACTIEPUNTEN_MAIL_FROM``, ``ACTIEPUNTEN_PORTAL_PUBLIC_URL``)."""

from __future__ import annotations

import os

from servicekit.settings import Settings, flag, port_number
from services.notification_service.mailer import SmtpSettings
from services.notification_service.scheduler import Outgoing

SERVICE = "notification"
DEFAULT_SENDER = "Actiepunten <actiepunten@localhost>"


def load() -> Settings:
    return Settings.from_env(SERVICE)


def smtp() -> SmtpSettings:
    """The SMTP server: Mailpit on 127.0.0.1:1025 (``make run``) unless set."""
    return SmtpSettings(
        host=os.environ.get("ACTIEPUNTEN_SMTP_HOST") or "127.0.0.1",
        port=port_number("ACTIEPUNTEN_SMTP_PORT", 1025),
        starttls=flag("ACTIEPUNTEN_SMTP_STARTTLS", False),
        username=os.environ.get("ACTIEPUNTEN_SMTP_USERNAME") or None,
        password_file=os.environ.get("ACTIEPUNTEN_SMTP_PASSWORD_FILE") or None,
    )


def outgoing() -> Outgoing:
    """The sender, and the portal the mails link to (its public address when set)."""
    return Outgoing(
        sender=os.environ.get("ACTIEPUNTEN_MAIL_FROM") or DEFAULT_SENDER,
        portal_url=portal_url(),
    )


def portal_url() -> str:
    """Where clients reach the portal: ``ACTIEPUNTEN_PORTAL_PUBLIC_URL`` (or the portal's
    ``ACTIEPUNTEN_PORTAL_URL``), else its host and port on this machine."""
    public = os.environ.get("ACTIEPUNTEN_PORTAL_PUBLIC_URL") or os.environ.get(
        "ACTIEPUNTEN_PORTAL_URL"
    )
    if public:
        return public.rstrip("/")
    portal = Settings.from_env("portal", require_secret=False)
    host = portal.host if portal.host not in {"", "0.0.0.0", "::"} else "127.0.0.1"
    return f"http://{host}:{portal.port}"
