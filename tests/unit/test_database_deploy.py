"""The PostgreSQL of the Kubernetes files holds what the services ask of it: a synchronous
standby, backups to an object store, and enough connections for every pod's pool while a
rolling update runs the old and the new pods side by side."""

from __future__ import annotations

import functools
import importlib.util
from types import ModuleType
from typing import Any

import pytest

from tests.unit.test_deploy_files import KUBERNETES, OVERLAYS, _container_env
from tests.unit.test_deploy_files import _rendered as _render


@functools.cache
def _rendered(overlay: str) -> list[dict[str, Any]]:
    """An overlay rendered once per module (kustomize takes a second or two)."""
    return _render(overlay)


def _database() -> ModuleType:
    spec = importlib.util.spec_from_file_location("database", KUBERNETES / "database.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pods_at_most(deployment: dict[str, Any]) -> int:
    """Replicas, and the extra pods a rolling update starts before it stops old ones."""
    spec = deployment["spec"]
    surge = spec["strategy"]["rollingUpdate"]["maxSurge"]
    assert isinstance(surge, int), "a percentage surge: count it here"
    return int(spec["replicas"]) + surge


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_max_connections_holds_every_pool_during_a_rolling_update(overlay: str) -> None:
    database = _database()
    documents = _rendered(overlay)
    (cluster,) = [d for d in documents if d["kind"] == "Cluster"]
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    pods = sum(_pods_at_most(d) for d in deployments)
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    assert database.connections_needed(pods) <= max_connections, (pods, max_connections)
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = _container_env(container, documents)
        pool = int(env["ACTIEPUNTEN_POSTGRES_POOL_SIZE"])
        overflow = int(env["ACTIEPUNTEN_POSTGRES_MAX_OVERFLOW"])
        assert pool + overflow + database.OTHER == database.PER_POD


def test_production_commits_on_a_standby_too_and_backs_up_to_an_object_store() -> None:
    documents = _rendered("production")
    (cluster,) = [d for d in documents if d["kind"] == "Cluster"]
    spec = cluster["spec"]
    assert spec["instances"] >= 2
    assert spec["postgresql"]["synchronous"]["number"] >= 1
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://")
    assert spec["backup"]["retentionPolicy"]
    (scheduled,) = [d for d in documents if d["kind"] == "ScheduledBackup"]
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]


def test_the_small_cluster_has_one_instance_without_a_standby_to_wait_for() -> None:
    documents = _rendered("small")
    (cluster,) = [d for d in documents if d["kind"] == "Cluster"]
    assert cluster["spec"]["instances"] == 1
    assert "synchronous" not in cluster["spec"]["postgresql"]
    assert not [d for d in documents if d["kind"] == "ScheduledBackup"]
