"""Waiting between attempts, written once: the outbox relay, the tracking consumer, the broker
start and a command retried on a conflict all pause the same way, doubling up to a ceiling."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

_STEP = 0.1  # how often an interruptible pause checks whether to end early


class Backoff:
    """Pauses between attempts that double from ``first`` up to ``most``. With ``jitter`` each
    pause is drawn from zero up to that, so that a crowd of writers spreads out."""

    def __init__(self, first: float = 0.1, most: float = 5.0, *, jitter: bool = False) -> None:
        self.first = first
        self.most = most
        self.jitter = jitter
        self._next = first

    def reset(self) -> None:
        """After a success: the next failure pauses ``first`` again."""
        self._next = self.first

    def pause(self) -> float:
        """The next pause in seconds; the one after is twice as long, up to ``most``."""
        ceiling = self._next
        self._next = min(ceiling * 2, self.most)
        return random.uniform(0, ceiling) if self.jitter else ceiling

    async def sleep(self, *, unless: Callable[[], bool] | None = None) -> None:
        """Wait the next pause; ends early once ``unless()`` holds (a service stopping)."""
        seconds = self.pause()
        if unless is None:
            await asyncio.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while not unless() and time.monotonic() < deadline:
            await asyncio.sleep(min(_STEP, max(0.0, deadline - time.monotonic())))

    def sleep_blocking(self) -> None:
        """Wait the next pause in a thread of its own (synchronous code)."""
        time.sleep(self.pause())


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    retry_on: Callable[[Exception], bool] = lambda error: True,
    on_retry: Callable[[Exception], None] | None = None,
) -> T:
    """``await call()`` until it returns. An error ``retry_on`` accepts (by default any) is
    reported to ``on_retry`` and tried again after the next pause; any other is raised."""
    while True:
        try:
            return await call()
        except Exception as error:
            if not retry_on(error):
                raise
            if on_retry is not None:
                on_retry(error)
            await backoff.sleep()
