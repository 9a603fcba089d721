"""Story: the services work through a Kafka secured as a production cluster is (SPEC section
10): SASL_SSL with SCRAM-SHA-512 over mutual TLS, the standard authorizer, a user per service
with only the ACLs the registries give it (its dead letters too); and a write the ACLs do not
allow is refused with a message naming topic and operation, while the writer carries on.

One secured broker for the module (``devtools.secured``), started beside the suite's broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer

from devtools.mail import Mailpit, SmtpSink
from devtools.secured import SecuredKafka, start_secured_kafka
from devtools.topics import create_topics
from servicekit.kafka import KafkaRefused, Publisher, TopicReader, make_broker
from servicekit.kafkaclient import client_options
from servicekit.services import SERVICES
from shared.events import topics
from tests.conftest import smtp_env
from tests.support import System, eventually, product, start_runs

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    broker = start_secured_kafka(tmp_path_factory.mktemp("secured-kafka"))
    try:
        asyncio.run(create_topics(broker.admin))  # as the platform's admin makes them
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def secured_system(
    secured: SecuredKafka,
    mail_server: Mailpit | SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[System]:
    system = System(
        secured.bootstrap_servers,
        tmp_path_factory.mktemp("secured-system"),
        extra_env={"ACTIEPUNTEN_PERSISTENCE": "sqlite", **smtp_env(mail_server)},
        service_env={
            # Each service as its own user, in the consumer group its ACLs name.
            name: {
                **secured.env_of(name),
                f"ACTIEPUNTEN_{name.upper()}_GROUP": f"actiepunten.{name}",
            }
            for name in SERVICES
        },
    )
    system.start()
    yield system
    system.stop()


def test_a_scenario_started_through_the_secured_broker_reaches_the_portal(
    secured_system: System,
) -> None:
    system = secured_system
    office = system.office()
    scenario_id = system.define_scenario(office, "hypotheek", "identiteitsbewijs", "loonstrook")

    # The adviser starts it now; the client's portal shows both tasks.
    response = start_runs(system, office, "dossier-1", product(), scenario_id)
    assert response.status_code == 201, response.text

    def two_open() -> None:
        portal = system.portal(office, "dossier-1")
        assert [p["status"] for p in portal["action_points"]] == ["open", "open"], portal

    eventually(two_open, timeout=60)
    # Each service checked its topics' settings with its own user (DescribeConfigs allowed),
    # and nothing it does was refused.
    for name in SERVICES:
        log = system.log(name)
        assert "topic configuration not checked" not in log, log
        assert "not authorized" not in log and "Kafka refused" not in log, log


async def test_a_service_writing_a_topic_it_does_not_own_is_refused_and_carries_on(
    secured: SecuredKafka, caplog: pytest.LogCaptureFixture
) -> None:
    # The scenario service's producer, with the scenario service's user.
    connection = secured.connection_of("scenario")
    broker = make_broker(connection, idempotence=True)
    await broker.start()
    try:
        publisher = Publisher(broker, principal=connection.principal)
        refusal = pytest.raises(KafkaRefused)
        with caplog.at_level(logging.ERROR, logger="servicekit.kafka"), refusal as refused:
            await publisher.publish_raw(
                topics.DOSSIERCONTROLE, b"{}", key=b"kantoor-1:dossier-1", headers={}
            )
        message = str(refused.value)
        assert topics.DOSSIERCONTROLE in message and "WRITE" in message, message
        assert "User:actiepunten-scenario" in message, message
        assert message in caplog.text

        # The same producer still writes what the scenario service owns (its dead letters
        # here: a record on its events topic would reach the running dossier check).
        await publisher.publish_raw(
            topics.SCENARIO_DLQ, b"{}", key=b"kantoor-1:dossier-1", headers={}
        )
    finally:
        await broker.stop()


async def test_a_record_no_service_can_read_is_dead_lettered_on_each_readers_own_topic(
    secured: SecuredKafka, secured_system: System
) -> None:
    # The platform sends something that is no event on platform.clients.v1.
    key = f"kantoor-{uuid.uuid4().hex[:8]}:dossier-1".encode()
    producer = AIOKafkaProducer(**client_options(secured.admin), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.CLIENTS, b"not an event", key=key)
    finally:
        await producer.stop()

    # The portal and the notification service each write the dead letter to their own DLQ,
    # which their users may write.
    for dlq in (topics.PORTAL_DLQ, topics.NOTIFICATIONS_DLQ):
        letters: list[dict[str, object]] = []
        for _ in range(120):
            async with TopicReader(secured.admin, dlq) as reader:
                records = await reader.to_end()
            letters = [json.loads(r.value) for r in records if r.key == key]
            if letters:
                break
            await asyncio.sleep(0.5)
        assert letters, f"no dead letter on {dlq}"
