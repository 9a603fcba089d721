"""Erasing a dossier, at once or when the office's retention period has passed (SPEC section 11).

``Erasure`` is the one room that erases: it records the erasure on the dossier check (its
documents leave the dossier check, ``DossierErased`` is published, so the portal, the work queue,
the notification service's contacts and the client's sessions drop the dossier), then deletes
the dossier's files that no other dossier uses, in whichever store holds them, and records that
the files are gone. Recorded first, carried out after: a crash in between leaves the deletion
waiting in the timetable, which tries it again (deleting is idempotent).

``RetentionScheduler`` erases closed dossiers when the office's period for their outcome has
passed, counted from the closing: the generic ``servicekit.scheduler`` over a timetable read
from the store's log (``RetentionTimetable``), so it runs once across replicas (the erasure is a
save with the version read: of two replicas one wins, the other finds it erased) and, rebuilt
from the log at start, catches up on what fell due while no replica ran. A change of an office's
policy moves the moments of its closed dossiers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from prometheus_client import Counter, Gauge

from servicekit import scheduler
from servicekit.scheduler import Due
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.blobstore import Blobs
from services.dossiercontrole_service.domainmodel import (
    DossierCheck,
    DossierIsClosed,
    DossierIsOpen,
    RetentionPolicy,
)
from services.dossiercontrole_service.lifecycle import EraseDossier

log = logging.getLogger(__name__)

RETENTION_ACTOR = "retention-policy"
"""Who erased a dossier whose retention period passed (``DossierErased.data.erased_by``)."""

ERASE = "erase"
DELETE_FILES = "carry-out"  # destroy the key, delete the files

DOSSIERS_ERASED = Counter(
    "actiepunten_dossiers_erased", "Dossiers this process erased (by an admin or by retention)"
)
FILES_DELETED = Counter(
    "actiepunten_erased_files_deleted", "Stored files this process deleted with their dossier"
)
RETENTION_WAITING = Gauge(
    "actiepunten_retention_waiting", "Closed dossiers waiting for their erasure, and deletions"
)


class Erasure:
    """Erases a closed dossier: records it, destroys its data key, deletes its unused files,
    records that."""

    def __init__(self, app: DossierChecks, blobs: Blobs) -> None:
        self.app = app
        self.blobs = blobs
        self.keys = app.keys  # the store's own: its mapper reads the dossier as erased at once

    def erase(self, command: EraseDossier) -> DossierCheck:
        """Erase now (an admin, or the scheduler); 409 when open or erased already."""
        check = self.app.erase_dossier(command)
        DOSSIERS_ERASED.inc()
        try:
            self.carry_out(check.id, command.at)
        except Exception:
            # Recorded: the retention timetable carries it out when the stores answer again.
            log.warning("erasure of %s: key and files later", check.dossier_id, exc_info=True)
        return check

    def carry_out(self, check_id: UUID, at: datetime) -> bool:
        """Destroy the erased dossier's key and delete its files that no dossier uses, then
        record it; False when there was nothing left to do."""
        check: DossierCheck = self.app.repository.get(check_id)
        if check.erased_at is None or check.erasure_carried_out:
            return False
        self.keys.erase(check.tenant, check.dossier_id, check.erased_at)
        for sha256 in self.app.unused_files(check):
            self.blobs.delete(sha256)
            FILES_DELETED.inc()
        self.app.record_files_deleted(check_id, at)
        return True


_READ = (".DossierClosed", ".DossierReopened", ".DossierErased", ".ErasedFilesDeleted")


class RetentionTimetable(scheduler.PendingDues):
    """Closed dossiers and their erasure moments, and erased ones whose files are still to be
    deleted, read from the application's notification log."""

    def __init__(self, app: DossierChecks) -> None:
        super().__init__()
        self.app = app
        self.position = 0
        self.closed: dict[UUID, tuple[str, str, datetime]] = {}  # tenant, outcome, closed_at
        self.policies: dict[str, RetentionPolicy] = {}

    def refresh(self) -> None:
        """Learn what changed in the store since the last call."""
        changed: set[str] = set()
        for notifications in scheduler.log_pages(self.app, self.position):
            for notification in notifications:
                topic: str = notification.topic
                if ":RetentionPolicy." in topic:
                    changed.add(self._policy_changed(notification.originator_id))
                elif ":DossierCheck." in topic and topic.endswith(_READ):
                    self._read(self.app.domain_event_of(notification))
            self.position = notifications[-1].id
        for check_id, (tenant, _, _) in list(self.closed.items()):
            if tenant in changed:
                self._plan(check_id)

    def _policy_changed(self, policy_id: UUID | str) -> str:
        policy: RetentionPolicy = self.app.repository.get(UUID(str(policy_id)))
        self.policies[policy.tenant] = policy
        return policy.tenant

    def _read(self, event: Any) -> None:
        check_id: UUID = event.originator_id
        name = type(event).__qualname__
        if name == "DossierCheck.DossierClosed":
            check: DossierCheck = self.app.get_owned(check_id, copy=False)
            self.closed[check_id] = (check.tenant, event.outcome, event.at)
            self._plan(check_id)
            return
        self.closed.pop(check_id, None)
        self.pending.pop((ERASE, check_id), None)
        if name == "DossierCheck.DossierErased":
            self.pending[(DELETE_FILES, check_id)] = Due((DELETE_FILES, check_id), event.at)
        elif name == "DossierCheck.ErasedFilesDeleted":
            self.pending.pop((DELETE_FILES, check_id), None)

    def _plan(self, check_id: UUID) -> None:
        tenant, outcome, closed_at = self.closed[check_id]
        policy = self.policies.get(tenant)
        if policy is None:
            policy = self.policies[tenant] = self.app.get_retention_policy(tenant)
        at = policy.erase_at(outcome, closed_at)
        self.pending[(ERASE, check_id)] = Due((ERASE, check_id), at)


class RetentionScheduler(scheduler.Scheduler):
    """Erases closed dossiers whose retention period passed, and finishes deletions."""

    def __init__(self, app: DossierChecks, erasure: Erasure, *, tick: float = 0.5) -> None:
        self.app = app
        self.erasure = erasure
        super().__init__(
            RetentionTimetable(app),
            self._act,
            span="retention",
            tick=tick,
            max_backoff=timedelta(minutes=5),
            waiting=RETENTION_WAITING,
        )

    def _act(self, due: Due, now: datetime) -> bool:
        step, check_id = cast(tuple[str, UUID], due.key)
        if step == DELETE_FILES:
            return self.erasure.carry_out(check_id, now)
        check: DossierCheck = self.app.repository.get(check_id)
        if check.erased_at is not None or check.closed_at is None:
            return False  # erased by an admin or another replica, or reopened meanwhile
        command = EraseDossier(check.tenant, check.dossier_id, RETENTION_ACTOR, now)
        try:
            self.erasure.erase(command)
        except (DossierIsClosed, DossierIsOpen):
            return False  # a race, lost: another replica erased it (or it was reopened)
        log.info("dossier %s of %s erased: retention passed", check.dossier_id, check.tenant)
        return True
