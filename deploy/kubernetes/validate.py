"""Validates the rendered Kubernetes manifests without a cluster (``make lint``).

Each argument is a kustomization directory (rendered with ``kustomize build``) or a YAML file.
Built-in kinds are checked by ``kubernetes-validate`` against the Kubernetes schemas of
``--kubernetes-version``, strictly (an unknown field is an error, as ``kubectl apply`` says).
The operators' kinds (Strimzi ``KafkaTopic``, CloudNativePG ``Cluster``, Prometheus
``ServiceMonitor``) are checked against their CRDs' schemas vendored in ``schemas/``, made
strict the same way. A kind with no schema is an error, never skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).resolve().parent / "schemas"
# The oldest Kubernetes we claim to run on; kubernetes-validate bundles its schemas.
KUBERNETES_VERSION = "1.30.0"


def strict(schema: Any) -> Any:
    """The schema with unknown properties refused wherever the CRD lists the known ones."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema, from ``schemas/<kind>-<group>-<version>.json``."""
    schemas = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        kind, rest = path.stem.split("-", 1)
        group, version = rest.rsplit("-", 1)
        schema = json.loads(path.read_text())
        title = schema.get("$comment", "").split(" ")[2]  # "openAPIV3Schema of <Kind> ..."
        assert title.lower() == kind, f"{path.name}: schema of {title}, not {kind}"
        schemas[(f"{group}/{version}", title)] = strict(schema)
    return schemas


def documents(target: Path, kustomize: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if target.is_dir():
        rendered = subprocess.run(
            [kustomize, "build", str(target)], check=True, capture_output=True, text=True
        ).stdout
    else:
        rendered = target.read_text()
    for number, document in enumerate(yaml.safe_load_all(rendered), start=1):
        if document is not None:
            name = document.get("metadata", {}).get("name", f"document {number}")
            yield f"{target}: {document.get('kind')} {name}", document


def problems(
    where: str, document: dict[str, Any], schemas: dict[Any, Any], version: str
) -> list[str]:
    key = (document.get("apiVersion"), document.get("kind"))
    if not document.get("metadata", {}).get("name"):
        return [f"{where}: no metadata.name"]
    if key in schemas:
        validator = jsonschema.Draft7Validator(schemas[key])
        return [
            f"{where}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(document)
        ]
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {key[0]} {key[1]} (vendor its CRD schema in {SCHEMAS})"]
    except kubernetes_validate.ValidationError as error:
        path = "/".join(map(str, error.path)) or "(root)"
        return [f"{where}: {path}: {error.message}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", type=Path, help="kustomization dirs or YAML files")
    parser.add_argument("--kustomize", default="kustomize", help="the kustomize binary")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    schemas = crd_schemas()
    found: list[str] = []
    count = 0
    for target in args.targets:
        for where, document in documents(target, args.kustomize):
            count += 1
            found += problems(where, document, schemas, args.kubernetes_version)
    for problem in found:
        print(problem, file=sys.stderr)
    print(f"{count} resources, {len(found)} problems")
    return 1 if found or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
