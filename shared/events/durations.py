"""ISO 8601 durations (``P3M``, ``P14D``, ``PT30S``): offices think in months, tests in seconds.

A duration is kept as its text on the wire and in stored events, and added to a moment with
calendar arithmetic: ``P1M`` after 31 January is the last day of February, as people count.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

# Each part has a bounded number of digits, so that no duration overflows a moment (the longest
# is a few centuries), and the pattern needs no look-around, so that the OpenAPI schema can carry
# it for clients and fuzzers: a duration has a date part, a time part, or both, never neither.
_Y, _MO, _W, _D = r"\d{1,2}Y", r"\d{1,3}M", r"\d{1,4}W", r"\d{1,5}D"
_H, _MI, _S = r"\d{1,6}H", r"\d{1,7}M", r"\d{1,9}(?:\.\d{1,6})?S"
_DATE = f"(?:{_Y}(?:{_MO})?(?:{_W})?(?:{_D})?|{_MO}(?:{_W})?(?:{_D})?|{_W}(?:{_D})?|{_D})"
_TIME = f"T(?:{_H}(?:{_MI})?(?:{_S})?|{_MI}(?:{_S})?|{_S})"
PATTERN = f"^P(?:{_DATE}(?:{_TIME})?|{_TIME})$"
_VALID = re.compile(PATTERN)
_PARTS = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>[\d.]+)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    """A parsed ISO 8601 duration: whole months, and the rest as an exact time span."""

    months: int
    span: timedelta

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _PARTS.match(text) if _VALID.match(text) else None
        if match is None:
            raise ValueError(
                f"{text!r} is not an ISO 8601 duration such as P3M, P14D, PT30S or P1DT12H "
                "(each part at most a few centuries)"
            )
        parts = {key: float(value) if value else 0.0 for key, value in match.groupdict().items()}
        months = int(parts["years"]) * 12 + int(parts["months"])
        span = timedelta(
            weeks=parts["weeks"],
            days=parts["days"],
            hours=parts["hours"],
            minutes=parts["minutes"],
            seconds=parts["seconds"],
        )
        return cls(months, span)

    def after(self, moment: datetime) -> datetime:
        """``moment`` plus this duration (months first, by the calendar, then the rest)."""
        return _add_months(moment, self.months) + self.span

    def before(self, moment: datetime) -> datetime:
        """``moment`` minus this duration."""
        return _add_months(moment, -self.months) - self.span


def _add_months(moment: datetime, months: int) -> datetime:
    if not months:
        return moment
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _valid(text: str) -> str:
    Duration.parse(text)
    return text


IsoDuration = Annotated[
    str,
    Field(max_length=64, examples=["P3M", "P14D", "PT30S"], json_schema_extra={"pattern": PATTERN}),
    AfterValidator(_valid),
]
"""An ISO 8601 duration as text (validated); ``Duration.parse`` it to compute with."""


def after(moment: datetime, duration: str) -> datetime:
    return Duration.parse(duration).after(moment)


def before(moment: datetime, duration: str) -> datetime:
    return Duration.parse(duration).before(moment)
