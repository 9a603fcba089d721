"""The notification service's HTTP API: an office's notification settings (SPEC section 8)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from services.notification_service.application import Notifications, SetNotificationSettings
from services.notification_service.domainmodel import Quiet, Weekday, quiet_of
from shared.events.durations import Duration, IsoDuration

router = APIRouter(responses=AUTHENTICATED)
Admin = Annotated[Identity, Depends(require("admin"))]
Staff = Annotated[Identity, Depends(require("admin", "adviser"))]

LONGEST_WINDOW = timedelta(days=1)
TIME_OF_DAY = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _window(text: str) -> str:
    duration = Duration.parse(text)
    if duration.months or not timedelta(seconds=1) <= duration.span <= LONGEST_WINDOW:
        raise ValueError("digest_window must be between PT1S and P1D, without months or years")
    return text


class QuietHoursBody(BaseModel):
    """Hours of each day without mail, Europe/Amsterdam; ``from`` after ``until`` spans
    midnight (``21:00`` until ``08:00``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", pattern=TIME_OF_DAY, examples=["21:00"])
    until: str = Field(pattern=TIME_OF_DAY, examples=["08:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursBody:
        if self.from_ == self.until:
            raise ValueError("quiet_hours from and until must differ")
        return self


class NotificationSettingsBody(BaseModel):
    """An office's notification settings, replaced whole. Default (until the admin sets them):
    ``{"digest_window": "PT5M", "quiet_hours": null, "quiet_days": []}``."""

    model_config = ConfigDict(extra="forbid")
    digest_window: Annotated[IsoDuration, AfterValidator(_window)] = Field(
        default="PT5M", description="News for a dossier within one window goes in one mail."
    )
    quiet_hours: QuietHoursBody | None = None
    quiet_days: list[Weekday] = Field(default_factory=list, max_length=6)

    @model_validator(mode="after")
    def _days_once(self) -> NotificationSettingsBody:
        if len(set(self.quiet_days)) != len(self.quiet_days):
            raise ValueError("quiet_days names a day twice")
        return self

    def quiet(self) -> Quiet:
        return quiet_of(self.model_dump(by_alias=True))

    @classmethod
    def of(cls, quiet: Quiet) -> NotificationSettingsBody:
        return cls.model_validate(quiet.as_dict())


def _app(request: Request) -> Notifications:
    app: Notifications = request.app.state.application
    return app


@router.get(
    "/notification-settings", response_model=NotificationSettingsBody, tags=["notifications"]
)
async def get_notification_settings(who: Staff, request: Request) -> NotificationSettingsBody:
    """The office's digest window and quiet time."""
    quiet = await asyncio.to_thread(_app(request).get_settings, who.tenant)
    return NotificationSettingsBody.of(quiet)


@router.put(
    "/notification-settings",
    response_model=NotificationSettingsBody,
    tags=["notifications"],
    responses=errors(400, 409, 413),
)
async def set_notification_settings(
    body: NotificationSettingsBody, who: Admin, request: Request
) -> NotificationSettingsBody:
    """Set the office's notification settings (admin); they apply to digests opened after."""
    command = SetNotificationSettings(who.tenant, body.quiet(), by=who.actor)
    quiet = await asyncio.to_thread(_app(request).set_settings, command)
    return NotificationSettingsBody.of(quiet)
