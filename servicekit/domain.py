"""What every service's domain shares: the kinds of refusal a command can meet.

A domain raises the kind that says what went wrong; the edges map the kind, never the message:
``servicekit.runtime`` answers HTTP with the status of ``DomainError.status`` (one handler for
all of them), and the Kafka consumer dead-letters the record with the error's message (a refusal
is the same on every retry).
"""

from __future__ import annotations

from servicekit.failures import Refused


class DomainError(Refused):
    """A command the domain refuses, with a message for the caller."""

    status = 422


class NotFound(DomainError):
    """The addressed thing does not exist in the caller's office (or is not visible to it)."""

    status = 404


class Conflict(DomainError):
    """The thing exists, but its state does not allow the command."""

    status = 409


class Invalid(DomainError):
    """The command breaks a rule of the domain (a moment in the past, an unknown scenario)."""

    status = 422


class TooLarge(DomainError):
    status = 413


class UnsupportedType(DomainError):
    status = 415
