"""The static checks of the deploy files in `make lint` catch a broken file.

The machines that run `make lint` have no Docker engine and no cluster, so these checks are all
that stands between a typo and a failed rollout. Each checker runs here on the real file (it
passes) and on a copy with one deliberate mistake (it fails).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KUBERNETES = ROOT / "deploy" / "kubernetes"


@dataclass(frozen=True)
class Check:
    name: str
    file: str  # relative to the repository root
    command: Callable[[Path], list[str]]
    old: str  # the text the broken copy replaces (or appends to, when empty)
    new: str


def _kubernetes_validate(path: Path) -> list[str]:
    return [sys.executable, str(KUBERNETES / "validate.py"), str(path)]


def _alerts_check(path: Path) -> list[str]:
    return [sys.executable, str(KUBERNETES / "observability.py"), "--alerts", str(path)]


def _dashboard_check(path: Path) -> list[str]:
    return [sys.executable, str(KUBERNETES / "observability.py"), "--dashboard", str(path)]


CHECKS = [
    # A shell-form entrypoint runs under /bin/sh, which does not pass SIGTERM on to Python.
    Check(
        "hadolint: shell-form entrypoint",
        "Dockerfile",
        lambda path: [str(BIN / "hadolint"), str(path)],
        'ENTRYPOINT ["/opt/actiepunten/.venv/bin/actiepunten"]',
        "ENTRYPOINT /opt/actiepunten/.venv/bin/actiepunten",
    ),
    Check(
        "compose spec: misspelt service key",
        "compose.yaml",
        lambda path: [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        'command: ["serve", "portal"]',
        'comand: ["serve", "portal"]',
    ),
    Check(
        "yamllint: duplicated key",
        "compose.yaml",
        lambda path: [
            str(BIN / "yamllint"),
            "--strict",
            "-c",
            str(ROOT / ".yamllint.yaml"),
            str(path),
        ],
        "name: actiepunten\n",
        "name: actiepunten\nname: actiepunten-again\n",
    ),
    Check(
        "shellcheck: unquoted expansion",
        "deploy/topics.sh",
        lambda path: [str(BIN / "shellcheck"), str(path)],
        "",
        "echo $1\n",
    ),
    Check(
        "kubernetes: misspelt securityContext field",
        "deploy/kubernetes/base/services.yaml",
        _kubernetes_validate,
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesytem: true",
    ),
    Check(
        "kubernetes: replicas as words",
        "deploy/kubernetes/base/services.yaml",
        _kubernetes_validate,
        "replicas: 2",
        "replicas: two",
    ),
    Check(
        "strimzi KafkaTopic: partitions as words",
        "deploy/kubernetes/topics/topics.yaml",
        _kubernetes_validate,
        "partitions: 3",
        "partitions: three",
    ),
    Check(
        "strimzi KafkaUser: an operation Kafka does not have",
        "deploy/kubernetes/users/users.yaml",
        _kubernetes_validate,
        "- DescribeConfigs",
        "- DescribeConfig",
    ),
    Check(
        "strimzi KafkaUser: misspelt ACL field",
        "deploy/kubernetes/users/users.yaml",
        _kubernetes_validate,
        "patternType: literal",
        "pattern: literal",
    ),
    Check(
        "cloudnative-pg Cluster: unknown field",
        "deploy/kubernetes/base/postgres-cluster.yaml",
        _kubernetes_validate,
        "instances: 3",
        "instance: 3",
    ),
    Check(
        "cloudnative-pg ScheduledBackup: misspelt field",
        "deploy/kubernetes/base/postgres-cluster.yaml",
        _kubernetes_validate,
        "backupOwnerReference: self",
        "backupOwner: self",
    ),
    Check(
        "PrometheusRule: misspelt rule field",
        "deploy/kubernetes/base/alerts.yaml",
        _kubernetes_validate,
        "for: 5m",
        "fore: 5m",
    ),
    Check(
        "NetworkPolicy: misspelt field",
        "deploy/kubernetes/base/network-policies.yaml",
        _kubernetes_validate,
        "policyTypes:",
        "policyType:",
    ),
    Check(
        "alert rules: PromQL that does not parse",
        "deploy/kubernetes/base/alerts.yaml",
        _alerts_check,
        "(actiepunten_consumer_lag)\n",
        "(actiepunten_consumer_lag) >\n",
    ),
    Check(
        "alert rules: a metric no service exports",
        "deploy/kubernetes/base/alerts.yaml",
        _alerts_check,
        "(actiepunten_relay_backlog)",
        "(actiepunten_relay_backlogs)",
    ),
    Check(
        "dashboard: a panel wider than the grid",
        "deploy/kubernetes/base/dashboards/actiepunten.json",
        _dashboard_check,
        '"w": 12',
        '"w": 36',
    ),
    Check(
        "ServiceMonitor: misspelt endpoint path",
        "deploy/kubernetes/base/services.yaml",
        _kubernetes_validate,
        "path: /metrics",
        "pth: /metrics",
    ),
]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.name)
def test_the_check_passes_the_real_file_and_fails_the_broken_copy(
    check: Check, tmp_path: Path
) -> None:
    # The real file passes.
    real = ROOT / check.file
    passed = _run(check.command(real))
    assert passed.returncode == 0, passed.stdout + passed.stderr

    # A copy with one mistake, under the same name, fails.
    text = real.read_text()
    if check.old:
        assert check.old in text, f"{check.file} no longer has {check.old!r}: update this test"
        broken_text = text.replace(check.old, check.new, 1)
    else:
        broken_text = text + check.new
    broken = tmp_path / real.name
    broken.write_text(broken_text)
    failed = _run(check.command(broken))
    assert failed.returncode != 0, f"{check.name} let the broken copy through:\n{failed.stdout}"


def test_a_kind_without_a_schema_is_refused_rather_than_skipped(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: gadget\nspec: {}\n"
    )
    result = _run(_kubernetes_validate(unknown))
    assert result.returncode != 0
    assert "no schema for example.com/v1 Gadget" in result.stderr
