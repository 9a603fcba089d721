"""The integration events of SPEC section 3: a CloudEvents 1.0 envelope around each event's data.

Every model is frozen. Each event type is its own envelope class whose ``type`` is a literal, so
that one discriminated union per topic validates a record in one step. Data models ignore unknown
fields (tolerant reader: a newer producer may add optional fields within a ``dataversion``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from shared.events.durations import IsoDuration


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _no_control_characters(value: str) -> str:
    """Refuse NUL and the other control characters (Unicode category Cc) in ids, names and
    titles: PostgreSQL cannot store NUL at all, and none of them belongs in a line of text.
    (A lone surrogate is refused by pydantic itself as not a valid string.)"""
    found = _CONTROL_CHARACTER.search(value)
    if found is not None:
        raise ValueError(
            f"must not contain control characters (U+{ord(found.group()):04X} at position "
            f"{found.start()})"
        )
    return value


_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Unicode category Cc, which is exactly these 65 code points (a stable property); a pattern
search is many times faster than asking ``unicodedata`` about each character."""


# The same rule as a pattern in the JSON schema, so that OpenAPI and AsyncAPI document it.
_NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
NoControlCharacters = AfterValidator(_no_control_characters)


def _text(*, max_length: int, min_length: int = 0) -> Any:
    return Field(
        min_length=min_length,
        max_length=max_length,
        json_schema_extra={"pattern": _NO_CONTROL_PATTERN},
    )


Identifier = Annotated[str, _text(min_length=1, max_length=200), NoControlCharacters]
"""An external id (dossier, product, appointment, reference, office): 1-200 characters, no
control characters."""
Name = Annotated[str, _text(min_length=1, max_length=200), NoControlCharacters]
Title = Annotated[str, _text(max_length=300), NoControlCharacters]
Scope = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
DocumentTypeCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,99}$")]

TENANT_SEPARATOR = ":"
MAX_TENANT_LENGTH = 200


def tenant_problem(tenant: str) -> str | None:
    """What makes ``tenant`` unfit as an office id, or None.

    Record keys (``<tenantid>:<dossierid>``) and aggregate names (``dossier:<tenant>:<dossier>``)
    put the office first, before a ``:``; an office id with a ``:`` would let office ``acme``'s
    dossier ``eu:d1`` and office ``acme:eu``'s dossier ``d1`` share both. Without it the office
    ends at the first ``:`` and every such name belongs to one office.
    """
    if not tenant.strip():
        return "must not be blank"
    if len(tenant) > MAX_TENANT_LENGTH:
        return f"longer than {MAX_TENANT_LENGTH} characters"
    if TENANT_SEPARATOR in tenant:
        return f"must not contain {TENANT_SEPARATOR!r}"
    if has_control_character(tenant):
        return "must not contain a control character"
    return None


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a control character (the rule of ``NoControlCharacters``)."""
    return _CONTROL_CHARACTER.search(text) is not None


def _valid_tenant(tenant: str) -> str:
    problem = tenant_problem(tenant)
    if problem:
        raise ValueError(f"an office id {problem}")
    return tenant


# An office (tenant) id: what a token's ``tenant`` and an envelope's ``tenantid`` carry.
TenantId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TENANT_LENGTH,
        description="The office: not blank, without ':' and without control characters.",
    ),
    AfterValidator(_valid_tenant),
]


PersonRole = Literal["aanvrager", "partner", "other"]
"""Who in a household a document is asked of (SPEC section 9): the applicant (aanvrager), the
partner, or another person (a co-applicant, a child); the household's ``PersonRole`` in the
scenario service has the same members (a test ties them)."""

MAX_PERIOD_LENGTH = 40
MAX_PERIODS = 12
"""Periods one scenario item may ask for (twelve months, or years): each a request of its own."""
MAX_INSTRUCTIONS_LENGTH = 1000

Period = Annotated[str, _text(min_length=1, max_length=MAX_PERIOD_LENGTH), NoControlCharacters]
"""What a document covers in time, as the adviser writes it ("2024", "januari 2026"): a
request for the 2023 and the 2024 IB-aangifte asks two documents."""
Instructions = Annotated[str, _text(max_length=MAX_INSTRUCTIONS_LENGTH), NoControlCharacters]
"""A note to the client with the action point ("alle pagina's, ook de lege"): one paragraph."""


SEALED_PREFIX = "enc:v1:"
MAX_SEALED_LENGTH = 12_000
"""Room for the longest personal field (2,000 characters of up to 4 bytes each) sealed."""


class _SealedText:
    """Marks ``Sealed`` in a union: native decoding leaves it to pydantic (``native.py``)."""


Sealed = Annotated[
    str,
    Field(
        pattern=r"^enc:v1:[A-Za-z0-9+/]+={0,2}$",
        max_length=MAX_SEALED_LENGTH,
        description="A personal field sealed with the dossier's data key (SPEC section 11): "
        "`enc:v1:` and the base64 of a 12-byte nonce and the AES-256-GCM ciphertext with its "
        "tag, `<tenant>:<dossier>` as associated data; the key from `GET "
        "/dossiers/{id}/data-key`.",
    ),
    _SealedText(),
]
"""A personal field as we publish it (``shared.events.personal``): sealed, so that erasing
the dossier's key erases it on every topic. Each personal field of an event we publish is its
plain type or this; opened it meets the plain type's rules again."""


def _absent(value: Any) -> bool:
    """Fields added within a dataversion are left out when unset: a record without them is
    written byte for byte as before they existed."""
    return value is None


class Person(_Data):
    """Whom of the dossier's household a document is asked of: a role and, to tell two persons
    of one role apart (two ``other``s), an id of the platform's choosing."""

    role: PersonRole
    id: Identifier | None = Field(default=None, exclude_if=_absent)


SubjectType = Literal["product", "appointment"]
"""What a subject is; the scenario domain's ``SubjectKind`` has the same members (a test ties
them)."""


class Subject(_Data):
    """What documents are requested for: a product or an appointment (afspraak) of a dossier;
    its scope is ``scope_of`` its type."""

    type: SubjectType
    id: Identifier
    scope: Scope
    # Added within its dataversion (SPEC section 9): whose document it is; absent, the dossier's.
    person: Person | None = Field(default=None, exclude_if=_absent)


APPOINTMENT_SCOPE = "afspraak"
"""The scope of every appointment (afspraak); a product's scope is its product type."""


def scope_of(subject_type: str, product_type: str) -> str:
    """The scope a subject of ``subject_type`` has: an appointment's is ``APPOINTMENT_SCOPE``,
    a product's its ``product_type``. Scenarios start only on a subject of their own scope."""
    return APPOINTMENT_SCOPE if subject_type == "appointment" else product_type


class RequestedItem(_Data):
    """One document of a scenario or a document list (stukkenlijst)."""

    document_type: DocumentTypeCode
    title: Title | None = None
    # Strict: the documented type is a boolean, so 0, 1 or "yes" are refused, not coerced.
    action_point: StrictBool | None = None
    # Added within its dataversion (SPEC section 6): the due time of the request, counted from
    # the run's execution (a scenario item) or the list's receipt (a document list).
    # An item without one is written as before due dates existed (no ``due_in: null``).
    due_in: IsoDuration | None = Field(default=None, exclude_if=lambda value: value is None)
    # Added within its dataversion (SPEC section 9), each left out when unset: the period the
    # document covers, a note to the client, and for a scenario item the expansion at the
    # run's execution: one request per person of the household (``per_person``) and/or per
    # period (``periods``; both: every person for every period).
    period: Period | None = Field(default=None, exclude_if=_absent)
    instructions: Instructions | None = Field(default=None, exclude_if=_absent)
    per_person: StrictBool | None = Field(default=None, exclude_if=_absent)
    periods: tuple[Period, ...] | None = Field(
        default=None, min_length=1, max_length=MAX_PERIODS, exclude_if=_absent
    )

    @model_validator(mode="after")
    def _one_way_to_name_periods(self) -> RequestedItem:
        if self.period is not None and self.periods is not None:
            raise ValueError("give period (one) or periods (one request each), not both")
        if self.periods is not None and len(set(self.periods)) != len(self.periods):
            raise ValueError("periods must differ from each other")
        return self

    @property
    def expands(self) -> bool:
        """Whether the item asks more than one document when a run executes."""
        return bool(self.per_person) or self.periods is not None


def refuse_expanding_items(items: tuple[RequestedItem, ...] | list[RequestedItem]) -> None:
    """A document list (stukkenlijst) names each document it asks for: ``per_person`` and
    ``periods`` belong to scenario items, which a household expands when the run executes."""
    for index, item in enumerate(items):
        if item.expands:
            raise ValueError(
                f"item {index}: per_person and periods belong to scenario items; a document "
                "list names each document (give each its own item with its period)"
            )


TriggerName = Literal["product_created", "application_submitted", "appointment_scheduled"]
"""The platform facts that start a scenario by themselves; the scenario domain's ``TriggerEvent``
has the same members (a test ties them)."""


class Trigger(_Data):
    """When a scenario starts by itself; ``offset_days`` only for ``appointment_scheduled``."""

    event: TriggerName
    offset_days: StrictInt | None = Field(default=None, ge=-365, le=365)


class FileMetadata(_Data):
    """What is known of an uploaded file; the bytes stay in the blob store (content-addressed)."""

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(ge=0)
    content_type: Literal["application/pdf", "image/jpeg", "image/png"]
    filename: Annotated[str, Field(max_length=255)] | Sealed


# --- actiepunten.scenario.v1 -------------------------------------------------------------------


class ScenarioDefinedData(_Data):
    scenario_id: UUID
    name: str = Field(min_length=1, max_length=200)
    scope: Scope
    items: tuple[RequestedItem, ...]
    trigger: Trigger | None = None


class ScenarioChangedData(ScenarioDefinedData):
    pass


class ScenarioDeletedData(_Data):
    scenario_id: UUID


class ScenarioScheduledData(_Data):
    """Published when a run is scheduled and again each time it moves (an upsert by ``run_id``).

    ``sequence`` is the run's version at that moment: it grows with every change of the run. A
    consumer that keeps the latest schedule ignores a copy whose ``sequence`` is not higher than
    the last it saw for that run (an older copy sent again by a relay that lost its lease, or a
    republish). Added within ``dataversion`` 1 as an optional field: records from before it have
    none; order those by their position in the partition, as before.
    """

    run_id: UUID
    scenario_id: UUID
    scenario_name: str
    dossier_id: Identifier
    subject: Subject
    execute_at: AwareDatetime
    items: tuple[RequestedItem, ...]
    started_by: str
    sequence: int | None = Field(default=None, ge=1)


class ScenarioRunCancelledData(_Data):
    run_id: UUID
    scenario_id: UUID
    dossier_id: Identifier
    reason: Literal["cancelled_by_adviser", "appointment_cancelled"]


class ScenarioExecutedData(_Data):
    run_id: UUID
    scenario_id: UUID
    dossier_id: Identifier
    subject: Subject
    executed_at: AwareDatetime
    request_ids: tuple[UUID, ...]


ActionPointRule = Literal["always", "never", "by_document_type"]


class DocumentRequestedData(_Data):
    """``dataversion`` 2. Version 1 carried ``action_point`` as true, false or null; version 2
    names the three cases (null was easy to read as "no action point"). The codec upcasts v1."""

    request_id: UUID
    dossier_id: Identifier
    subject: Subject
    document_type: DocumentTypeCode
    title: str | Sealed | None = None
    action_point: ActionPointRule = "by_document_type"
    source: Literal["scenario", "manual", "document_list"]
    run_id: UUID | None = None
    scenario_id: UUID | None = None
    reference: str | None = None
    requested_by: str
    # Added within dataversion 2 (optional, so earlier records read as "no due date"): when the
    # client should have delivered it (a scenario item's ``due_in`` from the run's execution,
    # or a manual request's ``due_at``/``due_on``).
    due_at: AwareDatetime | None = None
    # Added within dataversion 2 (SPEC section 9; absent when unset): the period it covers and
    # a note to the client. The person is the subject's.
    period: Period | None = None
    instructions: Instructions | Sealed | None = None


# --- actiepunten.dossiercontrole.v1 ------------------------------------------------------------


class DocumentTypeConfiguredData(_Data):
    code: DocumentTypeCode
    name: str
    creates_action_point: bool
    # Added within dataversion 1 (optional; absent means none, false): how long a delivered
    # document stays valid, whether its expiry requests it again, and the default due time of a
    # request of this type. ISO 8601 durations.
    valid_for: IsoDuration | None = None
    rerequest_on_expiry: bool = False
    due_in: IsoDuration | None = None


DocumentSource = Literal["scenario", "manual", "document_list", "expired"]


class DocumentAddedData(_Data):
    document_id: UUID
    request_id: UUID
    dossier_id: Identifier
    subject: Subject
    document_type: DocumentTypeCode
    title: str | Sealed
    # Added within dataversion 1 (optional; absent in earlier records): the due date, and for
    # a document requested again because a delivered one expired, that one (``source`` expired).
    due_at: AwareDatetime | None = None
    source: DocumentSource | None = None
    replaces_document_id: UUID | None = None
    # Added within dataversion 1 (SPEC section 9): as on DocumentRequested.
    period: Period | None = None
    instructions: Instructions | Sealed | None = None


class ActionPointOpenedData(_Data):
    action_point_id: UUID
    document_id: UUID
    dossier_id: Identifier
    subject: Subject
    document_type: DocumentTypeCode
    title: str | Sealed
    opened_at: AwareDatetime
    # Added within dataversion 1 (optional): as on DocumentAdded.
    due_at: AwareDatetime | None = None
    replaces_document_id: UUID | None = None
    period: Period | None = None
    instructions: Instructions | Sealed | None = None


class DocumentUploadedData(_Data):
    document_id: UUID
    dossier_id: Identifier
    version: int = Field(ge=1)
    file: FileMetadata
    uploaded_by: str
    copied_from: UUID | None = None
    # Added within its dataversion (SPEC section 7): the end of this delivery's validity window
    # (its document type's ``valid_for``), for the adviser's "expiring" list. A delivery without
    # a window is written as before (no ``valid_until: null``).
    valid_until: AwareDatetime | None = Field(default=None, exclude_if=lambda value: value is None)
    # Added within its dataversion (SPEC section 9): every file of a version of several, part
    # 1 (``file``) first. Files appended to a version publish this event again for the same
    # version with all its files: an upsert. A single-file version is written as before.
    files: tuple[FileMetadata, ...] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )


class ActionPointCompletedData(_Data):
    action_point_id: UUID
    document_id: UUID
    dossier_id: Identifier
    completed_at: AwareDatetime


class DocumentRemovedData(_Data):
    document_id: UUID
    dossier_id: Identifier
    removed_by: str


class ActionPointRemovedData(_Data):
    action_point_id: UUID
    document_id: UUID
    dossier_id: Identifier
    # "dossier_closed" (SPEC section 11): its dossier was closed while the point was open.
    reason: Literal["document_removed", "removed_by_adviser", "dossier_closed"]
    removed_at: AwareDatetime


class DocumentApprovedData(_Data):
    """The adviser accepted the delivered file (HDN: goedgekeurd)."""

    document_id: UUID
    dossier_id: Identifier
    version: int = Field(ge=1)
    approved_by: str
    approved_at: AwareDatetime


class DocumentRejectedData(_Data):
    """The adviser refused the delivered file (HDN: afgekeurd, opnieuw aan te leveren); the file
    stays as a version for the audit trail."""

    document_id: UUID
    dossier_id: Identifier
    version: int = Field(ge=1)
    reason: Annotated[str, Field(min_length=1, max_length=2000)] | Sealed
    rejected_by: str
    rejected_at: AwareDatetime


class ActionPointReopenedData(_Data):
    """A completed action point is open again (its document was rejected), with the reason for
    the client."""

    action_point_id: UUID
    document_id: UUID
    dossier_id: Identifier
    reason: str | Sealed
    reopened_at: AwareDatetime
    due_at: AwareDatetime | None = None


class ActionPointOverdueData(_Data):
    """An open action point passed its due date (at that moment, by the scheduler)."""

    action_point_id: UUID
    document_id: UUID
    dossier_id: Identifier
    due_at: AwareDatetime


class OpenItem(_Data):
    """One open action point of the dossier, as a reminder lists them."""

    action_point_id: UUID
    document_type: DocumentTypeCode
    title: str | Sealed
    due_at: AwareDatetime | None = None


class ActionPointReminderDueData(_Data):
    """Time to remind the client of an open action point. We do not send anything: a platform
    notification service writes to the client, with what this carries."""

    action_point_id: UUID
    document_id: UUID
    dossier_id: Identifier
    document_type: DocumentTypeCode
    title: str | Sealed
    due_at: AwareDatetime | None = None
    reminder_number: int = Field(ge=1)
    portal_path: str
    open_items: tuple[OpenItem, ...] = ()
    requested_by: str | None = None
    """Who asked for it now (an adviser), or null for a scheduled reminder."""


class DocumentExpiredData(_Data):
    """A delivered document passed the end of its validity window (HDN: vervallen)."""

    document_id: UUID
    dossier_id: Identifier
    valid_until: AwareDatetime
    rerequested_document_id: UUID | None = None


class NotApplicableClaimedData(_Data):
    """The client (or adviser) answered an open action point "niet van toepassing", with a
    note; the action point is completed (ActionPointCompleted follows) until the adviser
    decides (SPEC section 9)."""

    document_id: UUID
    action_point_id: UUID
    dossier_id: Identifier
    note: Annotated[str, Field(min_length=1, max_length=2000)] | Sealed
    claimed_by: str
    claimed_at: AwareDatetime


class DocumentWaivedData(_Data):
    """The adviser accepted a "not applicable" claim: the document is not needed (waived)."""

    document_id: UUID
    dossier_id: Identifier
    waived_by: str
    waived_at: AwareDatetime


class NotApplicableRefusedData(_Data):
    """The adviser refused a "not applicable" claim with a reason: the document is rejected
    and its action point open again (ActionPointReopened follows)."""

    document_id: UUID
    dossier_id: Identifier
    reason: Annotated[str, Field(min_length=1, max_length=2000)] | Sealed
    refused_by: str
    refused_at: AwareDatetime


ProgressCountsName = Literal["received", "approved"]
"""What an office's client progress counts as done; the dossier check's ``ProgressCounts`` and the
portal's ``DONE_WHEN`` have the same members (a test ties them)."""


class PortalSettingsChangedData(_Data):
    """An office's choice of what the client's progress counts as done: a delivered document
    (``received``: uploaded or approved) or only an approved one."""

    progress_counts: ProgressCountsName


DossierOutcome = Literal["completed", "withdrawn", "declined"]
"""How a dossier ended (SPEC section 11); the dossier check's ``Outcome`` has the same members."""


class DossierClosedData(_Data):
    """The adviser closed the dossier: its open action points were removed (each an
    ActionPointRemoved with ``reason: "dossier_closed"``, published right after this event) and
    its retention period, by ``outcome``, runs from ``closed_at``."""

    dossier_id: Identifier
    outcome: DossierOutcome
    closed_by: str
    closed_at: AwareDatetime


class DossierReopenedData(_Data):
    """A closed dossier is open again; the action points its closing removed are open again,
    as they were (``restored_action_point_ids``)."""

    dossier_id: Identifier
    reopened_by: str
    reopened_at: AwareDatetime
    restored_action_point_ids: tuple[UUID, ...] = ()


class DossierErasedData(_Data):
    """The closed dossier was erased (SPEC section 11), by an admin or because the office's
    retention period passed (``erased_by``: ``retention-policy``): its personal data is to be
    erased everywhere. Consumers drop the dossier; its earlier events stay on the topic."""

    dossier_id: Identifier
    erased_by: str
    erased_at: AwareDatetime


# --- platform topics (inbound) -----------------------------------------------------------------


class ProductData(_Data):
    product_id: Identifier
    product_type: Scope


class AppointmentData(_Data):
    appointment_id: Identifier
    starts_at: AwareDatetime


class AppointmentCancelledData(_Data):
    appointment_id: Identifier


class DocumentListReceivedData(_Data):
    subject: Subject
    reference: Identifier
    items: tuple[RequestedItem, ...] = Field(min_length=1, max_length=500)

    @field_validator("items")
    @classmethod
    def _named_documents(cls, items: tuple[RequestedItem, ...]) -> tuple[RequestedItem, ...]:
        refuse_expanding_items(items)
        return items


# --- the envelope ------------------------------------------------------------------------------


_ADDRESS_CHARACTER = r'[^@\s\x00-\x1f\x7f<>(),;:"\[\]'
EmailAddress = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=(f"^{_ADDRESS_CHARACTER}]+@{_ADDRESS_CHARACTER}]+\\.{_ADDRESS_CHARACTER}.]+$"),
    ),
]
"""An e-mail address a mail can go to: one ``@``, a dotted domain, no blanks, controls or the
characters that would break a header (``<>(),;:"[]``)."""

Salutation = Literal["formal", "informal"]
"""How a contact is addressed: ``formal`` with "u", ``informal`` with "je"/"jij"."""

NotificationKind = Literal["new_action_points", "reminder", "redeliver"]


class ClientContactChangedData(_Data):
    """A contact of a dossier (its client or a partner) and how to write to them."""

    dossier_id: Identifier
    client_id: Identifier
    email: EmailAddress
    name: Name
    salutation: Salutation


class NotificationSentData(_Data):
    """The SMTP server accepted a mail for one contact; ``message_id`` is its ``Message-ID``."""

    notification_id: UUID
    dossier_id: Identifier
    client_id: Identifier
    kind: NotificationKind
    action_point_ids: tuple[UUID, ...]
    message_id: str


class NotificationFailedData(_Data):
    """A notification that will not be sent: ``reason`` is the SMTP server's permanent refusal
    (its code and reply) or ``no_contact`` (no contact arrived within ``P7D``)."""

    notification_id: UUID
    dossier_id: Identifier
    client_id: Identifier | None = None
    kind: NotificationKind
    action_point_ids: tuple[UUID, ...]
    reason: str


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured mode, with this platform's extension attributes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: UUID
    source: str = Field(min_length=1)
    type: str
    # Optional in CloudEvents; every event we publish has it, a platform event may lack it.
    time: AwareDatetime | None = None
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    tenantid: TenantId
    # Catalogue events (scenarios, document types) belong to an office, not to a dossier.
    # As long as a data ``dossier_id`` at most: services copy it there (scenario_service).
    dossierid: Identifier | None = None
    correlationid: str | None = None
    causationid: str | None = None
    dataversion: int = Field(default=1, ge=1)
    # The CloudEvents distributed-tracing extension: the W3C trace context of what caused it.
    # Optional; one that is not a W3C traceparent is ignored (tolerant reader), not refused.
    traceparent: str | None = None
    data: Any

    _check_source = field_validator("source")(_non_blank)

    @field_validator("traceparent", mode="before")
    @classmethod
    def _w3c_traceparent_or_none(cls, value: Any) -> str | None:
        if isinstance(value, str) and _TRACEPARENT.fullmatch(value):
            return value
        return None

    @property
    def key(self) -> bytes:
        """The Kafka record key: one dossier's events share a partition and so stay in order."""
        return f"{self.tenantid}:{self.dossierid or ''}".encode()


class ScenarioDefined(CloudEvent):
    type: Literal["ScenarioDefined"] = "ScenarioDefined"
    data: ScenarioDefinedData


class ScenarioChanged(CloudEvent):
    type: Literal["ScenarioChanged"] = "ScenarioChanged"
    data: ScenarioChangedData


class ScenarioDeleted(CloudEvent):
    type: Literal["ScenarioDeleted"] = "ScenarioDeleted"
    data: ScenarioDeletedData


class ScenarioScheduled(CloudEvent):
    type: Literal["ScenarioScheduled"] = "ScenarioScheduled"
    data: ScenarioScheduledData


class ScenarioRunCancelled(CloudEvent):
    type: Literal["ScenarioRunCancelled"] = "ScenarioRunCancelled"
    data: ScenarioRunCancelledData


class ScenarioExecuted(CloudEvent):
    type: Literal["ScenarioExecuted"] = "ScenarioExecuted"
    data: ScenarioExecutedData


class DocumentRequested(CloudEvent):
    type: Literal["DocumentRequested"] = "DocumentRequested"
    data: DocumentRequestedData


class DocumentTypeConfigured(CloudEvent):
    type: Literal["DocumentTypeConfigured"] = "DocumentTypeConfigured"
    data: DocumentTypeConfiguredData


class DocumentAdded(CloudEvent):
    type: Literal["DocumentAdded"] = "DocumentAdded"
    data: DocumentAddedData


class ActionPointOpened(CloudEvent):
    type: Literal["ActionPointOpened"] = "ActionPointOpened"
    data: ActionPointOpenedData


class DocumentUploaded(CloudEvent):
    type: Literal["DocumentUploaded"] = "DocumentUploaded"
    data: DocumentUploadedData


class ActionPointCompleted(CloudEvent):
    type: Literal["ActionPointCompleted"] = "ActionPointCompleted"
    data: ActionPointCompletedData


class DocumentRemoved(CloudEvent):
    type: Literal["DocumentRemoved"] = "DocumentRemoved"
    data: DocumentRemovedData


class ActionPointRemoved(CloudEvent):
    type: Literal["ActionPointRemoved"] = "ActionPointRemoved"
    data: ActionPointRemovedData


class DocumentApproved(CloudEvent):
    type: Literal["DocumentApproved"] = "DocumentApproved"
    data: DocumentApprovedData


class DocumentRejected(CloudEvent):
    type: Literal["DocumentRejected"] = "DocumentRejected"
    data: DocumentRejectedData


class ActionPointReopened(CloudEvent):
    type: Literal["ActionPointReopened"] = "ActionPointReopened"
    data: ActionPointReopenedData


class ActionPointOverdue(CloudEvent):
    type: Literal["ActionPointOverdue"] = "ActionPointOverdue"
    data: ActionPointOverdueData


class ActionPointReminderDue(CloudEvent):
    type: Literal["ActionPointReminderDue"] = "ActionPointReminderDue"
    data: ActionPointReminderDueData


class DocumentExpired(CloudEvent):
    type: Literal["DocumentExpired"] = "DocumentExpired"
    data: DocumentExpiredData


class DossierClosed(CloudEvent):
    type: Literal["DossierClosed"] = "DossierClosed"
    data: DossierClosedData


class DossierReopened(CloudEvent):
    type: Literal["DossierReopened"] = "DossierReopened"
    data: DossierReopenedData


class DossierErased(CloudEvent):
    type: Literal["DossierErased"] = "DossierErased"
    data: DossierErasedData


class NotApplicableClaimed(CloudEvent):
    type: Literal["NotApplicableClaimed"] = "NotApplicableClaimed"
    data: NotApplicableClaimedData


class DocumentWaived(CloudEvent):
    type: Literal["DocumentWaived"] = "DocumentWaived"
    data: DocumentWaivedData


class NotApplicableRefused(CloudEvent):
    type: Literal["NotApplicableRefused"] = "NotApplicableRefused"
    data: NotApplicableRefusedData


class PortalSettingsChanged(CloudEvent):
    type: Literal["PortalSettingsChanged"] = "PortalSettingsChanged"
    data: PortalSettingsChangedData


class ProductCreated(CloudEvent):
    type: Literal["ProductCreated"] = "ProductCreated"
    data: ProductData


class ApplicationSubmitted(CloudEvent):
    type: Literal["ApplicationSubmitted"] = "ApplicationSubmitted"
    data: ProductData


class AppointmentScheduled(CloudEvent):
    type: Literal["AppointmentScheduled"] = "AppointmentScheduled"
    data: AppointmentData


class AppointmentRescheduled(CloudEvent):
    type: Literal["AppointmentRescheduled"] = "AppointmentRescheduled"
    data: AppointmentData


class AppointmentCancelled(CloudEvent):
    type: Literal["AppointmentCancelled"] = "AppointmentCancelled"
    data: AppointmentCancelledData


class DocumentListReceived(CloudEvent):
    type: Literal["DocumentListReceived"] = "DocumentListReceived"
    data: DocumentListReceivedData


class ClientContactChanged(CloudEvent):
    type: Literal["ClientContactChanged"] = "ClientContactChanged"
    data: ClientContactChangedData


class NotificationSent(CloudEvent):
    type: Literal["NotificationSent"] = "NotificationSent"
    data: NotificationSentData


class NotificationFailed(CloudEvent):
    type: Literal["NotificationFailed"] = "NotificationFailed"
    data: NotificationFailedData


ScenarioTopicEvent = Annotated[
    ScenarioDefined
    | ScenarioChanged
    | ScenarioDeleted
    | ScenarioScheduled
    | ScenarioRunCancelled
    | ScenarioExecuted
    | DocumentRequested,
    Field(discriminator="type"),
]
DossiercontroleTopicEvent = Annotated[
    DocumentTypeConfigured
    | DocumentAdded
    | ActionPointOpened
    | DocumentUploaded
    | ActionPointCompleted
    | DocumentRemoved
    | ActionPointRemoved
    | DocumentApproved
    | DocumentRejected
    | ActionPointReopened
    | ActionPointOverdue
    | ActionPointReminderDue
    | DocumentExpired
    | NotApplicableClaimed
    | DocumentWaived
    | NotApplicableRefused
    | PortalSettingsChanged
    | DossierClosed
    | DossierReopened
    | DossierErased,
    Field(discriminator="type"),
]
ProductsTopicEvent = Annotated[ProductCreated | ApplicationSubmitted, Field(discriminator="type")]
AppointmentsTopicEvent = Annotated[
    AppointmentScheduled | AppointmentRescheduled | AppointmentCancelled,
    Field(discriminator="type"),
]
DocumentListsTopicEvent = Annotated[DocumentListReceived, Field(discriminator="type")]
ClientsTopicEvent = Annotated[ClientContactChanged, Field(discriminator="type")]
NotificationsTopicEvent = Annotated[
    NotificationSent | NotificationFailed, Field(discriminator="type")
]
