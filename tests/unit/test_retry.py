"""One way to wait between attempts (servicekit/retry.py), used by the relay, the consumer, the
broker start and the command retried on a conflict: pauses that double up to a ceiling."""

from __future__ import annotations

import asyncio

import pytest

from servicekit import retry as retry_module
from servicekit.retry import Backoff, retry


@pytest.fixture
def waited(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses asked for, without waiting them."""
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(retry_module.asyncio, "sleep", sleep)
    return pauses


def test_pauses_double_up_to_the_ceiling_and_start_again_after_a_success() -> None:
    backoff = Backoff(0.1, 0.5)
    assert [backoff.pause() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.pause() == 0.1


def test_a_crowd_of_writers_spreads_out_within_the_pause() -> None:
    backoff = Backoff(0.01, 0.04, jitter=True)
    ceilings = [0.01, 0.02, 0.04, 0.04]
    assert all(0 <= backoff.pause() <= ceiling for ceiling in ceilings)


async def test_a_store_that_comes_back_is_retried_until_the_call_goes_through(
    waited: list[float],
) -> None:
    answers: list[object] = [ConnectionError("away"), ConnectionError("away"), "stored"]
    reported: list[str] = []

    async def call() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = await retry(
        call, backoff=Backoff(0.1, 5.0), on_retry=lambda e: reported.append(str(e))
    )

    assert result == "stored"
    assert reported == ["away", "away"]
    assert waited == [0.1, 0.2]


async def test_an_error_that_retrying_cannot_fix_is_raised_at_once(waited: list[float]) -> None:
    async def call() -> None:
        raise ValueError("a value the store can never hold")

    with pytest.raises(ValueError, match="never hold"):
        await retry(call, retry_on=lambda e: isinstance(e, ConnectionError), backoff=Backoff())
    assert waited == []


async def test_a_pause_ends_early_when_the_service_stops(waited: list[float]) -> None:
    stopping = asyncio.Event()
    stopping.set()

    await Backoff(0.5, 5.0).sleep(unless=stopping.is_set)

    assert waited == []  # nothing waited: the service is stopping


def test_the_database_pool_tries_again_every_few_seconds_however_long_it_was_away() -> None:
    import psycopg_pool.pool

    from servicekit.pgpool import MOST_DELAY, cap_reconnect_delay

    cap_reconnect_delay()
    attempt = psycopg_pool.pool.AttemptWithBackoff(timeout=300.0)
    delays = []
    for second in range(0, 120, 5):  # an outage of two minutes
        attempt.update_delay(float(second))
        delays.append(attempt.delay)

    assert max(delays) == MOST_DELAY  # uncapped: 1, 2, 4, ... 64 s and more
    assert delays[0] < 1.2  # the first retry still comes quickly
