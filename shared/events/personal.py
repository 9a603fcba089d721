"""Which fields of the integration events are personal data (SPEC section 11), declared once.

A personal field is sealed with its dossier's data key (``servicekit.crypto``) and reads as
``"[gewist]"`` once the dossier was erased. The SPEC names them: titles typed by people,
instructions, notes, rejection reasons, filenames, contact names and addresses. Every other text
field of a contract is declared not personal here (ids, codes, actors, moments, durations), so
that a new free-text field is a decision: ``tests/unit/test_personal_fields.py`` fails on a text
field in neither list. Paths: ``file.filename`` (a nested model's field), ``items[].title`` (each
item of a list).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

PERSONAL: dict[str, frozenset[str]] = {
    # A document's title and the adviser's note to the client are typed by people, about the
    # client's own documents ("Loonstrook Jan, januari").
    "DocumentRequested": frozenset({"title", "instructions"}),
    "DocumentAdded": frozenset({"title", "instructions"}),
    "ActionPointOpened": frozenset({"title", "instructions"}),
    "ActionPointReminderDue": frozenset({"title", "open_items[].title"}),
    # The client's filename often names the client ("paspoort-jan-de-vries.pdf").
    "DocumentUploaded": frozenset({"file.filename", "files[].filename"}),
    # The adviser's reasons speak about the client's documents.
    "DocumentRejected": frozenset({"reason"}),
    "ActionPointReopened": frozenset({"reason"}),
    # The client's note why a document does not apply, and the adviser's refusal of it.
    "NotApplicableClaimed": frozenset({"note"}),
    "NotApplicableRefused": frozenset({"reason"}),
    # A lender's list is about one client.
    "DocumentListReceived": frozenset({"items[].title", "items[].instructions"}),
    # Contact names and addresses; an SMTP refusal quotes the address.
    "ClientContactChanged": frozenset({"name", "email"}),
    "NotificationFailed": frozenset({"reason"}),
}
"""Per event type, its personal fields."""

NOT_PERSONAL = frozenset(
    {
        # ids (external, pseudonymous) and codes
        "dossier_id",
        "client_id",
        "product_id",
        "appointment_id",
        "subject.id",
        "subject.person.id",
        "subject.scope",
        "scope",
        "code",
        "product_type",
        "document_type",
        "items[].document_type",
        "open_items[].document_type",
        "reference",
        "file.sha256",
        "files[].sha256",
        "message_id",
        "portal_path",
        # who did it: `<role>:<sub>` or a system
        "requested_by",
        "uploaded_by",
        "removed_by",
        "approved_by",
        "rejected_by",
        "closed_by",
        "reopened_by",
        "erased_by",
        "claimed_by",
        "refused_by",
        "waived_by",
        "started_by",
        # a period ("2024", "januari 2026") and durations
        "period",
        "items[].period",
        "items[].periods[]",
        "due_in",
        "items[].due_in",
        "valid_for",
        # the office's catalogue: scenario and document-type names and a scenario's items are
        # templates typed by the office's admin, about no client (a run carries copies of them)
        "name",
        "scenario_name",
        "items[].title",
        "items[].instructions",
    }
)
"""Text fields that are not personal data, in any event type (unless ``PERSONAL`` names the
path for that type, which wins: a contact's ``name``, a lender's ``items[].title``)."""


def text_fields(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """The paths of ``model``'s text fields (``str``, not a ``Literal``), nested ones too."""
    for name, field in model.model_fields.items():
        yield from _paths(field.annotation, prefix + name)


def _paths(annotation: Any, path: str) -> Iterator[str]:
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _paths(get_args(annotation)[0], path)
    elif origin is Literal:
        return
    elif origin in (Union, types.UnionType):
        for member in get_args(annotation):
            yield from _paths(member, path)
    elif origin in (list, tuple, set, frozenset):
        for member in get_args(annotation):
            yield from _paths(member, path + "[]")
    elif origin is dict:
        yield from _paths(get_args(annotation)[1], path + "{}")
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from text_fields(annotation, path + ".")
    elif annotation is str:
        yield path


def undeclared(event_type: str, data_model: type[BaseModel]) -> set[str]:
    """The text fields of an event's data that are declared neither personal nor not."""
    personal = PERSONAL.get(event_type, frozenset())
    return {p for p in text_fields(data_model) if p not in personal and p not in NOT_PERSONAL}


def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    """``items[].title`` as ``(("items", True), ("title", False))``: each name, and whether it
    holds a list."""
    return tuple((step.removesuffix("[]"), step.endswith("[]")) for step in path.split("."))


_STEPS = {kind: tuple(_steps(path) for path in paths) for kind, paths in PERSONAL.items()}


def _replaced(holder: Any, name: str, value: Any) -> Any:
    if isinstance(holder, BaseModel):
        return holder.model_copy(update={name: value})
    import msgspec  # the native decoding's structs (``native.py``)

    return msgspec.structs.replace(holder, **{name: value})


def _apply(holder: Any, steps: tuple[tuple[str, bool], ...], change: Callable[[str], str]) -> Any:
    (name, many), rest = steps[0], steps[1:]
    value = getattr(holder, name, None)
    if value is None:
        return holder
    if rest:
        new = (
            tuple(_apply(item, rest, change) for item in value)
            if many
            else _apply(value, rest, change)
        )
    elif many:
        new = tuple(change(item) if isinstance(item, str) else item for item in value)
    else:
        new = change(value) if isinstance(value, str) else value
    if new == value:
        return holder
    return _replaced(holder, name, new)


def with_personal_fields(event: Any, change: Callable[[str], str]) -> Any:
    """``event`` (a contract's model or its native struct) with each of its personal fields
    replaced by ``change`` of it: sealed on publishing, opened on reading."""
    data = event.data
    for steps in _STEPS.get(event.type, ()):
        data = _apply(data, steps, change)
    return event if data is event.data else _replaced(event, "data", data)


def personal_values(event: Any) -> list[str]:
    """The values of ``event``'s personal fields."""
    found: list[str] = []

    def note(value: str) -> str:
        found.append(value)
        return value

    with_personal_fields(event, note)
    return found
