"""Native decoding (msgspec structs generated from the contracts) reads every record as pydantic
does, or leaves it to pydantic: a corpus of every event type, the stored dataversion 1 records,
and variants of records at the edge of each rule the contracts hold."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import KNOWN_TYPES, CodecError, decode, encode
from shared.events.native import NATIVE, NativeEvent, decode_fast
from tests.unit.test_contracts import DATA, TOPIC_OF, event_of
from tests.unit.test_schema_evolution import stored_v1_records

# Types whose data holds an ISO 8601 duration (its validator has no native rule) or a scenario's
# items (the same): pydantic reads them.
LEFT_TO_PYDANTIC = {
    "DocumentListReceived",
    "DocumentTypeConfigured",
    "ScenarioChanged",
    "ScenarioDefined",
    "ScenarioScheduled",
}


CLASSES = {kind.model_fields["type"].default: kind for kind in DATA}


def dumped(event: Any) -> Any:
    """An event as pydantic writes it; a struct first written out and read by pydantic (its
    JSON as msgspec writes it names fields that pydantic leaves out when they are None)."""
    if isinstance(event, NativeEvent):
        event = CLASSES[event.type].model_validate_json(msgspec.json.encode(event))
    return json.loads(event.model_dump_json())


def read_both(topic: str, raw: bytes) -> tuple[Any, Any]:
    """What pydantic and ``decode_fast`` make of ``raw``: an event as JSON values, or the
    refusal's class."""
    results = []
    for read in (decode, decode_fast):
        try:
            results.append(dumped(read(topic, raw)))
        except CodecError as error:
            results.append(type(error))
    return results[0], results[1]


def test_every_type_but_those_with_durations_is_decoded_natively() -> None:
    every = set().union(*KNOWN_TYPES.values())
    assert set(NATIVE) == every - LEFT_TO_PYDANTIC
    assert {kind.model_fields["type"].default for kind in DATA} == every


@pytest.mark.parametrize("kind", list(DATA), ids=lambda kind: kind.__name__)
def test_each_event_type_reads_natively_as_pydantic_reads_it(kind: type[c.CloudEvent]) -> None:
    raw = encode(event_of(kind))
    fast = decode_fast(TOPIC_OF[kind], raw)

    assert dumped(fast) == dumped(decode(TOPIC_OF[kind], raw))
    native = kind.model_fields["type"].default in NATIVE
    assert isinstance(fast, NativeEvent) is native
    assert fast.type == kind.model_fields["type"].default
    assert fast.key == b"kantoor-utrecht:dossier-1"
    # Its data written out as pydantic writes it (fields pydantic leaves out when None too).
    slow = decode(TOPIC_OF[kind], raw)
    assert json.loads(fast.data.model_dump_json()) == json.loads(slow.data.model_dump_json())


def test_a_record_of_an_older_dataversion_is_upcast_as_pydantic_does() -> None:
    for raw in stored_v1_records():
        fast = decode_fast(topics.SCENARIO, raw)
        assert not isinstance(fast, NativeEvent)
        assert dumped(fast) == dumped(decode(topics.SCENARIO, raw))
        assert fast.dataversion == 2


def test_a_subject_is_written_as_pydantic_writes_it() -> None:
    raw = encode(event_of(c.ActionPointOpened))
    fast, slow = decode_fast(topics.DOSSIERCONTROLE, raw), decode(topics.DOSSIERCONTROLE, raw)
    assert fast.data.subject.model_dump_json() == slow.data.subject.model_dump_json()


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    *parents, last = path.split(".")
    target = copy
    for name in parents:
        target = target[name]
    if value is _DROP:
        target.pop(last, None)
    else:
        target[last] = value
    return copy


_DROP = object()

EDGES: list[tuple[str, Any]] = [
    ("data.dossier_id", "dossier-1\n"),
    ("data.dossier_id", "dossier\x01-1"),
    ("data.dossier_id", "dossier\u0085-1"),
    ("data.dossier_id", "dossier\x7f-1"),
    ("data.dossier_id", "dossier\u00e9-1"),
    ("data.dossier_id", ""),
    ("data.dossier_id", "d" * 200),
    ("data.dossier_id", "d" * 201),
    ("data.dossier_id", 12),
    ("data.document_type", "paspoort\n"),
    ("data.document_type", "Paspoort"),
    ("data.document_type", ""),
    ("data.title", "x" * 300),
    ("data.title", "x" * 301),
    ("data.title", "tab\there"),
    ("data.subject.type", "other"),
    ("data.subject.scope", "Hypotheek"),
    ("data.subject.scope", "hypotheek\n"),
    ("data.subject.id", " "),
    ("tenantid", "kantoor:utrecht"),
    ("tenantid", " "),
    ("tenantid", "kantoor\n"),
    ("tenantid", "k" * 201),
    ("source", " "),
    ("source", ""),
    ("source", "\u00a0"),
    ("traceparent", "bogus"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"),
    ("traceparent", 5),
    ("time", "2025-03-10T09:00:00"),
    ("time", "2025-03-10 09:00:00Z"),
    ("time", "2025-03-10T09:00:00.1234567Z"),
    ("time", "2025-03-10T09:00:00z"),
    ("time", "2025-03-10T09:00:00+0100"),
    ("time", "2025-03-10T09:00:00+01:00"),
    ("time", "2025-03-10T23:59:60Z"),
    ("time", 1741597200),
    ("time", None),
    ("data.opened_at", "2025-03-10T10:00:00.5+01:00"),
    ("data.opened_at", "2025-03-10"),
    ("data.due_at", None),
    ("data.due_at", "2025-13-10T09:00:00Z"),
    ("id", "0b0e6b1a00004000800000000000000a"),
    ("id", "0B0E6B1A-0000-4000-8000-00000000000A"),
    ("id", "urn:uuid:0b0e6b1a-0000-4000-8000-00000000000a"),
    ("id", "{0b0e6b1a-0000-4000-8000-00000000000a}"),
    ("data.action_point_id", "not-a-uuid"),
    ("dataversion", 0),
    ("dataversion", 2),
    ("dataversion", "1"),
    ("dataversion", 1.0),
    ("specversion", "0.3"),
    ("datacontenttype", "text/plain"),
    ("dossierid", None),
    ("dossierid", ""),
    ("data.something_new", {"a": 1}),
    ("data.subject", _DROP),
    ("data", None),
]


@pytest.mark.parametrize(
    ("path", "value"), EDGES, ids=lambda v: "dropped" if v is _DROP else repr(v)[:40]
)
def test_a_record_at_the_edge_of_a_rule_reads_as_pydantic_reads_it(path: str, value: Any) -> None:
    document = json.loads(encode(event_of(c.ActionPointOpened)))
    raw = json.dumps(_set(document, path, value), ensure_ascii=False).encode()
    slow, fast = read_both(topics.DOSSIERCONTROLE, raw)
    assert fast == slow


@pytest.mark.parametrize(
    "raw",
    [
        # A raw control character in a string (JSON wants it escaped), a key given twice, a
        # huge number, nothing at all.
        encode(event_of(c.ActionPointOpened)).replace(b'"Paspoort', b'"Pas\x01poort'),
        encode(event_of(c.ActionPointOpened)).replace(
            b'"dossier_id":"dossier-1"', b'"dossier_id":"dossier-1","dossier_id":"other"'
        ),
        encode(event_of(c.DocumentUploaded)).replace(
            b'"size":', b'"size":1' + b"0" * 30 + b',"x":'
        ),
        b"",
        b"null",
    ],
    ids=["raw control", "duplicate key", "huge number", "empty", "null"],
)
def test_a_record_json_itself_makes_hard_reads_as_pydantic_reads_it(raw: bytes) -> None:
    topic = topics.DOSSIERCONTROLE
    slow, fast = read_both(topic, raw)
    assert fast == slow


def test_a_file_size_reads_as_pydantic_reads_it() -> None:
    document = json.loads(encode(event_of(c.DocumentUploaded)))
    for size in (0, -1, 2**63, 1.0, True, "12"):
        raw = json.dumps(_set(document, "data.file.size", size)).encode()
        slow, fast = read_both(topics.DOSSIERCONTROLE, raw)
        assert fast == slow, size
