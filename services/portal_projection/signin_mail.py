"""The sign-in mail (SPEC section 8): Dutch, "u" or "je" by the contact's salutation, text and
HTML, with the one-time confirm link. Opening that link only shows a button, so a scanner that
fetches it signs nobody in.

Not exactly once, unlike the notification service's mails: the mail answers a person who is
waiting for it now and records nothing. A mail lost to a failing SMTP server is logged and the
person asks again; one sent twice holds two codes that each work once.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from servicekit.mail import SmtpMailer

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates") / "mail"
_TEXT = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined)
_HTML = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)

# Formal ("u") and informal ("je"): subject, lead, call, validity, not asked, closing, office.
WORDS = {
    "formal": (
        "Uw aanmeldlink voor het klantportaal",
        "U heeft gevraagd om u aan te melden bij het klantportaal.",
        "Met de knop hieronder bevestigt u de aanmelding:",
        "Deze link is 15 minuten geldig en werkt één keer.",
        "Heeft u dit niet aangevraagd? Dan kunt u deze e-mail negeren; er gebeurt niets.",
        "Met vriendelijke groet,",
        "Uw adviseur ({office})",
    ),
    "informal": (
        "Je aanmeldlink voor het klantportaal",
        "Je hebt gevraagd om je aan te melden bij het klantportaal.",
        "Met de knop hieronder bevestig je de aanmelding:",
        "Deze link is 15 minuten geldig en werkt één keer.",
        "Heb je dit niet aangevraagd? Dan kun je deze e-mail negeren; er gebeurt niets.",
        "Groeten,",
        "Je adviseur ({office})",
    ),
}


def _context(contact: dict[str, Any], tenant: str, link: str) -> dict[str, Any]:
    subject, lead, call, validity, not_asked, closing, office = WORDS[contact["salutation"]]
    return {
        "subject": subject,
        "greeting": f"Beste {contact['name']},",
        "lead": lead,
        "call": call,
        "link": link,
        "button": "Aanmelden bevestigen",
        "validity": validity,
        "not_asked": not_asked,
        "closing": closing,
        "office": office.format(office=tenant),
        "fallback": "Werkt de knop niet? Open dan deze link:",
    }


def compose(contact: dict[str, Any], tenant: str, link: str, sender: str) -> EmailMessage:
    """The mail to ``contact`` (a row of the contacts read model) with ``link``."""
    context = _context(contact, tenant, link)
    message = EmailMessage()
    message["Subject"] = context["subject"]
    message["From"] = sender
    message["To"] = formataddr((contact["name"], contact["email"]))
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEXT.get_template("signin.txt").render(context))
    message.add_alternative(_HTML.get_template("signin.html").render(context), subtype="html")
    return message


async def send(mailer: SmtpMailer, message: EmailMessage) -> None:
    """After the page was answered (a background task): the answer takes as long for an unknown
    address as for a known one, and a failing server is only logged."""
    try:
        await mailer.deliver(message)
    except Exception:
        log.exception("the sign-in mail could not be sent")
