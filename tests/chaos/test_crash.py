"""Story: nothing is lost and nothing doubled while services crash and the broker restarts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devtools import Broker, create_topics, provide_broker
from devtools.mail import Mailpit, SmtpSink
from tests.chaos.crashrun import crash_run
from tests.conftest import smtp_env
from tests.support import System

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker of this test's own: it is restarted mid-run, with its data on disk."""
    import asyncio

    broker = provide_broker(
        tmp_path_factory.mktemp("chaos-kafka"), prefer="apache-kafka", port=None
    )
    asyncio.run(create_topics(broker.bootstrap_servers))
    yield broker
    broker.stop()


@pytest.fixture(params=os.environ.get("ACTIEPUNTEN_CHAOS_STORES", "sqlite").split(","))
def chaos_store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """SQLite in `make test`'s short form; `make chaos` adds PostgreSQL."""
    if request.param == "sqlite":
        return {"ACTIEPUNTEN_PERSISTENCE": "sqlite"}
    server = request.getfixturevalue("postgres")
    return server.create_database(f"chaos_{uuid.uuid4().hex[:12]}")  # type: ignore[no-any-return]


def test_every_request_gives_one_document_and_one_action_point_under_crashes(
    own_kafka: Broker,
    chaos_store_env: dict[str, str],
    mail_server: Mailpit | SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    requests = int(os.environ.get("ACTIEPUNTEN_CHAOS_REQUESTS", "2000"))
    system = System(
        own_kafka.bootstrap_servers,
        tmp_path_factory.mktemp("chaos"),
        idempotence=own_kafka.supports_idempotence,
        extra_env={**chaos_store_env, **smtp_env(mail_server)},
    )
    system.start()
    try:
        report = crash_run(system, own_kafka, requests, mail=mail_server)
    finally:
        system.stop()
    print(f"\n{report}")
    assert report.kills >= 3 and report.broker_restarts == 1, report
    assert (report.lost, report.duplicated) == (0, 0), report
    assert (report.portal_lost, report.portal_duplicated) == (0, 0), report
    assert report.notifications_lost == 0, report
    assert (report.mails_unrecorded, report.points_under_two_message_ids) == (0, 0), report
