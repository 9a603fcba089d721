"""ISO 8601 durations as offices (months) and tests (seconds) write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.events.durations import Duration, IsoDuration, after, before

JAN_31 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P3M", datetime(2026, 4, 30, 12, 0, tzinfo=UTC)),  # the last day of a shorter month
        ("P1M", datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
        ("P1Y", datetime(2027, 1, 31, 12, 0, tzinfo=UTC)),
        ("P14D", JAN_31 + timedelta(days=14)),
        ("P2W", JAN_31 + timedelta(days=14)),
        ("PT30S", JAN_31 + timedelta(seconds=30)),
        ("PT1.5S", JAN_31 + timedelta(seconds=1.5)),
        ("P1DT12H", JAN_31 + timedelta(days=1, hours=12)),
    ],
)
def test_a_duration_counts_from_a_moment_by_the_calendar(text: str, expected: datetime) -> None:
    assert after(JAN_31, text) == expected


def test_before_goes_back() -> None:
    assert before(datetime(2026, 3, 31, tzinfo=UTC), "P1M") == datetime(2026, 2, 28, tzinfo=UTC)
    assert before(JAN_31, "P3D") == JAN_31 - timedelta(days=3)


@pytest.mark.parametrize(
    "text",
    ["", "P", "PT", "3M", "P1.5M", "PT1H1H", "P-1D", "1 week", "P999Y", "P1234M", "PT1.1234567S"],
)
def test_what_is_no_duration_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration"):
        Duration.parse(text)
    with pytest.raises(ValidationError):
        TypeAdapter(IsoDuration).validate_python(text)
