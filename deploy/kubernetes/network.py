"""NetworkPolicies of the services (SPEC section 10), written by ``generate.py`` into
``base/network-policies.yaml`` from the service registry.

Every pod of ours (label ``app.kubernetes.io/name: actiepunten``) denies what is not allowed
below, in and out. In: only the portal from the ingress controller's namespace; the APIs the
portal's pages call from the portal; ``/metrics`` from the monitoring namespace. Out: DNS; the
Kafka brokers (Strimzi's pods of the cluster ``kafka``, in any namespace) on their client
listeners; the CloudNativePG cluster's pods; the APIs a service calls; the mail relay for the
services that mail; HTTPS for the office's OpenID provider (its discovery document and keys).
Names marked "yours" are what an overlay patches for another cluster.
"""

from __future__ import annotations

from typing import Any

from servicekit.services import SERVICES

INGRESS_NAMESPACE = "ingress-nginx"  # yours: where the ingress controller runs
MONITORING_NAMESPACE = "monitoring"  # yours: where Prometheus runs
KAFKA_CLUSTER = "kafka"  # the Strimzi cluster (generate.KAFKA_CLUSTER)
KAFKA_PORTS = (9092, 9093)  # Strimzi's plain and TLS client listeners
POSTGRES_CLUSTER = "actiepunten-db"  # the CloudNativePG Cluster of base/postgres-cluster.yaml
SMTP_PORTS = (25, 465, 587)
HTTPS = 443

CALLS: dict[str, tuple[str, ...]] = {
    "portal": ("scenario", "dossiercontrole"),
    "scenario": ("dossiercontrole",),
    "notification": ("dossiercontrole",),
}
"""Whose HTTP API a service calls: the portal's pages call the dossier check and the scenario
service; the portal, the scenario and the notification service ask the dossier check for data
keys (SPEC section 11) (``generate._calls_env`` gives each their URLs from here)."""

WEB_FACING = "portal"
"""The one service the ingress reaches (the pages and the portal API)."""


def _pods(component: str | None = None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "actiepunten"}
    if component is not None:
        labels["app.kubernetes.io/component"] = component
    return {"matchLabels": labels}


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "actiepunten"}},
        "spec": spec,
    }


def _ingress(service: str) -> list[dict[str, Any]]:
    port = _tcp(SERVICES[service].port)
    rules = [{"from": [_namespace(MONITORING_NAMESPACE)], "ports": port}]
    if service == WEB_FACING:
        rules.append({"from": [_namespace(INGRESS_NAMESPACE)], "ports": port})
    callers = [caller for caller, callees in CALLS.items() if service in callees]
    if callers:
        rules.append(
            {"from": [{"podSelector": _pods(caller)} for caller in callers], "ports": port}
        )
    return rules


def _egress(service: str) -> list[dict[str, Any]]:
    kafka = {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/kind": "Kafka"}
    rules: list[dict[str, Any]] = [
        {
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": kafka}}],
            "ports": _tcp(*KAFKA_PORTS),
        },
        {
            "to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": POSTGRES_CLUSTER}}}],
            "ports": _tcp(5432),
        },
        # The OpenID provider is outside the cluster, at an address we cannot name here.
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": _tcp(HTTPS)},
    ]
    for callee in CALLS.get(service, ()):
        rules.append({"to": [{"podSelector": _pods(callee)}], "ports": _tcp(SERVICES[callee].port)})
    if SERVICES[service].mails:
        rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": _tcp(*SMTP_PORTS)})
    return rules


def network_policies() -> list[dict[str, Any]]:
    """A default deny for our pods, DNS for all of them, and one policy per service."""
    policies = [
        _policy(
            "actiepunten-default-deny",
            {"podSelector": _pods(), "policyTypes": ["Ingress", "Egress"]},
        ),
        _policy(
            "actiepunten-dns",
            {
                "podSelector": _pods(),
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                **_namespace("kube-system"),
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    }
                ],
            },
        ),
    ]
    for service in SERVICES:
        policies.append(
            _policy(
                f"actiepunten-{service}",
                {
                    "podSelector": _pods(service),
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": _ingress(service),
                    "egress": _egress(service),
                },
            )
        )
    return policies
