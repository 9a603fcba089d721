"""The deploy files agree with the project: the image, compose and Kubernetes run what
`actiepunten serve` serves, configured as the README says, from the one topic registry.

What hadolint, the compose schema and the Kubernetes schemas cannot know (test_deploy_lint.py
covers those checkers).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from servicekit.services import SERVICES
from shared.events import topics

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", KUBERNETES / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kustomize() -> str | None:
    built = sorted(ROOT.glob(".cache/kustomize-*/kustomize"))
    return str(built[-1]) if built else shutil.which("kustomize")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _final_stage(dockerfile: str) -> str:
    return dockerfile.rsplit("\nFROM ", 1)[1]


def test_the_committed_kubernetes_files_are_what_the_registries_generate() -> None:
    for path, text in _generator().generated().items():
        assert path.read_text() == text, f"{path} is out of date: run `make manifests`"


def test_every_topic_of_the_registry_has_a_kafkatopic_with_its_partitions() -> None:
    manifests = [
        *_documents(KUBERNETES / "topics" / "topics.yaml"),
        *_documents(KUBERNETES / "components" / "platform-topics" / "topics.yaml"),
    ]
    declared = {m["spec"]["topicName"]: m["spec"]["partitions"] for m in manifests}
    assert declared == topics.TOPICS


@pytest.mark.parametrize("overlay", ["production", "small"])
def test_no_overlay_runs_more_consumers_than_the_topics_have_partitions(overlay: str) -> None:
    # A replica beyond the partition count gets no partition and sits idle in its group.
    kustomize = _kustomize()
    if kustomize is None:
        pytest.skip("kustomize is built by `make lint` (.cache/kustomize-*)")
    rendered = subprocess.run(
        [kustomize, "build", str(KUBERNETES / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    replicas = {
        d["metadata"]["name"]: d["spec"]["replicas"] for d in documents if d["kind"] == "Deployment"
    }
    assert set(replicas) == {f"actiepunten-{service}" for service in SERVICES}
    assert all(1 <= count <= topics.PARTITIONS for count in replicas.values()), replicas


def test_the_deployments_read_postgresql_from_the_secret_cloudnativepg_makes() -> None:
    (cluster,) = _documents(KUBERNETES / "base" / "postgres-cluster.yaml")
    secret = f"{cluster['metadata']['name']}-app"
    deployments = [
        d for d in _documents(KUBERNETES / "base" / "services.yaml") if d["kind"] == "Deployment"
    ]
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        from_secret = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        for variable, key in {"HOST": "host", "PORT": "port", "USER": "username",
                              "PASSWORD": "password", "DBNAME": "dbname"}.items():  # fmt: skip
            assert from_secret[f"ACTIEPUNTEN_POSTGRES_{variable}"] == {"name": secret, "key": key}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/var/lib/actiepunten", "/tmp"} <= mounts


def test_the_image_installs_from_the_lock_and_runs_as_a_user_with_an_exec_form_entrypoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final = _final_stage(dockerfile)
    user = re.search(r"^USER (\S+)", final, re.MULTILINE)
    assert user and user.group(1).split(":")[0] not in {"0", "root"}
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", final, re.MULTILINE)
    assert entrypoint and json.loads(entrypoint.group(1))[-1].endswith("/actiepunten")
    assert "uv sync --locked" in dockerfile

    # One uv version: the image's, make's and the lock's.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = project["tool"]["uv"]["required-version"].removeprefix("==")
    assert project["dependency-groups"]["dev"] == [f"uv=={pinned}"]
    assert f"uv=={pinned}" in dockerfile
    assert re.search(rf"^UV\s+:= {re.escape(pinned)}$", (ROOT / "Makefile").read_text(), re.M)


def test_the_build_context_holds_what_the_image_copies_and_no_local_state() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M)
    sources = {source for line in copied for source in line.split()}
    assert sources <= allowed
    assert not allowed & {".venv", ".data", ".git", ".cache", "tests", "devtools"}


def test_the_image_runs_without_the_local_tooling() -> None:
    # The image copies no devtools (local brokers, throwaway PostgreSQL): every module it ships
    # must import without it, and `actiepunten run` says what to do instead of a traceback.
    shipped = [
        path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
        for package in ("shared", "servicekit", "services", "actiepunten")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        "sys.modules['devtools'] = None  # as in the image: not there\n"
        f"for name in {shipped!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        "from actiepunten import cli\n"
        "try:\n"
        "    cli.run()\n"
        "except SystemExit as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.stdout


def test_compose_runs_each_service_on_postgresql_after_the_topics_exist() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    for service in SERVICES:
        spec = services[service]
        assert spec["command"] == ["serve", service]
        assert spec["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        environment = spec["environment"]
        assert environment["ACTIEPUNTEN_PERSISTENCE"] == "postgres"
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        port = SERVICES[service].port
        assert environment["PROBE_URL"] == f"http://127.0.0.1:{port}/readyz"
        assert f"{port}:{port}" in spec["ports"]
        assert spec["read_only"] is True
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_the_alerts_watch_metrics_the_services_export() -> None:
    from prometheus_client import REGISTRY

    import servicekit.metrics  # noqa: F401  (registers the metrics the plumbing exports)

    exported = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in REGISTRY.collect()
    }
    (rule,) = _documents(KUBERNETES / "base" / "alerts.yaml")
    expressions = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    watched = {name for e in expressions for name in re.findall(r"\bactiepunten_\w+", e)}
    assert watched, "the alerts name no metric"
    assert watched <= exported, watched - exported
