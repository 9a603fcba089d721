"""What operations watch, written by ``generate.py``: the alert rules (``base/alerts.yaml``, a
PrometheusRule) and a Grafana dashboard (``base/dashboards/actiepunten.json``, put in a
ConfigMap by ``base/kustomization.yaml`` with the label Grafana's dashboard sidecar looks for).

``python deploy/kubernetes/observability.py`` (in ``make lint``) checks both: every PromQL
expression parses (promql-parser, Prometheus' grammar) and names only metrics the services
export, and the dashboard has the shape Grafana needs (``DASHBOARD_SCHEMA``).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
ALERTS = HERE / "base" / "alerts.yaml"
DASHBOARD = HERE / "base" / "dashboards" / "actiepunten.json"

LATENCY_SECONDS = 1.0
"""The 95th percentile of an HTTP route above which the latency alert fires."""
ERROR_RATIO = 0.05
"""The share of 5xx answers of a service above which the error alert fires."""
SLOW_ROUTES = ".*/(upload|file)"
"""Uploads and downloads of files take as long as the file is large: not in the latency alert."""


def _rule(
    alert: str, expr: str, severity: str, summary: str, description: str, **extra: str
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": alert, "expr": expr}
    rule.update(extra)
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def alert_rules() -> list[dict[str, Any]]:
    """The alerts on the signals of deploy/README.md "What to watch"."""
    return [
        _rule(
            "ActiepuntenConsumerLag",
            "max by (namespace, service, topic) (actiepunten_consumer_lag) > 1000",
            "warning",
            "{{ $labels.service }} is {{ $value }} records behind on {{ $labels.topic }}",
            "A consumer is stuck or too slow. Look for transient retries (store or broker "
            "down) and for restarts; replicas beyond the partition count do not help.",
            **{"for": "10m"},
        ),
        _rule(
            "ActiepuntenRelayBacklog",
            "max by (namespace, service, topic) (actiepunten_relay_backlog) > 0",
            "critical",
            "{{ $labels.service }} stores events that do not reach {{ $labels.topic }}",
            "The outbox relay has not published for 5 minutes: Kafka refuses or is "
            "unreachable. Advisers' changes are saved but the other services do not see them. "
            "The backlog is counted from the store every few seconds, also while Kafka is down.",
            **{"for": "5m"},
        ),
        _rule(
            "ActiepuntenDeadLetters",
            "sum by (namespace, service, topic) (\n"
            "  increase(actiepunten_events_dead_lettered_total[15m])\n"
            ") > 0",
            "warning",
            "{{ $labels.service }} dead-lettered records of {{ $labels.topic }}",
            "Read them with `actiepunten dlq list` in a pod of the service; after a fix, "
            "`actiepunten dlq retry` sends them back to their topic.",
        ),
        _rule(
            "ActiepuntenTransientRetries",
            "sum by (namespace, service, topic) (\n"
            "  rate(actiepunten_transient_retries_total[5m])\n"
            ") > 1",
            "warning",
            "{{ $labels.service }} keeps retrying records of {{ $labels.topic }}",
            "The service's store or the broker fails; nothing is lost, it is only late.",
            **{"for": "10m"},
        ),
        _rule(
            "ActiepuntenTopicSettings",
            "max by (namespace, service, topic, setting) (\n"
            "  actiepunten_topic_config_wrong\n"
            ") > 0",
            "warning",
            "{{ $labels.topic }} has a wrong {{ $labels.setting }} for {{ $labels.service }}",
            "A topic the service reads or writes is not set as the registry says "
            "(shared/events/topics.py): a finite retention loses the history a replay needs. "
            "The service's start-up log names the value found and the one expected; "
            "deploy/topics.sh or the KafkaTopic resources put it right.",
            **{"for": "15m"},
        ),
        _rule(
            "ActiepuntenHttpErrors",
            "sum by (namespace, service) (\n"
            '  rate(actiepunten_http_requests_total{status=~"5.."}[5m])\n'
            ")\n/\nsum by (namespace, service) (\n"
            "  rate(actiepunten_http_requests_total[5m])\n"
            f") > {ERROR_RATIO}",
            "critical",
            "{{ $labels.service }} answers {{ $value | humanizePercentage }} of requests with 5xx",
            "A 503 is a store or another service out of reach (see /readyz and the log); a 500 "
            "is a bug: the log has its traceback and trace id.",
            **{"for": "5m"},
        ),
        _rule(
            "ActiepuntenHttpLatency",
            "histogram_quantile(0.95, sum by (namespace, service, route, le) (\n"
            "  rate(actiepunten_http_request_duration_seconds_bucket"
            f'{{route!~"{SLOW_ROUTES}"}}[10m])\n'
            f")) > {LATENCY_SECONDS}",
            "warning",
            "{{ $labels.service }} {{ $labels.route }}: 95% of requests take up to "
            "{{ $value | humanizeDuration }}",
            "Slow answers: a loaded store (PostgreSQL's pool, a big dossier's cold load) or "
            "CPU. File uploads and downloads are left out (they take as long as the file).",
            **{"for": "15m"},
        ),
        _rule(
            "ActiepuntenTargetDown",
            'up{service=~"actiepunten-.*"} == 0',
            "critical",
            "{{ $labels.pod }} does not answer /metrics",
            "The pod is gone, restarting or unreachable (check its NetworkPolicy and events).",
            **{"for": "5m"},
        ),
    ]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the longer PromQL expressions) as literal blocks, line for line, so
    that every line stays within yamllint's 100 characters."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def alerts_yaml(header: str) -> str:
    """``base/alerts.yaml``: the PrometheusRule after ``header``."""
    body = yaml.dump(prometheus_rule(), Dumper=_Dumper, sort_keys=False, width=72)
    return header + "---\n" + body


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "actiepunten"},
        "spec": {"groups": [{"name": "actiepunten", "rules": alert_rules()}]},
    }


# --- the dashboard ---------------------------------------------------------------------------


def _panel(number: int, title: str, unit: str, *targets: tuple[str, str]) -> dict[str, Any]:
    """A time series panel, two to a row."""
    return {
        "id": number,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * ((number - 1) % 2), "y": 8 * ((number - 1) // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
            }
            for index, (expr, legend) in enumerate(targets)
        ],
    }


NS = 'namespace="$namespace"'


def dashboard() -> dict[str, Any]:
    """Lag, relay backlog, dead letters and HTTP, per service and topic."""
    panels = [
        _panel(
            1,
            "Consumer lag (records behind)",
            "short",
            (
                f"sum by (service, topic) (actiepunten_consumer_lag{{{NS}}})",
                "{{service}} {{topic}}",
            ),
        ),
        _panel(
            2,
            "Outbox relay backlog (stored, not yet published)",
            "short",
            (f"max by (topic) (actiepunten_relay_backlog{{{NS}}})", "{{topic}}"),
        ),
        _panel(
            3,
            "Dead letters (per 15 minutes)",
            "short",
            (
                f"sum by (service, topic) (increase(actiepunten_events_dead_lettered_total{{{NS}}}"
                "[15m]))",
                "{{service}} {{topic}}",
            ),
        ),
        _panel(
            4,
            "Records processed (per second)",
            "ops",
            (
                f"sum by (topic) (rate(actiepunten_events_processed_total{{{NS}}}[5m]))",
                "{{topic}}",
            ),
        ),
        _panel(
            5,
            "HTTP requests by status (per second)",
            "reqps",
            (
                f"sum by (service, status) (rate(actiepunten_http_requests_total{{{NS}}}[5m]))",
                "{{service}} {{status}}",
            ),
        ),
        _panel(
            6,
            "HTTP latency, 95th percentile",
            "s",
            (
                "histogram_quantile(0.95, sum by (service, le) "
                f"(rate(actiepunten_http_request_duration_seconds_bucket{{{NS}}}[5m])))",
                "{{service}}",
            ),
        ),
    ]
    return {
        "uid": "actiepunten",
        "title": "Actiepunten",
        "description": "Generated by deploy/kubernetes/generate.py: do not edit in Grafana.",
        "tags": ["actiepunten"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {
                    "name": "namespace",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": "label_values(actiepunten_http_requests_total, namespace)",
                    "refresh": 1,
                },
            ]
        },
        "panels": panels,
    }


def dashboard_json() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


# --- checks (make lint) -------------------------------------------------------------------------

DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "datasource", "targets"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["timeseries", "stat", "table", "bargauge"]},
                    "gridPos": {
                        "type": "object",
                        "required": ["h", "w", "x", "y"],
                        "properties": {"w": {"type": "integer", "minimum": 1, "maximum": 24}},
                    },
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr"],
                            "properties": {"expr": {"type": "string", "minLength": 1}},
                        },
                    },
                },
            },
        },
    },
}


PLUMBING_METRICS = ("servicekit.metrics", "servicekit.topicconfig", "servicekit.scheduler")
"""The modules that register the metrics every service exports (what is watched here)."""


def exported_series() -> set[str]:
    """Every series name of the plumbing's metrics (counters' ``_total``, histograms' parts)."""
    from prometheus_client import REGISTRY

    for module in PLUMBING_METRICS:
        importlib.import_module(module)  # each registers its metrics on import
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + part for part in ("_bucket", "_sum", "_count"))
    return names


def expression_problems(where: str, expr: str, exported: set[str]) -> list[str]:
    import promql_parser

    # Grafana's variables are not PromQL: give them a value to parse.
    parsable = expr.replace("$namespace", "ns").replace("${datasource}", "ds")
    try:
        promql_parser.parse(parsable)
    except ValueError as error:
        return [f"{where}: PromQL does not parse: {error}: {expr}"]
    unknown = set(re.findall(r"\bactiepunten_\w+", expr)) - exported
    return [f"{where}: no service exports {name}" for name in sorted(unknown)]


def problems(alerts: Path = ALERTS, dashboard_file: Path = DASHBOARD) -> list[str]:
    """What is wrong with the alert rules and the dashboard; empty when nothing."""
    import jsonschema

    exported = exported_series()
    found: list[str] = []
    rule = yaml.safe_load(alerts.read_text())
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            found += expression_problems(f"alert {alert['alert']}", alert["expr"], exported)
    try:
        board = json.loads(dashboard_file.read_text())
    except ValueError as error:
        return [*found, f"dashboard: not JSON: {error}"]
    found += [
        f"dashboard: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in jsonschema.Draft7Validator(DASHBOARD_SCHEMA).iter_errors(board)
    ]
    for panel in board.get("panels", []):
        for target in panel.get("targets", []):
            where = f"dashboard panel {panel.get('title')!r}"
            found += expression_problems(where, target.get("expr", ""), exported)
    ids = [panel.get("id") for panel in board.get("panels", [])]
    if len(ids) != len(set(ids)):
        found.append("dashboard: panel ids repeat")
    return found


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="checks the alert rules and the dashboard")
    parser.add_argument("--alerts", type=Path, default=ALERTS)
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD)
    args = parser.parse_args(argv)
    found = problems(args.alerts, args.dashboard)
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"alert rules and dashboard: {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
