"""The deploy files agree with the project: the image, compose and Kubernetes run what
`actiepunten serve` serves, configured as the README says, from the one topic registry.

What hadolint, the compose schema and the Kubernetes schemas cannot know (test_deploy_lint.py
covers those checkers).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
import yaml

from servicekit.services import SERVICES
from servicekit.settings import Settings
from shared.events import topics

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"


def _module(name: str) -> ModuleType:
    """One of the deploy scripts of ``deploy/kubernetes`` as a module."""
    spec = importlib.util.spec_from_file_location(name, KUBERNETES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generator() -> ModuleType:
    return _module("generate")


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


OVERLAYS = ["production", "small"]


def _rendered(overlay: str) -> list[dict[str, Any]]:
    """The resources of an overlay as ``kubectl apply -k`` gets them (skips without kustomize)."""
    kustomize = _kustomize()
    if kustomize is None:
        pytest.skip("kustomize is built by `make lint` (.cache/kustomize-*)")
    rendered = subprocess.run(
        [kustomize, "build", str(KUBERNETES / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(rendered) if d]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_overlay_runs_more_consumers_than_the_topics_have_partitions(overlay: str) -> None:
    # A replica beyond the partition count gets no partition and sits idle in its group.
    documents = _rendered(overlay)
    replicas = {
        d["metadata"]["name"]: d["spec"]["replicas"] for d in documents if d["kind"] == "Deployment"
    }
    assert set(replicas) == {f"actiepunten-{service}" for service in SERVICES}
    assert all(1 <= count <= topics.PARTITIONS for count in replicas.values()), replicas


SECRET_VALUES = {"port": "5432", "secret": "a-random-secret-of-at-least-32-bytes!"}
"""What a secretKeyRef stands for in the test (CloudNativePG's `-app` secret has these)."""


def _container_env(container: dict[str, Any], documents: list[dict[str, Any]]) -> dict[str, str]:
    """A container's environment: its ConfigMaps (``envFrom``), then its ``env``, with each
    secret's value as a placeholder."""
    config_maps = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
    for variable in container.get("env", []):
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            value = SECRET_VALUES.get(source["secretKeyRef"]["key"], "from-a-secret")
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            value = config_maps[ref["name"]]["data"][ref["key"]]
        else:
            value = variable["value"]
        env[variable["name"]] = value
    return env


def _service_links(documents: list[dict[str, Any]]) -> dict[str, str]:
    """What Kubernetes injects into a pod for each Service of its namespace when service links
    are on: the overlay's Services and those CloudNativePG makes for its Cluster."""
    ports = {
        d["metadata"]["name"]: [(p.get("name"), p["port"]) for p in d["spec"]["ports"]]
        for d in documents
        if d["kind"] == "Service"
    }
    for cluster in (d for d in documents if d["kind"] == "Cluster"):
        for suffix in ("rw", "ro", "r"):
            ports[f"{cluster['metadata']['name']}-{suffix}"] = [("postgres", 5432)]
    env: dict[str, str] = {}
    for service, service_ports in ports.items():
        name, ip = service.upper().replace("-", "_"), "10.0.0.1"
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(service_ports[0][1])
        env[f"{name}_PORT"] = f"tcp://{ip}:{service_ports[0][1]}"
        for port_name, port in service_ports:
            if port_name:
                env[f"{name}_SERVICE_PORT_{port_name.upper().replace('-', '_')}"] = str(port)
            link = f"{name}_PORT_{port}_TCP"
            env.update({link: f"tcp://{ip}:{port}", f"{link}_PROTO": "tcp"})
            env.update({f"{link}_PORT": str(port), f"{link}_ADDR": ip})
    return env


def _settings_in(env: dict[str, str], service: str) -> Settings:
    with mock.patch.dict(os.environ, env, clear=True):
        return Settings.from_env(service)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_starts_with_the_environment_its_pods_get(overlay: str) -> None:
    # Service links are off in every pod, so the settings read what the manifests say; were they
    # on, `actiepunten-<service>` would inject ACTIEPUNTEN_<SERVICE>_PORT=tcp://...: the settings
    # refuse that, naming the variable, rather than crash on it.
    documents = _rendered(overlay)
    links = _service_links(documents)
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["enableServiceLinks"] is False, deployment["metadata"]["name"]
        (container,) = pod["containers"]
        service = container["args"][-1]
        env = _container_env(container, documents)
        settings = _settings_in(env, service)
        assert settings.port == container["ports"][0]["containerPort"] == SERVICES[service].port
        assert settings.persistence == "postgres"
        variable = f"ACTIEPUNTEN_{service.upper()}_PORT"
        with pytest.raises(SystemExit, match=f"^{variable}='tcp://10.0.0.1:"):
            _settings_in({**links, **env}, service)


def test_the_deployments_read_postgresql_from_the_secret_cloudnativepg_makes() -> None:
    (cluster,) = [
        d
        for d in _documents(KUBERNETES / "base" / "postgres-cluster.yaml")
        if d["kind"] == "Cluster"
    ]
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
        # A pod filling its node's disk is evicted first (deploy/README.md, "What each setting").
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert all(v["emptyDir"].get("sizeLimit") for v in volumes if "emptyDir" in v), volumes


def test_every_replica_of_the_dossier_check_reads_the_same_key_encryption_keys() -> None:
    # A KEK made per pod would leave each replica unable to open the data keys of the others.
    deployments = {
        d["metadata"]["name"]: d
        for d in _documents(KUBERNETES / "base" / "services.yaml")
        if d["kind"] == "Deployment"
    }
    for service in SERVICES.values():
        spec = deployments[f"actiepunten-{service.name}"]["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        if not service.keeps_data_keys:
            assert "ACTIEPUNTEN_KEK_FILE" not in env and "kek" not in secrets
            continue
        assert secrets["kek"] == "actiepunten-kek"
        assert env["ACTIEPUNTEN_KEK_FILE"] == f"{mounts['kek']}/keks"


def test_the_image_installs_from_the_lock_and_runs_as_a_user_with_an_exec_form_entrypoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final = _final_stage(dockerfile)
    user = re.search(r"^USER (\S+)", final, re.MULTILINE)
    assert user and user.group(1).split(":")[0] not in {"0", "root"}
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", final, re.MULTILINE)
    assert entrypoint and json.loads(entrypoint.group(1))[-1].endswith("/actiepunten")
    assert "uv sync --locked" in dockerfile
    # psycopg's C extension in every install of the image, compiled in the build stage only.
    syncs = re.findall(r"^RUN uv sync .*$", dockerfile, re.MULTILINE)
    assert syncs and all("--extra pg-c" in sync for sync in syncs)
    assert "gcc" not in final and "libpq5" in final

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
        assert spec["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert spec["read_only"] is True
        assert re.fullmatch(
            r"\$\{ACTIEPUNTEN_JWT_SECRET:\?.+\}", environment["ACTIEPUNTEN_JWT_SECRET"]
        )
    # Nothing is published beyond this machine.
    published = [port for spec in services.values() for port in spec.get("ports", [])]
    assert all(port.startswith("127.0.0.1:") for port in published), published
    assert services["kafka"]["image"].startswith("apache/kafka:")

    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_compose_points_each_service_at_the_services_the_kubernetes_one_calls() -> None:
    # The services a service calls (the portal's pages; the dossier check's data keys) are
    # those generate.py gives its Deployment; compose names them by their compose service
    # instead of their Kubernetes Service.
    assert _generator()._calls_env("portal"), "the portal calls no API"
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for service in SERVICES:
        calls = [e["name"] for e in _generator()._calls_env(service)]
        environment = services[service]["environment"]
        for variable in calls:
            other = variable.removeprefix("ACTIEPUNTEN_").removesuffix("_URL").lower()
            assert environment.get(variable) == f"http://{other}:{SERVICES[other].port}", service


def test_the_alerts_watch_metrics_the_services_export() -> None:
    observability = _module("observability")
    exported = observability.exported_series()
    (rule,) = _documents(KUBERNETES / "base" / "alerts.yaml")
    expressions = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    watched = {name for e in expressions for name in re.findall(r"\bactiepunten_\w+", e)}
    assert watched, "the alerts name no metric"
    assert watched <= exported, watched - exported


def test_the_network_policies_let_the_portal_reach_the_apis_its_pages_call() -> None:
    network = _module("network")
    calls = {
        e["name"].removeprefix("ACTIEPUNTEN_").removesuffix("_URL").lower()
        for e in _generator()._calls_env("portal")
    }
    assert set(network.CALLS["portal"]) == calls
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in _documents(KUBERNETES / "base" / "network-policies.yaml")
    }
    # Our pods deny what is not allowed, in and out.
    default = policies["actiepunten-default-deny"]
    assert default["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in default
    for service in SERVICES:
        spec = policies[f"actiepunten-{service}"]
        sources = [peer for rule in spec["ingress"] for peer in rule["from"]]
        from_ingress = any(
            p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            == network.INGRESS_NAMESPACE
            for p in sources
        )
        # Only the portal is reached from the ingress controller.
        assert from_ingress == (service == "portal"), service
        ports = {port["port"] for rule in spec["egress"] for port in rule["ports"]}
        assert {5432, 9092, 9093} <= ports, service  # PostgreSQL and Kafka
        assert (587 in ports) == SERVICES[service].mails, service  # the mail relay
    called = policies["actiepunten-scenario"]["ingress"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "actiepunten",
            "app.kubernetes.io/component": "portal"}}} in called[-1]["from"]  # fmt: skip
