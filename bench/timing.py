"""Timing a piece of work beside its baseline, and printing both with their ratio."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def report(name: str, count: int, seconds: float, baseline: float, unit: str = "ops") -> None:
    print(
        f"{name:34} {count / seconds:12,.2f} {unit}/s   baseline {count / baseline:12,.2f} "
        f"{unit}/s   ratio {seconds / baseline:6.2f}x the baseline's time"
    )
