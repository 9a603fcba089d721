"""What every local broker kind shares: the `Broker` handle, its errors, ports and readiness,
the child process a broker runs in, and the cache folder for downloaded tooling."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from servicekit.kafkaclient import KafkaConnection, client_options, connection_of

log = logging.getLogger(__name__)

DEFAULT_PORT = 9092
# How long a broker start waits for its port: a broker JVM that is still stopping (up to
# _STOP_TIMEOUT_S) keeps it. Then it fails with a message, never moves to another port: the
# services are configured with this one, and a broker's data on disk belongs to its ports.
PORT_WAIT_S = 60.0
_STOP_TIMEOUT_S = 20.0


class BrokerError(RuntimeError):
    """A broker could not be found, fetched or started."""


class PortInUse(BrokerError):
    """The broker's port stayed taken for `PORT_WAIT_S`: another process has it."""


class DefaultPort:
    def __repr__(self) -> str:
        return "DEFAULT_PORT"


USE_DEFAULT_PORT = DefaultPort()


class Runner(Protocol):
    def stop(self) -> None: ...
    def restart(self) -> None: ...
    def alive(self) -> bool: ...


@dataclass
class Broker:
    """A Kafka broker that clients can reach at `bootstrap_servers`.

    `kind` is one of `KINDS`. `supports_idempotence` is False for Tansu, whose missing
    `InitProducerId` makes idempotent (and transactional) producers fail to start.
    """

    kind: str
    bootstrap_servers: str
    supports_idempotence: bool = True
    _runner: Runner | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Stop what `provide_broker` started; a no-op for an external broker. Idempotent."""
        if self._runner is not None:
            self._runner.stop()

    def restart(self) -> None:
        """Stop the broker and start it again on the same port and data dir (apache-kafka only).

        The data (topics, records, committed offsets) survives, so crash tests can use this.
        """
        if self.kind != "apache-kafka" or self._runner is None:
            raise BrokerError(f"restart() is only supported for apache-kafka, not {self.kind}")
        self._runner.restart()

    def alive(self) -> bool:
        """True while a broker we started still runs (always True for an external one)."""
        return self._runner is None or self._runner.alive()


class LocalRunner(Runner, Protocol):
    """A broker process of ours, not yet started."""

    def start(self) -> None: ...


def start_local(
    kind: str, runner: Callable[[int], LocalRunner], port: int | None, *, idempotence: bool
) -> Broker:
    """Start a broker of ours on ``port`` (see `choose_port`) and return it once it answers."""
    chosen = choose_port(port)
    started = runner(chosen)
    started.start()
    return Broker(
        kind=kind,
        bootstrap_servers=f"127.0.0.1:{chosen}",
        supports_idempotence=idempotence,
        _runner=started,
    )


# --------------------------------------------------------------------------------------------
# Ports and readiness


def port_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM and Tansu set on their server sockets, so that TIME_WAIT
    # leftovers of a previous broker do not count as "in use".
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def choose_port(port: int | None) -> int:
    """``port`` once it is free (see `wait_for_port`); None: any free loopback port."""
    if port is None:
        return free_port()
    wait_for_port(port)
    return port


def wait_for_port(port: int, what: str = "Kafka", timeout: float | None = None) -> None:
    """Return once ``port`` is free on 127.0.0.1; raise `PortInUse` after ``timeout``
    (`PORT_WAIT_S`). A broker that is still stopping frees its port within that time."""
    if port_free(port):
        return
    timeout = PORT_WAIT_S if timeout is None else timeout
    log.warning(
        "%s port 127.0.0.1:%d is in use; waiting up to %.0f s for it (a broker still stopping?)",
        what,
        port,
        timeout,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if port_free(port):
            return
    raise PortInUse(
        f"{what} port 127.0.0.1:{port} is still in use after {timeout:.0f} s. Another process "
        f"holds it (`ss -ltnp 'sport = :{port}'` names it): stop it and start again, or, if it "
        f"is a Kafka broker you want to use, set KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}."
    )


_T = TypeVar("_T")


def run_async(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even when the caller's loop is running.

    provide_broker() is synchronous but is called from async tests; a fresh loop in a worker
    thread avoids "asyncio.run() cannot be called from a running event loop".
    """

    async def main() -> _T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


async def metadata_has_broker(kafka: KafkaConnection | str) -> bool:
    client = AIOKafkaClient(**client_options(kafka), request_timeout_ms=5000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def wait_ready(
    kafka: int | KafkaConnection | str,
    *,
    timeout: float,
    alive: Callable[[], bool],
    describe: Callable[[], str],
) -> None:
    """Block until the broker (a loopback port, or how to connect to it) returns metadata with
    itself in it."""
    deadline = time.monotonic() + timeout
    bootstrap = f"127.0.0.1:{kafka}" if isinstance(kafka, int) else kafka
    port = int(connection_of(bootstrap).bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
    while True:
        if not alive():
            raise BrokerError(f"the broker exited during start-up\n{describe()}")
        # The TCP probe keeps aiokafka from logging a connection error per attempt.
        if tcp_open("127.0.0.1", port) and run_async(lambda: metadata_has_broker(bootstrap)):
            return
        if time.monotonic() > deadline:
            raise BrokerError(f"the broker did not answer within {timeout:.0f} s\n{describe()}")
        time.sleep(0.25)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Child processes


class ChildProcess:
    """A broker process in its own session, so that Ctrl-C in a terminal reaches only us.

    We then stop it in order, which lets Kafka shut down cleanly instead of racing our exit.
    """

    def __init__(self, argv: list[str], log_path: Path, cwd: Path) -> None:
        self._argv = argv
        self._log_path = log_path
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._log_path, "ab") as out:
                self._proc = subprocess.Popen(
                    self._argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self._cwd,
                    start_new_session=True,
                )

    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None or proc.poll() is not None:
                return
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()

    def kill(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                self._signal(proc, signal.SIGKILL)
                proc.wait()

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The process leads its own group; signal the group so helpers it forked stop too.
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)


# --------------------------------------------------------------------------------------------
# Downloaded tooling


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Folder for downloaded tooling: `ACTIEPUNTEN_CACHE_DIR`, else `<repo>/.cache`."""
    override = os.environ.get("ACTIEPUNTEN_CACHE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    root = repo_root()
    if (root / "pyproject.toml").exists():
        return root / ".cache"
    # Installed as a wheel: the package's parent is site-packages, not a place for a cache.
    return Path.home() / ".cache" / "actiepunten"
