"""Native decoding of the contracts: msgspec structs generated from the pydantic models.

Reading a topic from its beginning (a replay) decodes every record; pydantic spends most of a
record's time there. ``decode_fast`` parses and validates a record of the current shape in
msgspec's C code instead, into structs generated here from the pydantic models of
``contracts`` (fields, defaults, lengths, bounds, patterns and the validators named in
``RULES``; control characters are looked for once in the whole record), so the contract is
still written once. Anything the structs do not accept (an older ``dataversion``, a type whose
validator has no rule here, an invalid record) goes to the pydantic ``codec.decode``, which
also says why a record is refused: native decoding only ever accepts less.
``tests/unit/test_native_codec.py`` decodes a corpus of every event type, older versions
included, both ways and compares them, and tries variants at the edge of each rule.

What a struct offers its readers is what the portal's projections use of an event: the same
attribute names, ``type`` and ``key`` on the envelope, ``model_dump_json`` on data models.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin
from uuid import UUID

import annotated_types
import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel, Strict
from pydantic.fields import FieldInfo

from shared.events import contracts as c
from shared.events.codec import _TOPIC_UNIONS, CURRENT_DATAVERSION, MAX_RECORD_BYTES, decode

RULES: dict[Callable[..., Any], str | None] = {
    # Checked once for the whole record by ``_left_to_pydantic`` (a record that may hold one goes
    # to pydantic), not string by string.
    c._no_control_characters: None,
    c._non_blank: r"\S",
    c._valid_tenant: r"^[^:]*[^:\s][^:]*\Z",  # control characters: as above
    c.CloudEvent._w3c_traceparent_or_none.__func__: rf"^{c._TRACEPARENT.pattern}\Z",  # type: ignore[attr-defined]
}
"""Each pydantic validator of the contracts as the pattern it checks (Python's ``re.search``
is what msgspec applies). A traceparent that is not W3C is read as None by pydantic; here it
is refused, so that pydantic reads such a record."""

_ESCAPE = re.compile(rb'\\[^"\\/]')  # an escape that may be a control character (\n, \u0001)
_C1 = re.compile(rb"\xc2[\x80-\x9f]")  # U+0080-009F in UTF-8
_FINE_FRACTION = re.compile(rb"\.[0-9]{7}")  # msgspec rounds a moment's 7th digit, pydantic cuts


def _left_to_pydantic(raw: bytes) -> bool:
    """Whether a record may hold what the structs would read otherwise than pydantic: a control
    character (Unicode Cc: U+0000-001F, U+007F-009F) escaped or raw (a record without any has
    none in any of its strings), or a moment finer than microseconds."""
    return (
        (b"\\" in raw and _ESCAPE.search(raw) is not None)
        or b"\x7f" in raw
        or (b"\xc2" in raw and _C1.search(raw) is not None)
        or _FINE_FRACTION.search(raw) is not None
    )


class Unsupported(Exception):
    """A field the generator cannot express natively: its model is left to pydantic."""


class NativeData(msgspec.Struct, frozen=True, kw_only=True):
    """A data model (or a part of one) decoded natively."""

    _excluded_if: ClassVar[dict[str, Callable[[Any], bool]]] = {}
    """The fields pydantic leaves out of its JSON when their ``exclude_if`` says so."""

    def model_dump_json(self) -> str:
        """The JSON pydantic's ``model_dump_json`` writes of the same data."""
        return msgspec.json.encode(_as_pydantic_writes(self)).decode()


def _as_pydantic_writes(value: Any) -> Any:
    if isinstance(value, NativeData):
        written = {}
        for name in value.__struct_fields__:
            field = getattr(value, name)
            exclude = value._excluded_if.get(name)
            if exclude is None or not exclude(field):
                written[name] = _as_pydantic_writes(field)
        return written
    if isinstance(value, tuple):
        return [_as_pydantic_writes(item) for item in value]
    return value


class NativeEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """A CloudEvents envelope decoded natively; ``type`` is its tag."""

    @property
    def type(self) -> str:
        return str(self.__struct_config__.tag)

    @property
    def key(self) -> bytes:
        return f"{self.tenantid}:{self.dossierid or ''}".encode()  # type: ignore[attr-defined]

    def model_copy(self, *, update: dict[str, Any]) -> Any:
        """The event with ``update``'s fields replaced (a consumer sets ``traceparent``)."""
        return msgspec.structs.replace(self, **update)


def _pattern(pattern: str) -> str:
    """A pydantic (Rust regex) pattern as a Python one: Python's ``$`` also matches before a
    final newline, Rust's only at the end."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return pattern


def _constraints(items: list[Any]) -> dict[str, Any]:
    """msgspec ``Meta`` keywords from pydantic metadata (several patterns as lookaheads)."""
    meta: dict[str, Any] = {}
    patterns: list[str] = []
    for item in items:
        if isinstance(item, FieldInfo):
            meta |= _constraints(list(item.metadata))
            continue
        if isinstance(item, AfterValidator):
            if item.func not in RULES:
                raise Unsupported(f"validator {item.func!r}")
            rule = RULES[item.func]  # type: ignore[index]
            if rule is not None:
                patterns.append(rule)
        elif isinstance(item, annotated_types.MinLen):
            meta["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            meta["max_length"] = item.max_length
        elif isinstance(item, annotated_types.Ge):
            meta["ge"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            meta["gt"] = item.gt
        elif isinstance(item, annotated_types.Le):
            meta["le"] = item.le
        elif isinstance(item, annotated_types.Lt):
            meta["lt"] = item.lt
        elif isinstance(item, Strict):
            pass  # msgspec is strict anyway: it accepts less than lax pydantic would
        elif getattr(item, "pattern", None) is not None:
            patterns.append(_pattern(item.pattern))
        else:
            raise Unsupported(f"constraint {item!r}")
    if "pattern" in meta:
        patterns.append(meta.pop("pattern"))
    if len(patterns) > 1:
        raise Unsupported(f"several patterns {patterns!r}")
    if patterns:
        meta["pattern"] = patterns[0]
    return meta


def _is_sealed(annotation: Any) -> bool:
    return get_origin(annotation) is Annotated and any(
        isinstance(item, c._SealedText) for item in get_args(annotation)[1:]
    )


def native_type(annotation: Any, metadata: list[Any], structs: dict[type, type]) -> Any:
    """The msgspec type of a pydantic field's annotation and metadata."""
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return native_type(inner, [*extra, *metadata], structs)
    if get_origin(annotation) in (Union, types.UnionType):
        # Constraints of an optional field hold for its value when there is one. A sealed
        # personal field is left to pydantic: the plain member reads the same string where it
        # accepts it (a short sealed value too), so native decoding still only accepts less.
        members = [
            native_type(a, [] if a is type(None) else metadata, structs)
            for a in get_args(annotation)
            if not _is_sealed(a)
        ]
        if len(members) == 1:
            return members[0]
        return Union.__getitem__(tuple(members))
    meta = _constraints(metadata)
    if annotation is AwareDatetime:
        base: Any = datetime
        meta["tz"] = True
    elif get_origin(annotation) is tuple:
        item, ellipsis = get_args(annotation)
        if ellipsis is not Ellipsis:
            raise Unsupported(f"tuple {annotation!r}")
        base = tuple[native_type(item, [], structs), ...]  # type: ignore[misc]
    elif get_origin(annotation) is Literal:
        base = annotation
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        base = data_struct(annotation, structs)
    elif annotation in (str, int, bool, UUID, type(None)):
        base = annotation
    else:
        raise Unsupported(f"type {annotation!r}")
    return Annotated[base, msgspec.Meta(**meta)] if meta else base


def _fields(model: type[BaseModel], structs: dict[type, type], skip: set[str]) -> list[Any]:
    validators = model.__pydantic_decorators__.field_validators.values()
    extra: dict[str, list[Any]] = {}
    for decorator in validators:
        func = getattr(decorator.func, "__func__", decorator.func)
        if func not in RULES:
            raise Unsupported(f"validator {func!r}")
        for name in decorator.info.fields:
            extra.setdefault(name, []).append(AfterValidator(func))
    if model.__pydantic_decorators__.model_validators:
        raise Unsupported(f"model validator on {model.__name__}")
    fields: list[Any] = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        kind = native_type(info.annotation, [*info.metadata, *extra.get(name, [])], structs)
        if info.is_required():
            fields.append((name, kind))
        elif info.default_factory is None:
            fields.append((name, kind, info.default))
        else:
            raise Unsupported(f"default factory of {model.__name__}.{name}")
    return fields


def data_struct(model: type[BaseModel], structs: dict[type, type]) -> type:
    if model not in structs:
        struct: Any = msgspec.defstruct(
            model.__name__,
            _fields(model, structs, set()),
            bases=(NativeData,),
            module=__name__,
            frozen=True,
            kw_only=True,
        )
        struct._excluded_if = {
            name: info.exclude_if
            for name, info in model.model_fields.items()
            if getattr(info, "exclude_if", None) is not None
        }
        structs[model] = struct
    return structs[model]


def event_struct(event_class: type[c.CloudEvent], structs: dict[type, type]) -> type | None:
    """The envelope struct of one event type with its data; None where it cannot be native."""
    tag = event_class.model_fields["type"].default
    try:
        data = native_type(event_class.model_fields["data"].annotation, [], structs)
        fields = _fields(event_class, structs, {"type", "data"})
    except Unsupported:
        return None
    return msgspec.defstruct(
        event_class.__name__,
        [*fields, ("data", data)],
        bases=(NativeEvent,),
        tag=tag,
        module=__name__,
        frozen=True,
        kw_only=True,
    )


def _members(union: Any) -> tuple[type[c.CloudEvent], ...]:
    inner = get_args(union)[0]  # Annotated[A | B, Field] -> A | B (or A)
    return get_args(inner) or (inner,)


_STRUCTS: dict[type, type] = {}
NATIVE: dict[str, type] = {
    event_class.model_fields["type"].default: struct
    for union in _TOPIC_UNIONS.values()
    for event_class in _members(union)
    if (struct := event_struct(event_class, _STRUCTS)) is not None
}
"""The event types decoded natively, by type."""


def _decoder(union: Any) -> msgspec.json.Decoder[Any] | None:
    tags = [event_class.model_fields["type"].default for event_class in _members(union)]
    native = [NATIVE[tag] for tag in tags if tag in NATIVE]
    if not native:
        return None
    return msgspec.json.Decoder(Union.__getitem__(tuple(native)))


_DECODERS = {
    topic: decoder
    for topic, union in _TOPIC_UNIONS.items()
    if (decoder := _decoder(union)) is not None
}


def decode_fast(topic: str, raw: bytes | None) -> Any:
    """``codec.decode``, natively where it can: a struct for a valid record of the current
    shape, else what ``codec.decode`` gives (or raises)."""
    decoder = _DECODERS.get(topic)
    if (
        decoder is not None
        and raw is not None
        and len(raw) <= MAX_RECORD_BYTES
        and not _left_to_pydantic(raw)
    ):
        try:
            event = decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        else:
            if event.dataversion == CURRENT_DATAVERSION.get(event.type, 1):
                return event
    return decode(topic, raw)
