"""How the dossier check names what it stores: aggregate ids from an office's names
(``servicekit.domain.office_name``), and document and action-point ids derived from the request
that asked for them, so that a request delivered twice makes the same ones."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "urn:actiepunten:dossiercontrole")


def document_id_for(request_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"document:{request_id}")


def action_point_id_for(request_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"action-point:{request_id}")


def rerequest_id_for(expired_document_id: UUID) -> UUID:
    """The request id of the document that an expiry requests again: derived from the expired
    document, so that a retried expiry makes the same document and action point ids."""
    return uuid5(NAMESPACE, f"rerequest:{expired_document_id}")


def without_owner(state: dict[str, Any]) -> None:
    """Events stored before class version 2 carried the office and the dossier for the outbox
    relay, which now reads them from the aggregate's identity (``servicekit.outbox.Origin``)."""
    state.pop("tenant", None)
    state.pop("dossier_id", None)
