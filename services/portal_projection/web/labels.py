"""The Dutch words the pages show for the services' values: a label table per vocabulary, and
moments in Amsterdam time.

Each table is keyed by the statuses of one vocabulary, so the same word in two vocabularies may
have two labels. The portal imports no other service, so the tables are written here;
``tests/unit/test_web_pages.py`` ties each table to its vocabulary (the dossier check's
``DocumentStatus``, the scenario service's ``RunStatus``, the portal API's action-point
statuses): a status without a label fails that test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

ACTION_POINT_LABELS = {
    "open": "Nog aan te leveren",
    "completed": "Afgerond",
}
"""The client's action points (actiepunten), in the portal and in the dossier check."""

DOCUMENT_LABELS = {
    "requested": "Opgevraagd",
    "uploaded": "Ontvangen",
    "approved": "Goedgekeurd",
    "rejected": "Afgekeurd",
    "expired": "Vervallen",
    "not_applicable_claimed": "Niet van toepassing gemeld",
    "waived": "Niet van toepassing",
}
"""The documents of the dossier check (HDN's words; README "The document cycle")."""

PERSON_LABELS = {
    "aanvrager": "aanvrager",
    "partner": "partner",
    "other": "overige",
}
"""The persons of a household a document is asked of (SPEC section 9)."""

RUN_LABELS = {
    "scheduled": "Gepland",
    "executed": "Uitgevoerd",
    "cancelled": "Geannuleerd",
}
"""The scenario runs."""


def moment(value: Any) -> str:
    """An ISO moment as a Dutch reader expects it, in Amsterdam time."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        return when.strftime("%d-%m-%Y")
    return when.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M")


def described(item: Mapping[str, Any]) -> str:
    """A document or action point as both pages name it: its title, then whose it is and the
    period it covers, where the request said so ("Loonstrook, partner, januari 2026")."""
    parts = [str(item.get("title") or item.get("document_type") or "")]
    person = (item.get("subject") or {}).get("person")
    if person:
        role = PERSON_LABELS.get(str(person.get("role")), str(person.get("role")))
        parts.append(f"{role} ({person['id']})" if person.get("id") else role)
    if item.get("period"):
        parts.append(str(item["period"]))
    return ", ".join(parts)


def _labelled(labels: Mapping[str, str]) -> Callable[[Any], str]:
    """A status's label in ``labels``; a status the table does not know shows as it is."""
    return lambda value: labels.get(str(value), str(value))


FILTERS: dict[str, Callable[[Any], str]] = {
    "moment": moment,
    "action_point_status": _labelled(ACTION_POINT_LABELS),
    "document_status": _labelled(DOCUMENT_LABELS),
    "run_status": _labelled(RUN_LABELS),
    "described": described,
}
"""The templates' filters: ``{{ d.status | document_status }}``."""
