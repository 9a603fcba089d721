"""The error answers every API shares, declared once so that each OpenAPI document says what the
service really answers: a body ``{"detail": ...}`` with a message, or for a request that does not
validate, the list of what is wrong."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ValidationIssue(BaseModel):
    """One reason a request does not validate: where (``loc``) and what."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every 4xx and 503 answer: a message, or the validation issues of the request."""

    detail: str | list[ValidationIssue]


_MEANING = {
    400: "The body cannot be read (not UTF-8 JSON, or a broken multipart form)",
    401: "No valid bearer token (missing, malformed, expired or wrongly signed)",
    403: "The token's role may not do this",
    404: "Not found in the caller's office, or not visible to the caller",
    409: "Conflicts with the resource's state, or it changed at the same moment",
    410: "Gone for good: the dossier was erased",
    413: "The request body is larger than the limit",
    415: "The file is of a type that is not accepted",
    422: "The request does not validate, or breaks a rule of the domain",
    503: "The service's store is unavailable; try again after Retry-After seconds",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router: the listed error statuses with their shared body."""
    return {status: {"model": ErrorOut, "description": _MEANING[status]} for status in statuses}


# What any route behind a bearer token can answer besides its own outcomes: no or a bad token,
# a role that may not, a request that does not validate, the store being down.
AUTHENTICATED = errors(401, 403, 422, 503)
