"""Session fixtures: one real Kafka broker for the run, systems of services started per module."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import Broker, create_topics, provide_broker
from devtools.mail import Mailpit, SmtpSink, start_mailpit
from devtools.postgres import PostgresServer, start_throwaway
from devtools.postgres import available as postgres_available
from tests.support import System

_BROKERS: list[Broker] = []

# `make test` runs on two workers (`--dist loadgroup`): each group is a module on one store (a
# module without stores is one group; a unit test is a group of its own), sent to whichever
# worker is free. The groups go out in the order below: the slowest first within each block, so
# that the run does not end with one worker in a long module while the other waits; unit tests
# last, to fill that end. Each worker starts each store's system once: the blocks keep a store's
# groups together (a session fixture with params is set up again at every change of param).
SLOW_GROUPS = (  # slowest first, from `pytest --durations` of a whole run (setup and call)
    "test_store_outage",
    "test_probes",
    "test_due_date_scheduler",
    "test_mail_and_signin",
    "test_shutdown",
    "test_checking_deliveries",
    "test_households",
    "test_batch_crash",
    "test_poison",
    "test_staff_signin",
    "test_deliveries_and_claims",
    "test_broker",
    "test_api_fuzz",
    "test_happy_path",
    "test_offices_apart",
    "test_fresh_database",
    "test_dossier_lifetime",
    "test_secured_kafka",
    "test_notifications",
    "test_operations",
)
STORE_BLOCKS = {None: 0, "sqlite": 1, "postgres": 2}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("dist", "no") != "loadgroup":
        return
    order: dict[int, tuple[int, int, int]] = {}
    for index, item in enumerate(items):
        module = Path(str(item.path)).stem
        callspec = getattr(item, "callspec", None)
        store = callspec.params.get("store_env") if callspec is not None else None
        unit = "tests/unit/" in item.nodeid
        if not unit:
            name = item.nodeid.split("::")[0] + (f"[{store}]" if store else "")
            item.add_marker(pytest.mark.xdist_group(name))
        slow = SLOW_GROUPS.index(module) if module in SLOW_GROUPS else len(SLOW_GROUPS)
        block = 3 if unit else STORE_BLOCKS.get(store, 0)
        order[id(item)] = (block, slow, index)
    items.sort(key=lambda item: order[id(item)])


def pytest_report_header() -> str:
    wanted = os.environ.get("ACTIEPUNTEN_KAFKA") or "auto (SPEC section 5 order)"
    return f"actiepunten: Kafka broker for integration tests: {wanted}"


_RAN_ON: list[str] = []  # what each broker was, from this process and from xdist's workers


def pytest_sessionfinish(session: pytest.Session) -> None:
    ran_on = [f"'{broker.kind}' at {broker.bootstrap_servers}" for broker in _BROKERS]
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints the summary
        workeroutput["actiepunten_brokers"] = ran_on
    else:
        _RAN_ON.extend(ran_on)


def pytest_testnodedown(node: object, error: object) -> None:
    _RAN_ON.extend(getattr(node, "workeroutput", {}).get("actiepunten_brokers", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for broker in _RAN_ON:
        terminalreporter.write_line(f"actiepunten: integration tests ran on Kafka broker {broker}")


def _provide(tmp: Path, prefer: str | None) -> Broker:
    broker = provide_broker(tmp, prefer=prefer, port=None)
    asyncio.run(create_topics(broker.bootstrap_servers))
    _BROKERS.append(broker)
    return broker


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The broker the suite runs on: SPEC section 5 order, or ``ACTIEPUNTEN_KAFKA``."""
    broker = _provide(tmp_path_factory.mktemp("kafka"), os.environ.get("ACTIEPUNTEN_KAFKA"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The embedded Tansu broker, for the smoke test that keeps `make run`'s default working."""
    broker = _provide(tmp_path_factory.mktemp("tansu"), "tansu")
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server from the local binaries (.ci/run installs them)."""
    if not postgres_available():
        pytest.skip("no PostgreSQL binaries on this machine (apt-get install postgresql)")
    server = start_throwaway()
    yield server
    server.remove()


def store_params() -> list[str]:
    """The stores the service and end-to-end tests run on: both, unless narrowed."""
    return os.environ.get("ACTIEPUNTEN_TEST_STORES", "sqlite,postgres").split(",")


@pytest.fixture(scope="session", params=store_params())
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that puts a system's stores on SQLite files or on a fresh PostgreSQL
    database of the session's server."""
    if request.param == "sqlite":
        return {"ACTIEPUNTEN_PERSISTENCE": "sqlite"}
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"system_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def own_store_env(store_env: dict[str, str], request: pytest.FixtureRequest) -> dict[str, str]:
    """For tests that start a system of their own: the kind of store ``store_env`` names, but
    their own (a fresh PostgreSQL database; SQLite files are in the system's data dir anyway).

    Beside the session's system on one database, both systems would consume every record into
    the same tracking rows: whichever came first stored it, and the other one skipped it.
    """
    if store_env.get("ACTIEPUNTEN_PERSISTENCE") != "postgres":
        return store_env
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"own_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def mail_server() -> Iterator[Mailpit | SmtpSink]:
    """The SMTP server the systems' notification services mail to: Mailpit (built into
    ``.cache/`` by `make test`), or an in-process aiosmtpd server where Go cannot build it."""
    mailpit = start_mailpit()
    server: Mailpit | SmtpSink = mailpit if mailpit is not None else SmtpSink().start()
    yield server
    server.stop()


def smtp_env(server: Mailpit | SmtpSink) -> dict[str, str]:
    return {"ACTIEPUNTEN_SMTP_HOST": "127.0.0.1", "ACTIEPUNTEN_SMTP_PORT": str(server.smtp_port)}


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    """The offices' OpenID Connect provider (``tests/oidc.py``): its issuer URL."""
    from tests.oidc import provider

    with provider() as issuer:
        yield issuer


OIDC_CLIENT_ID = "actiepunten-portal"


def oidc_env(issuer: str, data_dir: Path) -> dict[str, str]:
    """Settings that make ``issuer`` the office's provider, the portal its client."""
    secret_file = data_dir / "oidc-client-secret"
    secret_file.write_text("the-portals-client-secret\n")
    return {
        "ACTIEPUNTEN_OIDC_ISSUER": issuer,
        "ACTIEPUNTEN_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
        "ACTIEPUNTEN_OIDC_CLIENT_SECRET_FILE": str(secret_file),
    }


@pytest.fixture(scope="session")
def system(
    kafka: Broker,
    store_env: dict[str, str],
    mail_server: Mailpit | SmtpSink,
    oidc_issuer: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[System]:
    """The three services as processes, one system per store for the whole run: a fresh
    system reads every topic from its beginning, so starting fewer of them keeps the run short.
    Tests isolate themselves by office (tenant); a test that needs a system of its own (other
    settings, restarts of its own) makes one."""
    data_dir = tmp_path_factory.mktemp("system")
    sut = System(
        kafka.bootstrap_servers,
        data_dir,
        idempotence=kafka.supports_idempotence,
        # Every finished span as a JSON line, for the trace stories (tests/e2e/test_tracing.py).
        extra_env={
            **store_env,
            **smtp_env(mail_server),
            **oidc_env(oidc_issuer, data_dir),
            "ACTIEPUNTEN_TRACE_FILE": str(data_dir / "spans.jsonl"),
        },
    )
    sut.start()
    yield sut
    sut.stop()
