"""What every service's domain shares: the kinds of refusal a command can meet, how an office's
aggregates are named, and the subject that documents are requested for.

A domain raises the kind that says what went wrong; the edges map the kind, never the message:
``servicekit.runtime`` answers HTTP with the status of ``DomainError.status`` (one handler for
all of them), and the Kafka consumer dead-letters the record with the error's message (a refusal
is the same on every retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from servicekit.failures import Refused
from shared.events.contracts import TENANT_SEPARATOR


class DomainError(Refused):
    """A command the domain refuses, with a message for the caller."""

    status = 422


class NotFound(DomainError):
    """The addressed thing does not exist in the caller's office (or is not visible to it)."""

    status = 404


class Conflict(DomainError):
    """The thing exists, but its state does not allow the command."""

    status = 409


class Invalid(DomainError):
    """The command breaks a rule of the domain (a moment in the past, an unknown scenario)."""

    status = 422


class TooLarge(DomainError):
    status = 413


class UnsupportedType(DomainError):
    status = 415


def office_name(kind: str, tenant: str, *rest: str) -> str:
    """The name of an office's aggregate, ``kind:tenant[:rest...]``, that its id derives from.

    An office id never contains the separator ``:`` (``shared.events.contracts.tenant_problem``:
    tokens and envelopes refuse it), so the tenant ends at the first ``:`` after the kind and two
    offices never share a name: office ``acme``'s dossier ``eu:d1`` is ``dossier:acme:eu:d1``;
    office ``acme:eu`` cannot exist. Only the last part may contain ``:``. Names of aggregates
    stored before this rule stay what they were.
    """
    if TENANT_SEPARATOR in tenant:
        raise ValueError(f"an office id must not contain {TENANT_SEPARATOR!r}: {tenant!r}")
    return TENANT_SEPARATOR.join((kind, tenant, *rest))


class SubjectKind(StrEnum):
    """What a subject is (the contracts' ``SubjectType``; a test ties the two)."""

    PRODUCT = "product"
    APPOINTMENT = "appointment"


@dataclass(frozen=True, slots=True)
class Person:
    """Whom of a household a document is asked of (SPEC section 9): a role (the contracts'
    ``PersonRole``) and an optional id that tells two persons of one role apart."""

    role: str
    id: str | None = None

    @classmethod
    def of(cls, data: Any) -> Person | None:
        """From its wire form (a dict; a snapshot's decoder may give it made), or None."""
        if not data or isinstance(data, Person):
            return data or None
        found = data.get("id")
        return cls(str(data["role"]), None if found is None else str(found))

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role} if self.id is None else {"role": self.role, "id": self.id}


@dataclass(frozen=True, slots=True)
class Subject:
    """What documents are requested for: a product or an appointment (afspraak) of a dossier,
    and its scope. The domain's value; ``shared.events.contracts.Subject`` is its form on the
    wire, and events keep it as the contracts carry it (``as_dict``)."""

    type: SubjectKind
    id: str
    scope: str
    person: Person | None = None  # whose document; None: the dossier's (as before households)

    @classmethod
    def of(cls, data: Any) -> Subject:
        """From its wire form (a dict, as events and snapshots keep it)."""
        return cls(
            SubjectKind(data["type"]),
            str(data["id"]),
            str(data["scope"]),
            Person.of(data.get("person")),
        )

    def as_dict(self) -> dict[str, Any]:
        """Its wire form; without a person exactly as before households existed."""
        found: dict[str, Any] = {"type": self.type.value, "id": self.id, "scope": self.scope}
        if self.person is not None:
            found["person"] = self.person.as_dict()
        return found

    def for_person(self, person: Person | None) -> Subject:
        """The same product or appointment, for ``person`` (None: the dossier's)."""
        return Subject(self.type, self.id, self.scope, person)

    def __copy__(self) -> Subject:
        return self  # immutable: a copy of an aggregate shares it

    def __deepcopy__(self, memo: dict[int, Any]) -> Subject:
        return self
