"""Reminders and due dates: an office's reminder schedule as a value, and the moments it gives
an open action point with a due date (SPEC section 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.dossiercontrole_service.domainmodel.values import ActionPoint, Value
from shared.events.durations import Duration


@dataclass(frozen=True, slots=True)
class ReminderPlan(Value):
    """An office's reminder schedule: reminders ``before_due`` the due date (ISO 8601
    durations), one ``on_due``, then one ``every_after_due`` until done; at most
    ``max_reminders`` scheduled ones per action point (an adviser's "remind now" is extra)."""

    before_due: tuple[str, ...] = ("P3D",)
    on_due: bool = True
    every_after_due: str | None = "P7D"
    max_reminders: int = 5

    def as_dict(self) -> dict[str, Any]:
        return {
            "before_due": list(self.before_due),
            "on_due": self.on_due,
            "every_after_due": self.every_after_due,
            "max_reminders": self.max_reminders,
        }

    def moments(self, due_at: datetime, opened_at: datetime) -> list[datetime]:
        """The scheduled reminders of a point due at ``due_at`` that opened at ``opened_at``, in
        order: each ``before_due`` moment not past already when it opened, the due moment, then
        every ``every_after_due``; the first ``max_reminders`` of them."""
        limit = self.max_reminders
        chosen: list[datetime] = []
        try:
            before = sorted({Duration.parse(d).before(due_at) for d in self.before_due})
        except OverflowError:
            before = []
        chosen.extend(m for m in before if m >= opened_at and m < due_at)
        if self.on_due:
            chosen.append(due_at)
        if self.every_after_due is not None:
            step = Duration.parse(self.every_after_due)
            times = 1
            while len(chosen) < limit:
                try:
                    later = Duration(step.months * times, step.span * times).after(due_at)
                except OverflowError:
                    break
                if later <= due_at:
                    break  # a zero step would never end
                chosen.append(later)
                times += 1
        return chosen[:limit]

    def next_for(self, point: ActionPoint) -> datetime | None:
        """The moment of the point's next scheduled reminder (None: no more)."""
        if point.due_at is None:
            return None
        for moment in self.moments(point.due_at, point.created_at):
            if point.reminded_for is None or moment > point.reminded_for:
                return moment
        return None

    def latest_due_for(self, point: ActionPoint, now: datetime) -> datetime | None:
        """The latest scheduled moment not after ``now`` that was not reminded yet: after a
        pause of the scheduler, one reminder for the moments it missed, not a burst."""
        if point.due_at is None:
            return None
        found = None
        for moment in self.moments(point.due_at, point.created_at):
            if moment > now:
                break
            if point.reminded_for is None or moment > point.reminded_for:
                found = moment
        return found
