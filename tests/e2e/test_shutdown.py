"""Stopping a service with SIGTERM, as Kubernetes does on a rolling update or a node drain: it
tells the load balancer it is not ready, finishes what it holds (a client's upload half-way
through), leaves its consumer group, and exits 0 within its grace period; nothing sent while it
went down is lost, and nothing arrives twice."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devtools import Broker
from tests.support import (
    ROOT,
    Office,
    System,
    eventually,
    free_port,
    pdf_file,
    product,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

GRACE_SECONDS = 20
DRAIN_SECONDS = 5


@pytest.fixture(scope="module")
def system(
    kafka: Broker, own_store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """A system of its own (its services are stopped and started), with the grace period and
    the drain delay a Kubernetes deployment sets."""
    sut = System(
        kafka.bootstrap_servers,
        tmp_path_factory.mktemp("shutdown"),
        idempotence=kafka.supports_idempotence,
        extra_env={
            **own_store_env,
            "ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
            "ACTIEPUNTEN_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        },
    )
    sut.start()
    try:
        wait_until_caught_up(sut)
        yield sut
    finally:
        sut.stop()


def sigterm(system: System, name: str) -> subprocess.Popen[bytes]:
    process = system.processes.pop(name)
    process.send_signal(signal.SIGTERM)
    return process


def exit_code(process: subprocess.Popen[bytes]) -> int:
    """The exit code, waiting at most the grace period and a margin for the interpreter."""
    return process.wait(timeout=GRACE_SECONDS + 15)


def request_document(system: System, office: Office, dossier_id: str, document_type: str) -> None:
    response = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={"dossier_id": dossier_id, "subject": product(), "document_type": document_type},
    )
    assert response.status_code == 201, response.text


def multipart(content: bytes, filename: str) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


def test_an_upload_under_way_at_sigterm_finishes_while_readyz_turns_new_traffic_away(
    system: System,
) -> None:
    office = system.office()
    request_document(system, office, "dossier-1", "loonstrook")

    def requested() -> str:
        documents = system.documents(office, "dossier-1")
        assert len(documents) == 1, documents
        return str(documents[0]["document_id"])

    document_id = eventually(requested, timeout=30)

    # The client's upload is half-way through its body when the pod is told to stop.
    content = pdf_file(size=200_000, fill=b"x")
    content_type, body = multipart(content, "loonstrook.pdf")
    headers = (
        f"POST /documents/{document_id}/upload HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {office.token('client', dossiers=['dossier-1'])}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    port = system.ports["dossiercontrole"]
    with socket.create_connection(("127.0.0.1", port), timeout=GRACE_SECONDS + 15) as upload:
        upload.sendall(headers + body[: len(body) // 2])
        process = sigterm(system, "dossiercontrole")

        # The load balancer's probe hears at once that this replica takes no new work.
        def not_ready() -> dict[str, object]:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            except httpx.HTTPError as error:
                raise AssertionError(f"/readyz did not answer: {error}") from None
            assert response.status_code == 503, response.text
            return response.json()  # type: ignore[no-any-return]

        answer = eventually(not_ready, timeout=DRAIN_SECONDS)
        assert answer["status"] == "not ready"
        assert answer["problems"] == {"shutdown": "shutting down"}

        # The rest of the file arrives, and the upload is stored.
        upload.sendall(body[len(body) // 2 :])
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = upload.recv(65536)
            assert chunk, reply
            reply += chunk
        assert reply.split(b"\r\n", 1)[0] == b"HTTP/1.1 200 OK", reply[:500]

    # It leaves within its grace period, and says all went well.
    assert exit_code(process) == 0, system.log("dossiercontrole")

    system.start("dossiercontrole")
    [document] = system.documents(office, "dossier-1")
    assert document["status"] == "uploaded"
    assert document["file"]["size"] == len(content)

    def completed_on_the_portal() -> None:
        points = system.portal(office, "dossier-1")["action_points"]
        assert [point["status"] for point in points] == ["completed"], points

    eventually(completed_on_the_portal, timeout=60, interval=0.2)


def test_a_sigterm_during_load_loses_nothing_and_doubles_nothing(system: System) -> None:
    office = system.office()
    dossiers = [f"dossier-{n}" for n in range(6)]
    document_types = [f"stuk_{n}" for n in range(8)]
    wanted = [(d, t) for t in document_types for d in dossiers]
    sent: list[tuple[str, str]] = []
    halfway = threading.Event()

    def adviser_at_work() -> None:
        # The scenario service keeps taking requests while the others restart.
        for number, (dossier_id, document_type) in enumerate(wanted):
            request_document(system, office, dossier_id, document_type)
            sent.append((dossier_id, document_type))
            if number == len(wanted) // 3:
                halfway.set()

    adviser = threading.Thread(target=adviser_at_work)
    adviser.start()
    try:
        assert halfway.wait(timeout=60)
        stopping = [sigterm(system, name) for name in ("dossiercontrole", "portal")]
        assert [exit_code(process) for process in stopping] == [0, 0]
        system.start("dossiercontrole", "portal")
    finally:
        adviser.join(timeout=120)
    assert sent == wanted

    def every_request_on_the_portal_once() -> None:
        for dossier_id in dossiers:
            points = system.portal(office, dossier_id)["action_points"]
            types = sorted(point["document_type"] for point in points)
            assert types == sorted(document_types), (dossier_id, types)

    eventually(every_request_on_the_portal_once, timeout=120, interval=0.5)


def test_a_service_stopped_while_it_waits_for_kafka_exits_within_its_grace_period(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # The broker it is given does not answer: the service waits for it at start-up, as a pod
    # does while Kafka is still coming up, and is told to stop meanwhile.
    nobody = f"127.0.0.1:{free_port()}"
    sut = System(nobody, tmp_path_factory.mktemp("no-kafka"))
    log = (sut.data_dir / "dossiercontrole.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "actiepunten", "serve", "dossiercontrole"],
        env=sut.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    try:

        def waiting_for_kafka() -> None:
            assert process.poll() is None, sut.log("dossiercontrole")
            assert "Kafka not reachable yet" in sut.log("dossiercontrole")

        eventually(waiting_for_kafka, timeout=60)
        process.send_signal(signal.SIGTERM)
        # uvicorn's code for a start that did not complete: the pod is restarted, not stuck.
        assert exit_code(process) == 3, sut.log("dossiercontrole")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
