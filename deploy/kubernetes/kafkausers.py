"""The services' Kafka users and how their pods connect (SPEC section 10), for ``generate.py``.

- ``users/users.yaml``: a Strimzi ``KafkaUser`` per service (SCRAM-SHA-512), with the least
  ACLs of ``servicekit.kafkaacls`` (the same the secured local broker of the tests grants).
- Each Deployment's Kafka settings: SASL_SSL with SCRAM-SHA-512, its user's name, the password
  as a file from the Secret the User Operator makes (named like the user, key ``password``), and
  the cluster CA from Strimzi's ``<cluster>-cluster-ca-cert`` Secret (key ``ca.crt``).

Strimzi's User Operator makes each user's Secret in the namespace it watches: point it at the
services' namespace (``entityOperator.userOperator.watchedNamespace``) and the KafkaUsers live
beside the services; the cluster CA Secret is copied there (deploy/README.md).
"""

from __future__ import annotations

from typing import Any

from servicekit.kafkaacls import service_acls, user_name
from servicekit.services import SERVICES
from shared.events import topics

# The Strimzi Kafka cluster (label strimzi.io/cluster); an overlay patches it to yours.
KAFKA_CLUSTER = "kafka"
CLUSTER_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"
PASSWORD_DIR = "/run/secrets/kafka-user"
CA_DIR = "/run/secrets/kafka-ca"


def kafka_user(service: str) -> dict[str, Any]:
    """One service's KafkaUser: SCRAM-SHA-512, its topics and group, nothing else."""
    acls = [
        {
            "resource": {"type": acl.resource, "name": acl.name, "patternType": "literal"},
            "operations": list(acl.operations),
        }
        for acl in service_acls(service)
    ]
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": user_name(service),
            "labels": {
                "strimzi.io/cluster": KAFKA_CLUSTER,
                "app.kubernetes.io/name": "actiepunten",
                "app.kubernetes.io/component": service,
            },
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def kafka_users() -> list[dict[str, Any]]:
    return [kafka_user(service) for service in SERVICES]


def kafka_env(service: str) -> list[dict[str, Any]]:
    """A service's ``ACTIEPUNTEN_KAFKA_*`` settings: its own user, files for the secrets."""
    values = {
        "SECURITY_PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": "SCRAM-SHA-512",
        "SASL_USERNAME": user_name(service),
        "SASL_PASSWORD_FILE": f"{PASSWORD_DIR}/password",
        "SSL_CAFILE": f"{CA_DIR}/ca.crt",
    }
    return [{"name": f"ACTIEPUNTEN_KAFKA_{name}", "value": value} for name, value in values.items()]


def kafka_volumes(service: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The user's password and the cluster CA as read-only files (volumes and mounts)."""
    volumes = [
        {
            "name": "kafka-user",
            "secret": {
                "secretName": user_name(service),
                "items": [{"key": "password", "path": "password"}],
            },
        },
        {
            "name": "kafka-ca",
            "secret": {
                "secretName": CLUSTER_CA_SECRET,
                "items": [{"key": "ca.crt", "path": "ca.crt"}],
            },
        },
    ]
    mounts = [
        {"name": "kafka-user", "mountPath": PASSWORD_DIR, "readOnly": True},
        {"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True},
    ]
    return volumes, mounts


def durable(spec: dict[str, Any]) -> dict[str, Any]:
    """A KafkaTopic's spec with the production copies (``topics.REPLICAS``, and
    ``min.insync.replicas``); the small overlay patches both to 1."""
    return {
        **spec,
        "replicas": topics.REPLICAS,
        "config": {**spec.get("config", {}), "min.insync.replicas": topics.MIN_INSYNC_REPLICAS},
    }
