"""A dossier's lifetime in the dossier-check application (SPEC section 11): closing and
reopening it. ``DossierLifecycle`` is a part of ``DossierChecks`` (its commands live here so that
``application.py`` stays one room); the rules are the aggregate's (``domainmodel/closing.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from servicekit.domain import NotFound
from servicekit.eventstore import retried_on_conflict
from servicekit.sealing import KeyRing, SealedApplication
from services.dossiercontrole_service.data_keys import DataKeys, keys_for_store
from services.dossiercontrole_service.domainmodel import (
    DossierCheck,
    DossierCheckError,
    FileUsers,
    Outcome,
    RetentionPolicy,
    user_of,
)


@dataclass(frozen=True)
class CloseDossier:
    """The adviser closes the dossier with how it ended."""

    tenant: str
    dossier_id: str
    outcome: Outcome
    by: str
    at: datetime


@dataclass(frozen=True)
class ReopenDossier:
    """The adviser reopens a closed dossier (while nothing was erased)."""

    tenant: str
    dossier_id: str
    by: str
    at: datetime


@dataclass(frozen=True)
class EraseDossier:
    """Erase a closed dossier: an admin now, or the retention policy when its period passed."""

    tenant: str
    dossier_id: str
    by: str
    at: datetime


@dataclass(frozen=True)
class SetRetentionPolicy:
    """The office's retention periods per outcome (ISO 8601 durations), replaced whole."""

    tenant: str
    periods: dict[str, str]
    by: str


class DossierNotFound(DossierCheckError, NotFound):
    """No dossier check of that id in the caller's office: nothing to close or reopen."""


# Stored events name their class's module: the package's before it was split into rooms.
_UPLOADED_TOPICS = [
    f"{module}:DossierCheck.DocumentUploaded"
    for module in (
        "services.dossiercontrole_service.domainmodel",
        "services.dossiercontrole_service.domainmodel.dossier_check",
    )
]
_FILE_USERS_TOPICS = ["services.dossiercontrole_service.domainmodel.file_users:FileUsers.Opened"]


def _uploaded_files(event: Any) -> list[str]:
    """The SHA-256 of the files a stored event adds to a dossier: an upload's (with the other
    files of its version), or the files appended to a version."""
    name = type(event).__qualname__  # FilesAppended is its part's: Deliveries.FilesAppended
    if name == "DossierCheck.DocumentUploaded":
        files = [event.file, *(getattr(event, "more_files", None) or ())]
    elif name.endswith(".FilesAppended"):
        files = list(event.files)
    else:
        return []
    return [str(file["sha256"]) for file in files]


class DossierLifecycle(SealedApplication):
    """Closing, reopening and erasing, and the office's retention policy, as commands of
    ``DossierChecks`` (its subclass). A dossier check's personal fields are sealed with its
    dossier's data key (``data_keys.DataKeys``), given, or the one beside the store."""

    keys: DataKeys

    def __init__(self, env: Mapping[str, str] | None = None, keys: DataKeys | None = None) -> None:
        self._given_keys = keys
        super().__init__(dict(env) if env is not None else None)

    def construct_key_ring(self) -> KeyRing:
        return self._given_keys or keys_for_store(self.env)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Saves, recording with each new upload that its dossier uses the file (``FileUsers``,
        in the same transaction): erasure deletes a file only once no dossier uses it."""
        # The users first: a fresh store's first upload then follows its file's first users.
        return super().save(*self._new_file_users(objs), *objs, **kwargs)

    _unindexed_uploads: bool | None = None

    def has_unindexed_uploads(self) -> bool:
        """Whether the store holds uploads from before ``FileUsers`` were recorded: then a file
        may have users nobody recorded (the same bytes uploaded into a dossier back then), and
        an erasure deletes no file until those are indexed (README, "old data")."""
        if self._unindexed_uploads is None:
            uploaded = self.recorder.select_notifications(0, 1, topics=_UPLOADED_TOPICS)
            indexed = self.recorder.select_notifications(0, 1, topics=_FILE_USERS_TOPICS)
            self._unindexed_uploads = bool(uploaded) and (
                not indexed or uploaded[0].id < indexed[0].id
            )
        return self._unindexed_uploads

    def _new_file_users(self, objs: tuple[Any, ...]) -> list[FileUsers]:
        users: dict[str, FileUsers] = {}
        for check in objs:
            if not isinstance(check, DossierCheck):
                continue
            for pending in check.pending_events:
                for sha256 in _uploaded_files(pending):
                    if sha256 not in users:
                        users[sha256] = self._known_file_users(sha256) or FileUsers(sha256)
                    users[sha256].add(user_of(check.tenant, check.dossier_id))
        return [u for u in users.values() if u.pending_events]

    def _known_file_users(self, sha256: str) -> FileUsers | None:
        """Who uses the file; None for a file uploaded before users were recorded (unknown)."""
        try:
            found: FileUsers = self.repository.get(FileUsers.create_id(sha256))
        except AggregateNotFoundError:
            return None
        return found

    def existing_check(self, tenant: str, dossier_id: str) -> DossierCheck:
        """The office's dossier check, which must exist (a dossier nothing was requested for
        has nothing to close: 404)."""
        try:
            check: DossierCheck = self.get_owned(
                DossierCheck.create_id(tenant, dossier_id), tenant=tenant, dossier_id=dossier_id
            )
        except AggregateNotFoundError:
            raise DossierNotFound(f"dossier {dossier_id} not found") from None
        return check

    @retried_on_conflict()
    def close_dossier(self, command: CloseDossier) -> DossierCheck:
        """Close the dossier (409 when it is closed already); its open action points go."""
        check = self.existing_check(command.tenant, command.dossier_id)
        check.close(command.outcome, command.by, command.at)
        self.save(check)
        return check

    @retried_on_conflict()
    def reopen_dossier(self, command: ReopenDossier) -> DossierCheck:
        """Reopen the dossier (409 when it is open); what its closing removed is open again."""
        check = self.existing_check(command.tenant, command.dossier_id)
        check.reopen(command.by, command.at)
        self.save(check)
        return check

    # --- erasure and the retention policy (admin; the retention scheduler) ---------------------

    @retried_on_conflict()
    def erase_dossier(self, command: EraseDossier) -> DossierCheck:
        """Record the erasure of a closed dossier (409 when open or erased already); the dossier
        leaves the users of each of its files. Its files are deleted after (``Erasure``)."""
        check = self.existing_check(command.tenant, command.dossier_id)
        check.erase(command.by, command.at)
        user = user_of(check.tenant, check.dossier_id)
        known = [self._known_file_users(sha256) for sha256 in check.files_to_delete]
        users = [file_users for file_users in known if file_users is not None]
        for file_users in users:
            file_users.leave(user)
        self.save(check, *users)
        return check

    def unused_files(self, check: DossierCheck) -> list[str]:
        """Of the erased dossier's files, those no dossier uses any more: to delete. A file
        uploaded before users were recorded may be another dossier's too: it is kept."""
        unused: list[str] = []
        if self.has_unindexed_uploads():
            return unused
        for sha256 in check.files_to_delete:
            file_users = self._known_file_users(sha256)
            if file_users is not None and not file_users.users:
                unused.append(sha256)
        return unused

    @retried_on_conflict()
    def record_files_deleted(self, check_id: Any, at: datetime) -> None:
        check: DossierCheck = self.repository.get(check_id)
        check.record_files_deleted(at)
        self.save(check)

    def _retention_policy(self, tenant: str) -> RetentionPolicy:
        policy: RetentionPolicy = self.office_aggregate(RetentionPolicy, tenant)
        return policy

    def get_retention_policy(self, tenant: str) -> RetentionPolicy:
        return self._retention_policy(tenant)

    @retried_on_conflict()
    def set_retention_policy(self, command: SetRetentionPolicy) -> RetentionPolicy:
        policy = self._retention_policy(command.tenant)
        policy.change(dict(command.periods), command.by)
        self.save(policy)
        return policy
