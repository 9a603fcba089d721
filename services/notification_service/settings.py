"""Notification service settings: the shared ones, named for this service, and where its mails
go out (``servicekit.mail``: ``ACTIEPUNTEN_SMTP_*``, ``ACTIEPUNTEN_MAIL_FROM``,
``ACTIEPUNTEN_PORTAL_PUBLIC_URL``)."""

from __future__ import annotations

from servicekit.mail import SmtpSettings, mail_sender, portal_url, smtp_settings
from servicekit.settings import Settings
from services.notification_service.scheduler import Outgoing

SERVICE = "notification"


def load() -> Settings:
    return Settings.from_env(SERVICE)


def smtp() -> SmtpSettings:
    return smtp_settings()


def outgoing() -> Outgoing:
    """The sender, and the portal the mails link to (its public address when set)."""
    return Outgoing(sender=mail_sender(), portal_url=portal_url())
