"""Households and real needs lists (SPEC section 9): who of a dossier documents are asked of, and
the requests a scenario item makes when its run executes.

A document is one (subject, document type, person, period): the partner's payslip is not the
applicant's, the 2023 IB-aangifte not the 2024 one. A scenario item may ask per person of the
dossier's household (``per_person``) and per period (``periods``); both together ask every
person for every period (the three years of income statements of each applicant). The household
is read when the run executes, so a partner added after the start is asked too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from servicekit.domain import Person, Subject


class PersonRole(StrEnum):
    """Who in a household a document is asked of (the contracts' ``PersonRole``)."""

    AANVRAGER = "aanvrager"  # the applicant
    PARTNER = "partner"
    OTHER = "other"


MAX_PERSONS = 10
"""The most persons a household holds: each per-person item asks each of them."""
MAX_RUN_REQUESTS = 1000
"""The most requests one run may make with a full household: they travel as ids in one
ScenarioExecuted, and each is a document and an action point for the client."""

EMPTY_HOUSEHOLD = (Person(PersonRole.AANVRAGER.value),)
"""Whom a per-person item asks when the adviser named nobody: the applicant."""


def household_problem(persons: Sequence[dict[str, Any]]) -> str | None:
    """What makes ``persons`` unfit as a household, or None: each person must be told apart
    by role and id (two ``other``s need ids), since their documents are told apart so."""
    if len(persons) > MAX_PERSONS:
        return f"a household holds at most {MAX_PERSONS} persons"
    seen: set[Person] = set()
    for person in persons:
        key = Person(str(person["role"]), person.get("id"))
        if key in seen:
            named = f"{key.role!r}" + (f" with id {key.id!r}" if key.id else " without an id")
            return f"two persons are {named}: give each person of one role its own id"
        seen.add(key)
    return None


def expansion_problem(items: Sequence[dict[str, Any]]) -> str | None:
    """What makes a scenario's items ask too many documents at once, or None: counted with a
    full household (``MAX_PERSONS``), since the household is read only at execution."""
    worst = sum(
        (len(item.get("periods") or ()) or 1) * (MAX_PERSONS if item.get("per_person") else 1)
        for item in items
    )
    if worst > MAX_RUN_REQUESTS:
        return (
            f"the items ask up to {worst} documents with a household of {MAX_PERSONS} persons, "
            f"more than the {MAX_RUN_REQUESTS} a run may: fewer periods or per-person items"
        )
    return None


@dataclass(frozen=True, slots=True)
class Need:
    """One document a run's item asks for: the item (its index and what the admin wrote), and
    for whom and which period."""

    index: int
    item: dict[str, Any]
    person: Person | None
    period: str | None

    def request_id(self, origin: UUID) -> UUID:
        """Derived from the run (or list) ``origin``, the item and what the expansion chose, so
        that executing again makes the same ids. An item that does not expand keeps the id it
        always had; an expanded one names its parts in a JSON list, which keeps them apart
        whatever characters a period or an id holds (no two needs share an id)."""
        if not _expands(self.item):
            return uuid5(origin, f"item:{self.index}")
        person = self.person
        parts = [self.index, person and person.role, person and person.id, self.period]
        return uuid5(origin, "item:" + json.dumps(parts, ensure_ascii=False))

    def subject(self, subject: Subject) -> Subject:
        """The subject of this need's request: the run's product or appointment, for its
        person (an item that does not ask per person keeps the subject's own person)."""
        return subject.for_person(self.person)


def _expands(item: dict[str, Any]) -> bool:
    return bool(item.get("per_person")) or item.get("periods") is not None


def asks_per_person(items: Sequence[dict[str, Any]]) -> bool:
    """Whether any of ``items`` asks each person of the household."""
    return any(item.get("per_person") for item in items)


def needs_of(
    items: Sequence[dict[str, Any]],
    subject: Subject,
    household: Sequence[dict[str, Any]] | None,
) -> list[Need]:
    """The requests ``items`` make on ``subject`` with ``household`` (the persons at execution;
    empty or None: the applicant alone), in item order, then person, then period."""
    persons = [p for p in map(Person.of, household or ()) if p is not None]
    needs: list[Need] = []
    for index, item in enumerate(items):
        whom = (persons or list(EMPTY_HOUSEHOLD)) if item.get("per_person") else [subject.person]
        periods = list(item.get("periods") or [item.get("period")])
        needs.extend(Need(index, item, person, period) for person in whom for period in periods)
    return needs
