"""Which dossiers use a stored file (SPEC section 11). Files are stored by content, so the same
bytes uploaded into two dossiers (or two offices) are one stored file: erasing one dossier may
delete it only once no other dossier uses it."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from servicekit.domain import office_name
from services.dossiercontrole_service.domainmodel.identity import NAMESPACE


def user_of(tenant: str, dossier_id: str) -> str:
    """A dossier as a file's user: unique across offices (``office_name``)."""
    return office_name("dossier", tenant, dossier_id)


class FileUsers(Aggregate):
    """The dossiers that uploaded the file with this SHA-256 and were not erased since."""

    @staticmethod
    def create_id(sha256: str) -> UUID:
        return uuid5(NAMESPACE, f"file-users:{sha256}")

    @event("Opened")
    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        self.users: set[str] = set()

    def add(self, user: str) -> None:
        if user not in self.users:
            self._added(user)

    @event("UserAdded")
    def _added(self, user: str) -> None:
        self.users.add(user)

    def leave(self, user: str) -> None:
        if user in self.users:
            self._left(user)

    @event("UserLeft")
    def _left(self, user: str) -> None:
        self.users.discard(user)
