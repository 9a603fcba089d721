"""Kafka in a Docker container (testcontainers), where a Docker engine answers."""

from __future__ import annotations

import atexit
import contextlib
from pathlib import Path
from typing import Any

from devtools.brokers import Broker, BrokerError, choose_port


def docker_answers() -> bool:
    # Without a daemon docker-py fails in milliseconds; the short timeout only matters for a
    # remote DOCKER_HOST that does not answer.
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


class _Container:
    def __init__(self, container: Any) -> None:
        self._container: Any = container
        atexit.register(self.stop)

    def alive(self) -> bool:
        if self._container is None:
            return False
        try:
            wrapped = self._container.get_wrapped_container()
            wrapped.reload()
            return bool(wrapped.status == "running")
        except Exception:
            return False

    def stop(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.stop()

    def restart(self) -> None:
        raise BrokerError("restart() is only supported for apache-kafka")


def start_testcontainers(data_dir: Path, port: int | None) -> Broker:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:
        try:
            from testcontainers.kafka import KafkaContainer
        except ImportError as exc:
            raise BrokerError("testcontainers[kafka] is not installed") from exc
    if not docker_answers():
        raise BrokerError("no Docker engine answers")
    container = KafkaContainer().with_kraft()
    # Publish on the chosen host port so `make run` gets 127.0.0.1:9092 like the other kinds;
    # KafkaContainer advertises whatever host port Docker maps.
    container.with_bind_ports(container.port, choose_port(port))
    container.start(timeout=120)
    runner = _Container(container)
    return Broker(
        kind="testcontainers",
        bootstrap_servers=container.get_bootstrap_server(),
        supports_idempotence=True,
        _runner=runner,
    )
