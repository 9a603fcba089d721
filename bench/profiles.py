"""py-spy profiles of the services during a bench part, when ``BENCH_PYSPY=<dir>`` is set (py-spy
is pip-installed into the venv; it is not a dependency). Each service's samples (``--gil``: only
the thread holding the GIL, the CPU Python spends; ``BENCH_PYSPY_IDLE=1``: every thread, waiting
too) go to ``<dir>/<part>-<store>-<service>.txt``
as collapsed stacks; ``python -m bench.profiles FILE...`` prints where the time went: the
functions with the most samples inside them (inclusive) and on top (self).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import System


@contextmanager
def profiled(system: System, part: str) -> Iterator[None]:
    where = os.environ.get("BENCH_PYSPY")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not where or not Path(spy).exists():
        yield
        return
    out = Path(where)
    out.mkdir(parents=True, exist_ok=True)
    store = system.env.get("ACTIEPUNTEN_PERSISTENCE", "sqlite")
    # ``BENCH_PYSPY_IDLE=1``: every thread, waiting ones too (where a pipeline waits, not only
    # where it spends CPU).
    mode = ["--idle"] if os.environ.get("BENCH_PYSPY_IDLE") else ["--gil"]
    command = [spy, "record", *mode, "-r", "100", "-f", "raw", "--nonblocking"]
    spies = [
        subprocess.Popen(
            [*command, "-p", str(process.pid), "-o", str(out / f"{part}-{store}-{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, process in system.processes.items()
    ]
    try:
        yield
    finally:
        for spy_process in spies:
            spy_process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy_process in spies:
            spy_process.wait(timeout=60)


def spied(command: list[str], part: str, store: str) -> list[str]:
    """``command`` run under py-spy when ``BENCH_PYSPY`` is set (its samples to
    ``<dir>/<part>-<store>.txt``; without ``--gil``: the process's own threads)."""
    where = os.environ.get("BENCH_PYSPY")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not where or not Path(spy).exists():
        return command
    Path(where).mkdir(parents=True, exist_ok=True)
    out = str(Path(where) / f"{part}-{store}.txt")
    return [spy, "record", "-r", "100", "-f", "raw", "-o", out, "--", *command]


def summary(path: Path, top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [frame.split(" (", 1)[0] + _where(frame) for frame in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    lines = [f"{path.name}: {total} samples"]
    lines += [f"  incl {100 * n / total:5.1f} %  {f}" for f, n in inclusive.most_common(top)]
    lines += [f"  self {100 * n / total:5.1f} %  {f}" for f, n in own.most_common(top // 2)]
    return "\n".join(lines)


def _where(frame: str) -> str:
    """`` (module.py)`` of a py-spy frame ``name (path/module.py:line)``."""
    _, _, place = frame.partition(" (")
    return f" ({Path(place.rsplit(':', 1)[0]).name})" if place else ""


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(summary(Path(name)))
