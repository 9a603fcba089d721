"""Pages of a list endpoint: `limit` and an opaque `cursor` in, `next_cursor` out.

A cursor names the sort key of the last item of the page before (keyset pagination), so a page
does not shift when items are added before it. It is opaque to clients: base64url of JSON
``[list, *key]``; a cursor of another list, or one this service did not give out, is a 422.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from fastapi.exceptions import RequestValidationError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 1000

T = TypeVar("T")
Key = tuple[str, ...]


@dataclass(frozen=True)
class Page:
    """What a client asked for: at most ``limit`` items after the key ``after`` (None: first)."""

    list_name: str
    limit: int
    after: Key | None

    def cursor_after(self, key: Key) -> str:
        raw = json.dumps([self.list_name, *key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def not_a_cursor(cursor: str | None = None) -> RequestValidationError:
    """The answer to a cursor this list did not give out: the same 422 as for a bad `limit`,
    FastAPI's validation error located at the parameter."""
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("query", "cursor"),
                "msg": "not a cursor of this list (pass the next_cursor of its page before)",
                "input": cursor,
            }
        ]
    )


def _decode(list_name: str, arity: int, cursor: str) -> Key:
    bad = not_a_cursor(cursor)
    try:
        value: Any = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise bad from None
    if (
        not isinstance(value, list)
        or len(value) != arity + 1
        or not all(isinstance(part, str) and part.isprintable() for part in value)
        or value[0] != list_name
    ):
        raise bad
    return tuple(value[1:])


def paging(list_name: str, arity: int) -> Callable[..., Page]:
    """A FastAPI dependency that reads `limit` and `cursor` for the list ``list_name``, whose
    sort key has ``arity`` parts."""

    def page(
        limit: Annotated[
            int,
            Query(ge=1, le=MAX_LIMIT, description=f"items per page, at most {MAX_LIMIT}"),
        ] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(
                max_length=MAX_CURSOR_LENGTH,
                description="`next_cursor` of the page before; absent for the first page",
            ),
        ] = None,
    ) -> Page:
        after = _decode(list_name, arity, cursor) if cursor is not None else None
        return Page(list_name, limit, after)

    return page


def paginate(items: Sequence[T], key: Callable[[T], Key], page: Page) -> tuple[list[T], str | None]:
    """One page of ``items`` in the order of ``key``, and the cursor of the next (None: last)."""
    ordered = sorted(items, key=key)
    if page.after is not None:
        after = page.after
        ordered = [item for item in ordered if key(item) > after]
    chosen = ordered[: page.limit]
    if len(ordered) > page.limit:
        return chosen, page.cursor_after(key(chosen[-1]))
    return chosen, None


def moment(value: datetime | str) -> str:
    """A moment as a sort-key part that orders as time does (UTC, ISO 8601)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).isoformat()
