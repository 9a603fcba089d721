"""The topic registry (shared/events/topics.py) is the one place for topic settings: the deploy
script that creates the topics for real is generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.events import topics

ROOT = Path(__file__).resolve().parents[2]


def test_our_own_event_topics_keep_every_record() -> None:
    for name in (topics.SCENARIO, topics.DOSSIERCONTROLE):
        settings = topics.REGISTRY[name]
        assert settings.owner == "actiepunten"
        assert settings.config["retention.ms"] == "-1"
        assert settings.config["retention.bytes"] == "-1"


def test_the_deploy_script_creates_every_topic_with_the_registry_settings() -> None:
    # deploy/topics.sh is generated from the registry (`make manifests`); the committed file is
    # checked against the generator in tests/unit/test_deploy_files.py and `make lint`.
    script = (ROOT / "deploy" / "topics.sh").read_text()
    created = dict(
        (words[1], words[2:])
        for words in (line.split() for line in script.splitlines())
        if words and words[0] == "create"
    )
    assert created.keys() == topics.REGISTRY.keys()
    for name, settings in topics.REGISTRY.items():
        assert created[name] == [f"{key}={value}" for key, value in settings.config.items()]
    assert {s.partitions for s in topics.REGISTRY.values()} == {topics.PARTITIONS}
    assert f'--partitions "${{ACTIEPUNTEN_PARTITIONS:-{topics.DEFAULT_PARTITIONS}}}"' in script


def test_a_wrong_retention_is_a_health_warning_not_a_failure(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from servicekit.runtime import Runtime, http_app
    from servicekit.settings import Settings
    from servicekit.topicconfig import TopicProblem

    settings = Settings(
        service="portal",
        data_dir=tmp_path,
        kafka_bootstrap_servers="unused:9092",
        jwt_secret="unused",
    )
    runtime = Runtime(settings)
    app = http_app(runtime, title="portal", description="")
    # The start-up check found that a platform team made our topic delete after seven days.
    runtime.topic_problems = [
        TopicProblem(topics.DOSSIERCONTROLE, "retention.ms", "604800000", "-1", "actiepunten")
    ]

    response = TestClient(app).get("/health")

    assert response.status_code == 200
    [warning] = response.json()["warnings"]
    assert topics.DOSSIERCONTROLE in warning and "604800000" in warning and "-1" in warning


def test_the_partition_count_is_a_setting_with_three_by_default() -> None:
    assert topics.partitions_setting({}) == 3
    assert topics.partitions_setting({"ACTIEPUNTEN_PARTITIONS": "12"}) == 12
    for wrong in ("twelve", "0", "-3"):
        with pytest.raises(SystemExit, match="ACTIEPUNTEN_PARTITIONS"):
            topics.partitions_setting({"ACTIEPUNTEN_PARTITIONS": wrong})
