"""Sending mail over SMTP, for every service that mails (the notification service's digests,
the portal's sign-in mails): where the server is (``ACTIEPUNTEN_SMTP_*``), who sends
(``ACTIEPUNTEN_MAIL_FROM``), where the links in mails point (``ACTIEPUNTEN_PORTAL_PUBLIC_URL``),
and ``SmtpMailer`` (aiosmtplib), which tells a permanent refusal from a failure worth a retry.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from servicekit.settings import Settings, flag, port_number

DEFAULT_SENDER = "Actiepunten <actiepunten@localhost>"


class PermanentRefusal(Exception):
    """The SMTP server refused the mail for good (5xx): ``reply`` is its code and text."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class TemporaryFailure(Exception):
    """The mail could not be handed over now (4xx, no connection): try again later."""


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server: ``ACTIEPUNTEN_SMTP_*`` (``smtp_settings``)."""

    host: str = "127.0.0.1"
    port: int = 1025
    starttls: bool = False
    username: str | None = None
    password_file: str | None = None
    timeout: float = 30.0


class SmtpMailer:
    """The ``Mailer`` over SMTP: STARTTLS and login when set (a production relay)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _password(self) -> str | None:
        if not self.settings.password_file:
            return None
        return Path(self.settings.password_file).read_text().strip()

    def send(self, message: EmailMessage) -> None:
        """From a worker thread (the notification scheduler's): no event loop runs there."""
        asyncio.run(self.deliver(message))

    async def deliver(self, message: EmailMessage) -> None:
        """Hand ``message`` to the server; ``PermanentRefusal`` (5xx) or ``TemporaryFailure``."""
        s = self.settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                start_tls=s.starttls,
                use_tls=False,
                username=s.username or None,
                password=self._password() if s.username else None,
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            raise _classified(refused.recipients[0].code, refused.recipients[0].message) from None
        except aiosmtplib.SMTPResponseException as error:
            raise _classified(error.code, error.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from error


def _classified(code: int, text: str) -> Exception:
    reply = f"{code} {text}".strip()
    return PermanentRefusal(reply) if 500 <= code < 600 else TemporaryFailure(reply)


def smtp_settings() -> SmtpSettings:
    """The SMTP server: Mailpit on 127.0.0.1:1025 (``make run``) unless set."""
    return SmtpSettings(
        host=os.environ.get("ACTIEPUNTEN_SMTP_HOST") or "127.0.0.1",
        port=port_number("ACTIEPUNTEN_SMTP_PORT", 1025),
        starttls=flag("ACTIEPUNTEN_SMTP_STARTTLS", False),
        username=os.environ.get("ACTIEPUNTEN_SMTP_USERNAME") or None,
        password_file=os.environ.get("ACTIEPUNTEN_SMTP_PASSWORD_FILE") or None,
    )


def mail_sender() -> str:
    """The mails' From: ``ACTIEPUNTEN_MAIL_FROM``."""
    return os.environ.get("ACTIEPUNTEN_MAIL_FROM") or DEFAULT_SENDER


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
