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

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_MAX_YEARS = 100


@dataclass(frozen=True)
class Duration:
    """A parsed ISO 8601 duration: whole months, and the rest as an exact time span."""

    months: int
    span: timedelta

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _PATTERN.match(text)
        if match is None:
            raise ValueError(
                f"{text!r} is not an ISO 8601 duration such as P3M, P14D, PT30S or P1DT12H"
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
        if months > _MAX_YEARS * 12 or span > timedelta(days=_MAX_YEARS * 366):
            raise ValueError(f"{text!r} is longer than {_MAX_YEARS} years")
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
    Field(max_length=64, examples=["P3M", "P14D", "PT30S"]),
    AfterValidator(_valid),
]
"""An ISO 8601 duration as text (validated); ``Duration.parse`` it to compute with."""


def after(moment: datetime, duration: str) -> datetime:
    return Duration.parse(duration).after(moment)


def before(moment: datetime, duration: str) -> datetime:
    return Duration.parse(duration).before(moment)
