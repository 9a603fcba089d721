"""The personal fields of the integration events are declared once (``shared/events/personal``),
and every text field of every contract is a decision: personal, or declared not (SPEC 11)."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel

from shared.events import contracts as c
from shared.events.personal import PERSONAL, text_fields, undeclared

TOPIC_UNIONS = (
    c.ScenarioTopicEvent,
    c.DossiercontroleTopicEvent,
    c.ProductsTopicEvent,
    c.AppointmentsTopicEvent,
    c.DocumentListsTopicEvent,
    c.ClientsTopicEvent,
    c.NotificationsTopicEvent,
)


def envelopes() -> list[Any]:
    found = []
    for union in TOPIC_UNIONS:
        members = get_args(get_args(union)[0]) or (get_args(union)[0],)
        found.extend(members)
    return found


def data_of(envelope: Any) -> type[BaseModel]:
    model: type[BaseModel] = envelope.model_fields["data"].annotation
    return model


def test_every_text_field_of_every_contract_is_declared_personal_or_not() -> None:
    missing = {
        envelope.model_fields["type"].default: undeclared(
            envelope.model_fields["type"].default, data_of(envelope)
        )
        for envelope in envelopes()
    }
    assert {kind: paths for kind, paths in missing.items() if paths} == {}


def test_every_declared_personal_field_exists() -> None:
    by_type = {e.model_fields["type"].default: data_of(e) for e in envelopes()}
    for event_type, paths in PERSONAL.items():
        assert paths <= set(text_fields(by_type[event_type])), event_type


def test_a_new_free_text_field_that_is_not_declared_fails() -> None:
    class NotedData(c.ActionPointReopenedData):
        note: str  # a new free-text field nobody declared

    assert undeclared("ActionPointReopened", NotedData) == {"note"}


def test_the_spec_s_kinds_of_personal_data_are_declared() -> None:
    assert "title" in PERSONAL["DocumentAdded"] and "instructions" in PERSONAL["DocumentAdded"]
    assert "file.filename" in PERSONAL["DocumentUploaded"]
    assert "reason" in PERSONAL["DocumentRejected"]
    assert {"name", "email"} <= PERSONAL["ClientContactChanged"]
