"""The dossier check's domain (dossiercontrole), one room per idea:

- ``statuses``: document and action-point statuses, the commands that move them, and the two
  move tables (``DOCUMENT_MOVES``, ``ACTION_POINT_MOVES``) with the sets derived from them;
- ``values``: the typed state (``Subject``, ``StoredFile``, ``ActionPoint``, ``Document``);
- ``identity``: how ids derive from requests;
- ``contents`` and ``dossier_check``: the ``DossierCheck`` aggregate, one per dossier (its
  questions, then its commands and their events), with ``deliveries`` (files added to a
  delivered version) and ``claims`` ("not applicable" claims and the adviser's decision);
- ``reminders``: an office's reminder schedule as a value and the moments it gives;
- ``office``: the office-level aggregates (document types, portal settings, reminder schedule)
  and the locator that finds a document's dossier;
- ``closing``: a dossier's closing with an outcome, its reopening and its erasure (part of
  ``DossierCheck``); ``retention``: the office's retention policy; ``file_users``: which
  dossiers use a stored file;
- ``access_log``: who downloaded which version of a dossier's files (``AccessLog``);
- ``errors``: the refusals.

Everything is re-exported here. Stored events and snapshots written before the split name this
package as their module (``services.dossiercontrole_service.domainmodel:DossierCheck.…``): they
resolve through these re-exports, so the aggregate classes must stay exported by these names.
"""

from services.dossiercontrole_service.domainmodel.access_log import AccessLog
from services.dossiercontrole_service.domainmodel.claims import MAX_NOTE, Claims
from services.dossiercontrole_service.domainmodel.closing import (
    DossierIsClosed,
    DossierIsOpen,
    DossierWasErased,
    Outcome,
)
from services.dossiercontrole_service.domainmodel.deliveries import MAX_PARTS, Deliveries
from services.dossiercontrole_service.domainmodel.dossier_check import DossierCheck, Requested
from services.dossiercontrole_service.domainmodel.errors import (
    ActionPointNotFound,
    AlreadyDone,
    AlreadyReviewed,
    DocumentHasUpload,
    DocumentNotFound,
    DossierCheckError,
    MoveRefused,
    NewerVersionArrived,
    NoSuchVersion,
    NoteRequired,
    NothingUploaded,
    NotOpen,
    ReasonRequired,
    RequestIdInUse,
    SourceDocumentNotFound,
    UploadQuotaExceeded,
    VersionFull,
    VersionNotFound,
)
from services.dossiercontrole_service.domainmodel.file_users import FileUsers, user_of
from services.dossiercontrole_service.domainmodel.identity import (
    action_point_id_for,
    document_id_for,
    rerequest_id_for,
)
from services.dossiercontrole_service.domainmodel.office import (
    DocumentType,
    DocumentTypes,
    Locator,
    PortalSettings,
    ProgressCounts,
    ReminderSchedule,
)
from services.dossiercontrole_service.domainmodel.reminders import ReminderPlan
from services.dossiercontrole_service.domainmodel.retention import (
    DEFAULT_RETENTION,
    RetentionPolicy,
)
from services.dossiercontrole_service.domainmodel.statuses import (
    ACTION_POINT_MOVES,
    AWAITING_CLIENT,
    AWAITING_DELIVERY,
    BY_THE_CLOCK,
    DOCUMENT_MOVES,
    ActionPointCommand,
    ActionPointStatus,
    DocumentCommand,
    DocumentStatus,
    Move,
)
from services.dossiercontrole_service.domainmodel.values import (
    VALUE_OBJECTS,
    ActionPoint,
    Document,
    FilePart,
    StoredFile,
    Subject,
    validity_end,
)

__all__ = [
    "ACTION_POINT_MOVES",
    "AWAITING_CLIENT",
    "AWAITING_DELIVERY",
    "BY_THE_CLOCK",
    "DEFAULT_RETENTION",
    "DOCUMENT_MOVES",
    "MAX_NOTE",
    "MAX_PARTS",
    "VALUE_OBJECTS",
    "AccessLog",
    "ActionPoint",
    "ActionPointCommand",
    "ActionPointNotFound",
    "ActionPointStatus",
    "AlreadyDone",
    "AlreadyReviewed",
    "Claims",
    "Deliveries",
    "Document",
    "DocumentCommand",
    "DocumentHasUpload",
    "DocumentNotFound",
    "DocumentStatus",
    "DocumentType",
    "DocumentTypes",
    "DossierCheck",
    "DossierCheckError",
    "DossierIsClosed",
    "DossierIsOpen",
    "DossierWasErased",
    "FilePart",
    "FileUsers",
    "Locator",
    "Move",
    "MoveRefused",
    "NewerVersionArrived",
    "NoSuchVersion",
    "NotOpen",
    "NoteRequired",
    "NothingUploaded",
    "Outcome",
    "PortalSettings",
    "ProgressCounts",
    "ReasonRequired",
    "ReminderPlan",
    "ReminderSchedule",
    "RequestIdInUse",
    "Requested",
    "RetentionPolicy",
    "SourceDocumentNotFound",
    "StoredFile",
    "Subject",
    "UploadQuotaExceeded",
    "VersionFull",
    "VersionNotFound",
    "action_point_id_for",
    "document_id_for",
    "rerequest_id_for",
    "user_of",
    "validity_end",
]
