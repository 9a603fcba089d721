"""The Dutch words the pages show for the services' values, and moments in Amsterdam time."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

STATUS_LABELS = {
    "open": "Nog aan te leveren",
    "completed": "Afgerond",
    "requested": "Opgevraagd",
    "uploaded": "Ontvangen",
    "approved": "Goedgekeurd",
    "rejected": "Afgekeurd",
    "expired": "Vervallen",
    "scheduled": "Gepland",
    "executed": "Uitgevoerd",
    "cancelled": "Geannuleerd",
}


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


FILTERS = {
    "moment": moment,
    "status": lambda value: STATUS_LABELS.get(str(value), str(value)),
}
"""The templates' filters: ``{{ p.status | status }}``."""
