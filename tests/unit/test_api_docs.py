"""The API's documents (/docs, /redoc, /openapi.json) are a setting: on for local use and the
fuzzer, off in the Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from servicekit.services import SERVICES
from servicekit.settings import Settings


@pytest.mark.parametrize("docs", [True, False], ids=["locally", "in production"])
def test_the_api_documents_are_served_only_where_the_setting_allows(
    docs: bool, tmp_path: Path
) -> None:
    settings = Settings(
        service="scenario",
        data_dir=tmp_path,
        kafka_bootstrap_servers="unused:9092",
        jwt_secret="a-test-secret-of-at-least-thirty-two-bytes!",
        api_docs=docs,
    )
    client = TestClient(SERVICES["scenario"].module("main").create_app(settings))

    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == (200 if docs else 404), path
    # The operations' endpoints answer either way; a wrong method still names the allowed ones.
    assert client.get("/livez").status_code == 200
    assert client.delete("/scenarios").headers.get("allow") == "GET, HEAD, POST"
