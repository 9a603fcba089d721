"""Kafka security without a broker (SPEC section 10): the settings refuse what they cannot use,
naming the variable; one function gives every client its options; the least ACLs follow from
the registries, and the generated KafkaUsers, Deployments and KafkaTopics carry them.

The broker's side (a secured Apache Kafka) is tests/e2e/test_secured_kafka.py.
"""

from __future__ import annotations

import functools
import re
import ssl
from pathlib import Path
from typing import Any

import pytest

from servicekit.kafkaacls import service_acls, user_name
from servicekit.kafkaclient import (
    KafkaConnection,
    KafkaSecurity,
    KafkaSettingError,
    client_options,
    faststream_security,
)
from servicekit.services import SERVICES
from servicekit.topicconfig import Replication, durability_problems
from shared.events import topics
from tests.unit.test_deploy_files import KUBERNETES, _container_env, _documents
from tests.unit.test_deploy_files import _rendered as _render

SASL = {
    "ACTIEPUNTEN_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "ACTIEPUNTEN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "ACTIEPUNTEN_KAFKA_SASL_USERNAME": "actiepunten-scenario",
}


@functools.cache
def _rendered(overlay: str) -> list[dict[str, Any]]:
    """An overlay rendered once per module (kustomize takes a second or two)."""
    return _render(overlay)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACTIEPUNTEN_KAFKA_SECURITY_PROTOCOL": "TLS"}, "SECURITY_PROTOCOL='TLS' is not valid"),
        ({**SASL, "ACTIEPUNTEN_KAFKA_SASL_MECHANISM": "GSSAPI"}, "SASL_MECHANISM='GSSAPI'"),
        (SASL, "ACTIEPUNTEN_KAFKA_SASL_PASSWORD_FILE is needed with SASL_PLAINTEXT"),
        ({"ACTIEPUNTEN_KAFKA_SSL_CAFILE": "/ca.crt"}, "SSL_CAFILE='/ca.crt' is not valid"),
        (
            {"ACTIEPUNTEN_KAFKA_SECURITY_PROTOCOL": "SSL", "ACTIEPUNTEN_KAFKA_SSL_KEYFILE": "k"},
            "SSL_CERTFILE and ACTIEPUNTEN_KAFKA_SSL_KEYFILE go together",
        ),
    ],
)
def test_a_setting_kafka_cannot_use_stops_the_service_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(KafkaSettingError, match=message):
        KafkaSecurity.from_env(env)


def test_plaintext_is_the_default_and_a_bootstrap_string_means_plaintext() -> None:
    assert KafkaConnection.from_env({}).security == KafkaSecurity()
    assert client_options("127.0.0.1:9092") == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "PLAINTEXT",
    }
    # Every client, FastStream's too, gets each broker of a cluster as an address of its own.
    assert client_options(" a:9092, b:9092,c:9092")["bootstrap_servers"] == [
        "a:9092",
        "b:9092",
        "c:9092",
    ]
    assert faststream_security("127.0.0.1:9092") is None


def test_sasl_reads_its_password_from_the_file_each_time_a_client_is_made(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("first\n")
    env = {**SASL, "ACTIEPUNTEN_KAFKA_SASL_PASSWORD_FILE": str(password)}
    connection = KafkaConnection("kafka:9093", KafkaSecurity.from_env(env))
    options = client_options(connection)
    assert options["sasl_plain_password"] == "first"
    assert (options["security_protocol"], options["sasl_mechanism"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
    )
    assert connection.principal == "User:actiepunten-scenario"
    password.write_text("rotated\n")  # the Secret changed: the next client uses the new one
    assert client_options(connection)["sasl_plain_password"] == "rotated"

    password.unlink()
    with pytest.raises(KafkaSettingError, match=r"SASL_PASSWORD_FILE='.*' cannot be read"):
        client_options(connection)


def test_tls_verifies_the_broker_with_the_ca_file(tmp_path: Path) -> None:
    env = {
        "ACTIEPUNTEN_KAFKA_SECURITY_PROTOCOL": "SSL",
        "ACTIEPUNTEN_KAFKA_SSL_CAFILE": str(tmp_path / "missing.crt"),
    }
    connection = KafkaConnection("kafka:9093", KafkaSecurity.from_env(env))
    with pytest.raises(KafkaSettingError, match=r"SSL_CAFILE='.*missing\.crt' cannot be read"):
        client_options(connection)
    plain_tls = KafkaConnection("kafka:9093", KafkaSecurity(protocol="SSL"))
    context = client_options(plain_tls)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    security = faststream_security(plain_tls)
    assert security is not None and security.use_ssl


def _acls(service: str) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(acl.resource, acl.name): acl.operations for acl in service_acls(service)}


def test_each_service_writes_only_its_own_topics_and_reads_what_it_consumes() -> None:
    scenario = _acls("scenario")
    assert scenario[("topic", topics.SCENARIO)][0] == "Write"
    assert scenario[("topic", topics.SCENARIO_DLQ)][0] == "Write"
    assert scenario[("topic", topics.PRODUCTS)][0] == "Read"
    assert scenario[("group", "actiepunten.scenario")] == ("Read",)
    portal = _acls("portal")  # publishes nothing but its dead letters
    writes = {name for (_, name), ops in portal.items() if "Write" in ops}
    assert writes == {topics.PORTAL_DLQ}
    for service in SERVICES:
        for (kind, name), operations in _acls(service).items():
            assert not {"Create", "Delete", "Alter", "AlterConfigs", "All"} & set(operations)
            if kind == "topic":  # the start-up check describes each topic it uses
                assert "DescribeConfigs" in operations, (service, name)


def test_the_kafka_users_are_generated_from_the_acls_one_per_service() -> None:
    users = {u["metadata"]["name"]: u for u in _documents(KUBERNETES / "users" / "users.yaml")}
    assert set(users) == {user_name(service) for service in SERVICES}
    for service in SERVICES:
        spec = users[user_name(service)]["spec"]
        assert spec["authentication"] == {"type": "scram-sha-512"}
        granted = {
            (acl["resource"]["type"], acl["resource"]["name"]): tuple(acl["operations"])
            for acl in spec["authorization"]["acls"]
        }
        assert granted == _acls(service)


@pytest.mark.parametrize("overlay", ["production", "small"])
def test_each_pod_connects_as_its_own_user_with_the_cluster_ca(overlay: str) -> None:
    documents = _rendered(overlay)
    assert {d["metadata"]["name"] for d in documents if d["kind"] == "KafkaUser"} == {
        user_name(service) for service in SERVICES
    }
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        service = container["args"][-1]
        env = _container_env(container, documents)
        security = KafkaSecurity.from_env(env)
        assert (security.protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
        assert security.sasl_username == user_name(service)
        mounted = _mounted_secrets(pod, container)
        assert mounted[str(security.sasl_password_file)] == (user_name(service), "password")
        assert mounted[str(security.ssl_cafile)] == ("kafka-cluster-ca-cert", "ca.crt")


def _mounted_secrets(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """File path -> (Secret, key) of each secret volume item the container mounts."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    files = {}
    for mount in container["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        for item in (secret or {}).get("items", []):
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files


@pytest.mark.parametrize(("overlay", "copies"), [("production", (3, 2)), ("small", (1, 1))])
def test_the_topics_keep_three_copies_and_acknowledge_at_two_one_on_the_small_cluster(
    overlay: str, copies: tuple[int, int]
) -> None:
    rendered = _rendered(overlay if overlay == "small" else "production/topics")
    kafka_topics = [d for d in rendered if d["kind"] == "KafkaTopic"]
    assert kafka_topics
    for topic in kafka_topics:
        found = (topic["spec"]["replicas"], topic["spec"]["config"]["min.insync.replicas"])
        assert found == copies, topic["metadata"]["name"]


def test_the_start_up_check_asks_as_many_copies_as_the_cluster_can_keep() -> None:
    assert [topics.durability(brokers) for brokers in (1, 2, 3, 5)] == [
        (1, 1),
        (2, 1),
        (3, 2),
        (3, 2),
    ]
    ours, platform = topics.SCENARIO, topics.PRODUCTS
    three = Replication(3, {ours: 1, platform: 3})
    configs: dict[str, dict[str, str] | None] = {
        ours: {"min.insync.replicas": "1"},
        platform: {"min.insync.replicas": "1"},
    }
    problems = {(p.topic, p.setting): p for p in durability_problems(three, configs)}
    assert set(problems) == {
        (ours, "replication.factor"),
        (ours, "min.insync.replicas"),
        (platform, "min.insync.replicas"),
    }
    assert str(problems[(ours, "replication.factor")]) == (
        f"topic {ours}: replication.factor should be at least 3 (found 1); "
        "a broker lost would take acknowledged records with it"
    )
    assert problems[(platform, "min.insync.replicas")].owner == "platform"
    # One broker (make run, the tests): one copy is all it can keep.
    assert durability_problems(Replication(1, {ours: 1}), configs) == []


CLIENT = re.compile(r"\b(AIOKafkaProducer|AIOKafkaConsumer|AIOKafkaAdminClient|AIOKafkaClient)\(")


def test_every_kafka_client_takes_its_options_from_the_one_function() -> None:
    # A client built with bootstrap_servers alone would connect in PLAINTEXT to a secured
    # cluster; FastStream's brokers are made by servicekit.kafka.make_broker, which uses it too.
    root = Path(__file__).resolve().parents[2]
    unsecured = []
    for package in ("servicekit", "services", "devtools", "actiepunten"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            for match in CLIENT.finditer(text):
                call = text[match.end() : match.end() + 200]
                if "client_options(" not in call.split(")\n")[0] + ")":
                    unsecured.append(f"{path.relative_to(root)}: {match.group(0)}")
            if "KafkaBroker(" in text and path != root / "servicekit" / "kafka.py":
                unsecured.append(f"{path.relative_to(root)}: KafkaBroker(")
    assert unsecured == []
