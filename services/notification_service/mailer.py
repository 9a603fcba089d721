"""Mails to clients: what they say (``compose``, Dutch, "u" or "je" by the contact's
salutation, text and HTML from ``templates/``) and the port that sends them (``Mailer``), with
its SMTP adapter at the edge (``servicekit.mail.SmtpMailer``, aiosmtplib, shared with the portal's
sign-in mails).

A mail never carries the rejection reason, a document's contents or a credential: it names the
open action points with their due dates and links to the portal's sign-in page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from servicekit.mail import PermanentRefusal, TemporaryFailure
from services.notification_service.domainmodel import AMSTERDAM, Contact, Item, Kind, Salutation

TEMPLATES = Path(__file__).with_name("templates")
_TEXT = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False, undefined=StrictUndefined)
_HTML = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)

# What each kind of mail says, formal ("u") and informal ("je"): subject, lead, call to act.
WORDS: dict[tuple[Kind, Salutation], tuple[str, str, str]] = {
    (Kind.NEW_ACTION_POINTS, Salutation.FORMAL): (
        "Nieuwe actiepunten in uw dossier",
        "Uw adviseur vraagt u om het volgende aan te leveren:",
        "U levert de stukken aan via het klantportaal:",
    ),
    (Kind.NEW_ACTION_POINTS, Salutation.INFORMAL): (
        "Nieuwe actiepunten in je dossier",
        "Je adviseur vraagt je om het volgende aan te leveren:",
        "Je levert de stukken aan via het klantportaal:",
    ),
    (Kind.REMINDER, Salutation.FORMAL): (
        "Herinnering: er staan nog actiepunten voor u open",
        "Wij herinneren u eraan dat wij het volgende nog van u nodig hebben:",
        "U levert de stukken aan via het klantportaal:",
    ),
    (Kind.REMINDER, Salutation.INFORMAL): (
        "Herinnering: er staan nog actiepunten voor je open",
        "We herinneren je eraan dat we het volgende nog van je nodig hebben:",
        "Je levert de stukken aan via het klantportaal:",
    ),
    (Kind.REDELIVER, Salutation.FORMAL): (
        "Wilt u een document opnieuw aanleveren?",
        "Uw adviseur heeft een aangeleverd document bekeken en vraagt u het opnieuw aan te "
        "leveren:",
        "In het klantportaal ziet u waarom en levert u het opnieuw aan:",
    ),
    (Kind.REDELIVER, Salutation.INFORMAL): (
        "Wil je een document opnieuw aanleveren?",
        "Je adviseur heeft een aangeleverd document bekeken en vraagt je het opnieuw aan te "
        "leveren:",
        "In het klantportaal zie je waarom en lever je het opnieuw aan:",
    ),
}


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the mail server; raises ``PermanentRefusal`` or
        ``TemporaryFailure``, returns once the server accepted it."""


@dataclass(frozen=True)
class Mail:
    """One notification's mail to one contact."""

    to: Contact
    kind: Kind
    items: list[Item]
    open_items: list[Item]
    tenant: str
    dossier_id: str
    message_id: str
    sender: str
    portal_url: str


def signin_link(portal_url: str, tenant: str, dossier_id: str) -> str:
    """The portal's sign-in page for the dossier (it asks for the address; no credential)."""
    query = urlencode({"office": tenant, "next": f"/app/dossiers/{quote(dossier_id, safe='')}"})
    return f"{portal_url.rstrip('/')}/app/signin?{query}"


def _due(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(AMSTERDAM).strftime("%d-%m-%Y")


def _listed(items: list[Item]) -> list[dict[str, Any]]:
    return [{"title": item.title, "due": _due(item.due_at)} for item in items]


def _context(mail: Mail) -> dict[str, Any]:
    formal = mail.to.salutation is Salutation.FORMAL
    subject, lead, call = WORDS[(mail.kind, mail.to.salutation)]
    told = {item.action_point_id for item in mail.items}
    others = [item for item in mail.open_items if item.action_point_id not in told]
    return {
        "subject": subject,
        "greeting": f"Beste {mail.to.name},",
        "lead": lead,
        "items": _listed(mail.items),
        "others": _listed(others),
        "others_lead": "Ook dit staat nog voor u open:" if formal else "Ook dit staat nog open:",
        "call": call,
        "link": signin_link(mail.portal_url, mail.tenant, mail.dossier_id),
        "button": "Naar het klantportaal",
        "closing": "Met vriendelijke groet," if formal else "Groeten,",
        "office": f"Uw adviseur ({mail.tenant})" if formal else f"Je adviseur ({mail.tenant})",
        "footer": "Dit bericht is automatisch verstuurd; u kunt er niet op antwoorden."
        if formal
        else "Dit bericht is automatisch verstuurd; je kunt er niet op antwoorden.",
    }


def compose(mail: Mail) -> EmailMessage:
    """The mail as it goes out: text and HTML, ``Message-ID`` from the notification."""
    context = _context(mail)
    message = EmailMessage()
    message["Subject"] = context["subject"]
    message["From"] = mail.sender
    message["To"] = formataddr((mail.to.name, mail.to.email))
    message["Message-ID"] = mail.message_id
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEXT.get_template("mail.txt").render(context))
    message.add_alternative(_HTML.get_template("mail.html").render(context), subtype="html")
    return message


__all__ = ["Mail", "Mailer", "PermanentRefusal", "TemporaryFailure", "compose", "signin_link"]
