"""Stories of the dossier check (dossiercontrole): uploads, copies and both ways to remove an
action point (seed: "Removing an action point"), document-type settings and no double tasks.

Each story runs in its own office against the three services as processes on a real broker.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from devtools import Broker
from shared.events import topics
from tests.support import (
    Office,
    System,
    eventually,
    open_sealed,
    pdf_file,
    product,
    read_events,
    stored_blob,
    types_of,
    unique_events,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


MiB = 1024 * 1024
DEFAULT_LIMIT = 20 * MiB


# --- tiny files with the right magic numbers; a nonce keeps each story's hashes its own ---------


def pdf(nonce: str = "") -> bytes:
    return pdf_file(nonce)


def jpeg(nonce: str = "") -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = b"\xff\xfe" + struct.pack(">H", len(nonce) + 2) + nonce.encode()
    return b"\xff\xd8" + app0 + comment + b"\xff\xd9"


def png(nonce: str = "") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"nonce\x00" + nonce.encode())
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


# --- what the adviser and the client do -----------------------------------------------------------


def start_now(system: System, office: Office, dossier_id: str, *scenario_ids: str) -> None:
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={"dossier_id": dossier_id, "subject": product(), "scenario_ids": list(scenario_ids)},
    )
    assert response.status_code == 201, response.text
    assert {run["status"] for run in response.json()["runs"]} == {"executed"}


def request_document(
    system: System,
    office: Office,
    dossier_id: str,
    document_type: str,
    subject: dict[str, str] | None = None,
    **extra: Any,
) -> str:
    """A manual request (POST /document-requests); returns its request id."""
    response = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={
            "dossier_id": dossier_id,
            "subject": subject or product(),
            "document_type": document_type,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["request_id"]  # type: ignore[no-any-return]


def dossier_check_when(
    system: System, office: Office, dossier_id: str, count: int
) -> dict[str, dict[str, Any]]:
    """The dossier check once it holds ``count`` documents, by document type."""

    def holds() -> dict[str, dict[str, Any]]:
        documents = system.documents(office, dossier_id)
        assert len(documents) == count, documents
        return {d["document_type"]: d for d in documents}

    return eventually(holds, timeout=20)


def upload(
    system: System,
    headers: dict[str, str],
    document_id: str,
    content: bytes,
    filename: str = "stuk.pdf",
    content_type: str = "application/octet-stream",
) -> Any:
    return system.post(
        "dossiercontrole",
        f"/documents/{document_id}/upload",
        headers,
        files={"file": (filename, content, content_type)},
    )


def portal_points(system: System, office: Office, dossier_id: str) -> dict[str, dict[str, Any]]:
    """The client's action points on the portal, by document id."""
    return {p["document_id"]: p for p in system.portal(office, dossier_id)["action_points"]}


def adviser_action_points(system: System, office: Office, dossier_id: str) -> list[dict[str, Any]]:
    """ "Actiepunten voor klant" as the adviser sees them under the dossier."""
    response = system.get(
        "dossiercontrole", f"/dossiers/{dossier_id}/action-points", office.adviser
    )
    assert response.status_code == 200, response.text
    return response.json()["action_points"]  # type: ignore[no-any-return]


def published(
    kafka: Broker, office: Office, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The office's facts on the dossier-check topic, each once, when ``until`` holds."""
    return unique_events(
        read_events(
            kafka.bootstrap_servers,
            topics.DOSSIERCONTROLE,
            office.tenant,
            until=lambda found: until(unique_events(found)),
        )
    )


def of_document(events: list[dict[str, Any]], document_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"].get("document_id") == document_id]


def sentinel_reaches_the_portal(system: System, office: Office, dossier_id: str) -> None:
    """Request one more document and wait until its action point is on the portal.

    One dossier's records share a partition on both topics, so everything asked before the
    sentinel has been processed by then: absence on the portal is now meaningful.
    """
    request_document(system, office, dossier_id, "sentinel", title=f"Sentinel {uuid.uuid4()}")

    def arrived() -> None:
        types = {p["document_type"] for p in system.portal(office, dossier_id)["action_points"]}
        assert "sentinel" in types

    eventually(arrived, timeout=20)


# --- stories --------------------------------------------------------------------------------------


def test_uploads_complete_the_action_points_which_stay_on_the_portal(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    nonce = uuid.uuid4().hex
    # The admin defines a mortgage scenario; the adviser starts it on the mortgage, now.
    scenario_id = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "werkgeversverklaring", "loonstrook"
    )
    start_now(system, office, "dossier-1", scenario_id)
    check = dossier_check_when(system, office, "dossier-1", 3)
    passport = check["identiteitsbewijs"]["document_id"]
    employer = check["werkgeversverklaring"]["document_id"]
    payslip = check["loonstrook"]["document_id"]

    # The client uploads the passport as a PDF: the document is uploaded, its task completed.
    response = upload(system, office.client("dossier-1"), passport, pdf(nonce), "paspoort.pdf")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["status"] == "uploaded"
    assert document["versions"] == 1
    assert document["action_point"]["status"] == "completed"
    assert document["file"]["content_type"] == "application/pdf"
    assert document["file"]["filename"] == "paspoort.pdf"
    assert document["file"]["uploaded_by"] == "client:klant-dossier-1"

    # The portal keeps the task, now completed, and shows the progress.
    def one_of_three_done() -> None:
        portal = system.portal(office, "dossier-1")
        point = {p["document_id"]: p for p in portal["action_points"]}.get(passport, {})
        assert point.get("status") == "completed" and point["completed_at"] is not None, portal
        assert portal["progress"] == {"open": 2, "completed": 1, "percent": 33}

    eventually(one_of_three_done)

    # The adviser uploads the employer's statement as a JPEG and the payslip as a PNG.
    for document_id, content, content_type in (
        (employer, jpeg(nonce), "image/jpeg"),
        (payslip, png(nonce), "image/png"),
    ):
        response = upload(system, office.adviser, document_id, content, "scan")
        assert response.status_code == 200, response.text
        assert response.json()["file"]["content_type"] == content_type

    def all_done() -> None:
        portal = system.portal(office, "dossier-1")
        assert portal["progress"] == {"open": 0, "completed": 3, "percent": 100}
        assert all(p["completed_at"] for p in portal["action_points"])

    eventually(all_done)

    # A second upload of the passport is version 2; its task stays completed.
    response = upload(system, office.client("dossier-1"), passport, png(nonce), "paspoort.png")
    assert response.status_code == 200, response.text
    document = response.json()
    assert (document["versions"], document["file"]["version"]) == (2, 2)
    assert document["file"]["content_type"] == "image/png"
    assert document["action_point"]["status"] == "completed"

    # A client of another dossier, or of another office, does not find the document.
    for stranger in (office.client("dossier-2"), system.office().client("dossier-1")):
        response = upload(system, stranger, passport, pdf(nonce))
        assert response.status_code == 404, response.text
    versions = {d["document_id"]: d["versions"] for d in system.documents(office, "dossier-1")}
    assert versions == {passport: 2, employer: 1, payslip: 1}

    # Platform services saw DocumentUploaded, then ActionPointCompleted, once per document.
    events = published(kafka, office, lambda found: types_of(found).count("DocumentUploaded") >= 4)
    assert types_of(of_document(events, passport)) == [
        "DocumentAdded",
        "ActionPointOpened",
        "DocumentUploaded",
        "ActionPointCompleted",
        "DocumentUploaded",
    ]
    for document_id in (employer, payslip):
        assert types_of(of_document(events, document_id))[2:] == [
            "DocumentUploaded",
            "ActionPointCompleted",
        ]
    uploads = [e["data"] for e in of_document(events, passport) if e["type"] == "DocumentUploaded"]
    assert [u["version"] for u in uploads] == [1, 2]
    assert uploads[0]["file"]["sha256"] == hashlib.sha256(pdf(nonce)).hexdigest()


def test_only_pdf_jpeg_and_png_within_the_size_limit_are_accepted(system: System) -> None:
    office = system.office()
    request_document(system, office, "dossier-1", "bankafschrift")
    [statement] = dossier_check_when(system, office, "dossier-1", 1).values()
    document_id = statement["document_id"]

    # Text, a Windows program, or HTML that calls itself a PDF: the bytes decide, 415.
    for filename, content, declared in (
        ("notitie.txt", b"Beste adviseur, hierbij mijn stukken.", "text/plain"),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "application/pdf"),
        ("afschrift.pdf", b"<html><body>%PDF-</body></html>", "application/pdf"),
    ):
        response = upload(
            system, office.client("dossier-1"), document_id, content, filename, declared
        )
        assert response.status_code == 415, (filename, response.text)

    # An empty file is refused; so is a file one byte over the limit (default 20 MiB).
    assert upload(system, office.adviser, document_id, b"").status_code == 422
    too_big = pdf() + b"\0" * (DEFAULT_LIMIT + 1 - len(pdf()))
    response = upload(system, office.adviser, document_id, too_big)
    assert response.status_code == 413, response.text

    # Nothing of that reached the dossier check: the document is still requested, its task open.
    [statement] = system.documents(office, "dossier-1")
    assert statement["status"] == "requested"
    assert (statement["versions"], statement["file"]) == (0, None)
    assert statement["action_point"]["status"] == "open"

    # A file of exactly the limit is accepted.
    at_limit = pdf_file(size=DEFAULT_LIMIT)
    response = upload(system, office.adviser, document_id, at_limit)
    assert response.status_code == 200, response.text
    assert response.json()["file"]["size"] == DEFAULT_LIMIT


def test_an_upload_announced_as_too_large_is_refused_before_it_is_read(system: System) -> None:
    """A client that announces 10 GiB gets 413 at once: the service neither waits for nor
    spools the bytes, with or without a valid token."""
    office = system.office()
    document_id = str(uuid.uuid4())
    for headers in (office.client("dossier-1"), {}):
        with socket.create_connection(("127.0.0.1", system.ports["dossiercontrole"])) as sock:
            sock.settimeout(5)
            head = [
                f"POST /documents/{document_id}/upload HTTP/1.1",
                f"Host: 127.0.0.1:{system.ports['dossiercontrole']}",
                "Content-Type: multipart/form-data; boundary=grens",
                f"Content-Length: {10 * 1024 * MiB}",
                *(f"{name}: {value}" for name, value in headers.items()),
                "",
                "",
            ]
            sock.sendall("\r\n".join(head).encode() + b"--grens\r\n")
            status_line = sock.recv(4096).split(b"\r\n", 1)[0]
        assert status_line.split(b" ")[1] == b"413", status_line


def test_the_filename_is_only_metadata_and_files_are_stored_by_content(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    nonce = uuid.uuid4().hex
    request_document(system, office, "dossier-1", "identiteitsbewijs")
    request_document(system, office, "dossier-1", "loonstrook")
    check = dossier_check_when(system, office, "dossier-1", 2)
    passport = check["identiteitsbewijs"]["document_id"]
    payslip = check["loonstrook"]["document_id"]
    content = pdf(nonce)
    digest = hashlib.sha256(content).hexdigest()

    # A filename that tries to climb out of the store is kept as a name, never used as a path.
    response = upload(system, office.client("dossier-1"), passport, content, "../../etc/passwd")
    assert response.status_code == 200, response.text
    assert response.json()["file"]["filename"] == "passwd"
    assert response.json()["file"]["sha256"] == digest
    response = upload(system, office.adviser, payslip, content, "C:\\Users\\klant\\loon.pdf")
    assert response.status_code == 200, response.text
    assert response.json()["file"]["filename"] == "loon.pdf"

    # The operator finds the bytes once, under their hash; nothing under the client's name.
    assert stored_blob(system, digest) == content
    assert not [p for p in system.data_dir.rglob("*") if p.name in {"passwd", "loon.pdf"}]

    # The events carry the file's metadata, not its bytes; the filename sealed (it is personal).
    events = published(kafka, office, lambda found: types_of(found).count("DocumentUploaded") >= 2)
    files = [e["data"]["file"] for e in events if e["type"] == "DocumentUploaded"]
    for file in files:
        file["filename"] = open_sealed(system, office, "dossier-1", file["filename"])
    assert files == [
        {"sha256": digest, "size": len(content), "content_type": "application/pdf", "filename": n}
        for n in ("passwd", "loon.pdf")
    ]


def test_adviser_copies_an_uploaded_document_of_the_same_dossier(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    nonce = uuid.uuid4().hex
    for document_type in (
        "identiteitsbewijs",
        "kopie_identiteitsbewijs",
        "werkgeversverklaring",
        "loonstrook",
    ):
        request_document(system, office, "dossier-1", document_type)
    request_document(system, office, "dossier-2", "identiteitsbewijs")
    check = dossier_check_when(system, office, "dossier-1", 4)
    passport = check["identiteitsbewijs"]["document_id"]
    copy_target = check["kopie_identiteitsbewijs"]["document_id"]
    employer = check["werkgeversverklaring"]["document_id"]
    payslip = check["loonstrook"]["document_id"]
    [other_dossier] = dossier_check_when(system, office, "dossier-2", 1).values()
    assert upload(system, office.adviser, passport, pdf(nonce)).status_code == 200
    assert (
        upload(system, office.adviser, other_dossier["document_id"], png(nonce)).status_code == 200
    )

    def copy(target: str, source: str, headers: dict[str, str] | None = None) -> Any:
        return system.post(
            "dossiercontrole",
            f"/documents/{target}/copy",
            headers or office.adviser,
            json={"source_document_id": source},
        )

    # The copy icon: the passport's file is used for the copy request; its task completes.
    response = copy(copy_target, passport)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["status"] == "uploaded"
    assert document["action_point"]["status"] == "completed"
    assert document["file"]["sha256"] == hashlib.sha256(pdf(nonce)).hexdigest()
    assert document["file"]["copied_from"] == passport

    # Copying from a document without a file, from another dossier's document or from one that
    # does not exist is refused (422); a copy to a document the caller cannot see is 404.
    response = copy(employer, payslip)
    assert response.status_code == 422, response.text
    assert copy(employer, other_dossier["document_id"]).status_code == 422
    assert copy(employer, str(uuid.uuid4())).status_code == 422
    assert copy(str(uuid.uuid4()), passport).status_code == 404
    assert copy(employer, passport, system.office().adviser).status_code == 404
    [employer_now] = [
        d for d in system.documents(office, "dossier-1") if d["document_id"] == employer
    ]
    assert employer_now["status"] == "requested"

    # The portal shows the copied task as completed; platform services saw both facts.
    def copy_completed_on_the_portal() -> None:
        point = portal_points(system, office, "dossier-1").get(copy_target, {})
        assert point.get("status") == "completed", point

    eventually(copy_completed_on_the_portal)
    events = published(
        kafka,
        office,
        lambda found: "ActionPointCompleted" in types_of(of_document(found, copy_target)),
    )
    copied = of_document(events, copy_target)
    assert types_of(copied)[2:] == ["DocumentUploaded", "ActionPointCompleted"]
    assert copied[2]["data"]["copied_from"] == passport


def foreign_task_on_the_topic(kafka: Broker, office: Office, document_id: str) -> bool:
    """Whether an ActionPointOpened for ``document_id`` is on the dossier-check topic although
    our dossier check holds the document without an action point: another deployment's fact."""
    try:
        read_events(
            kafka.bootstrap_servers,
            topics.DOSSIERCONTROLE,
            office.tenant,
            until=lambda found: any(
                e["type"] == "ActionPointOpened" and e["data"]["document_id"] == document_id
                for e in found
            ),
            timeout=5,
        )
    except AssertionError:
        return False
    return True


def _assert_equal(actual: object, expected: object) -> None:
    assert actual == expected, actual


def test_deleting_a_document_without_upload_removes_it_and_its_action_point(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    request_document(system, office, "dossier-1", "finale_kwijting")
    request_document(system, office, "dossier-1", "identiteitsbewijs")
    check = dossier_check_when(system, office, "dossier-1", 2)
    discharge = check["finale_kwijting"]
    passport = check["identiteitsbewijs"]["document_id"]
    eventually(lambda: _assert_equal(len(portal_points(system, office, "dossier-1")), 2))
    # The dossier check says what a document allows: a requested one, an upload or the cross.
    assert discharge["actions"] == ["upload", "remove"]

    # The cross next to "Finale kwijting" in the dossier check: 204.
    response = system.delete(
        "dossiercontrole", f"/documents/{discharge['document_id']}", office.adviser
    )
    assert response.status_code == 204, response.text

    # It is gone from the dossier check, from the adviser's action points and from the portal.
    assert [d["document_type"] for d in system.documents(office, "dossier-1")] == [
        "identiteitsbewijs"
    ]
    assert [p["document_type"] for p in adviser_action_points(system, office, "dossier-1")] == [
        "identiteitsbewijs"
    ]
    eventually(lambda: _assert_equal(list(portal_points(system, office, "dossier-1")), [passport]))
    again = system.delete(
        "dossiercontrole", f"/documents/{discharge['document_id']}", office.adviser
    )
    assert again.status_code == 404
    # An upload for the removed document finds nothing, and its bytes are not kept.
    late = pdf(uuid.uuid4().hex)
    response = upload(system, office.client("dossier-1"), discharge["document_id"], late)
    assert response.status_code == 404, response.text
    digest = hashlib.sha256(late).hexdigest()
    assert stored_blob(system, digest) is None

    # Once a file is uploaded, the document can no longer be deleted: 409, and it stays.
    assert upload(system, office.client("dossier-1"), passport, pdf()).status_code == 200
    response = system.delete("dossiercontrole", f"/documents/{passport}", office.adviser)
    assert response.status_code == 409, response.text
    [kept] = system.documents(office, "dossier-1")
    assert (kept["status"], kept["action_point"]["status"]) == ("uploaded", "completed")
    # Another version, or the adviser's review; no cross.
    assert kept["actions"] == ["upload", "approve", "reject"]

    # Platform services saw DocumentRemoved, then ActionPointRemoved for that reason.
    events = published(kafka, office, lambda found: "ActionPointRemoved" in types_of(found))
    removal = of_document(events, discharge["document_id"])
    assert types_of(removal) == [
        "DocumentAdded",
        "ActionPointOpened",
        "DocumentRemoved",
        "ActionPointRemoved",
    ]
    assert removal[3]["data"]["reason"] == "document_removed"
    assert removal[3]["data"]["action_point_id"] == discharge["action_point"]["action_point_id"]
    assert "DocumentRemoved" not in types_of(of_document(events, passport))


def test_removing_only_the_action_point_keeps_the_document_in_the_dossier_check(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    request_document(system, office, "dossier-1", "identiteitsbewijs")
    request_document(system, office, "dossier-1", "finale_kwijting")
    check = dossier_check_when(system, office, "dossier-1", 2)
    passport = check["identiteitsbewijs"]
    point_id = passport["action_point"]["action_point_id"]
    eventually(lambda: _assert_equal(len(portal_points(system, office, "dossier-1")), 2))

    # The adviser already has the ID: the cross under "Actiepunten voor klant", 204.
    response = system.delete("dossiercontrole", f"/action-points/{point_id}", office.adviser)
    assert response.status_code == 204, response.text

    # The document stays in the dossier check, requested, without an action point ...
    by_id = {d["document_id"]: d for d in system.documents(office, "dossier-1")}
    assert by_id[passport["document_id"]]["status"] == "requested"
    assert by_id[passport["document_id"]]["action_point"] is None
    # ... and the task is gone from the adviser's list and from the portal.
    assert [p["document_type"] for p in adviser_action_points(system, office, "dossier-1")] == [
        "finale_kwijting"
    ]

    def gone_from_portal() -> None:
        portal = system.portal(office, "dossier-1")
        assert [p["document_type"] for p in portal["action_points"]] == ["finale_kwijting"]
        assert portal["progress"] == {"open": 1, "completed": 0, "percent": 0}

    eventually(gone_from_portal)
    again = system.delete("dossiercontrole", f"/action-points/{point_id}", office.adviser)
    assert again.status_code == 404

    # Uploading the document later completes nothing; deleting the document then removes only
    # the document (its task is already gone).
    response = upload(system, office.adviser, passport["document_id"], pdf())
    assert response.status_code == 200, response.text
    assert response.json()["action_point"] is None
    discharge = check["finale_kwijting"]
    discharge_point = discharge["action_point"]["action_point_id"]
    assert (
        system.delete("dossiercontrole", f"/action-points/{discharge_point}", office.adviser)
    ).status_code == 204
    response = system.delete(
        "dossiercontrole", f"/documents/{discharge['document_id']}", office.adviser
    )
    assert response.status_code == 204, response.text

    events = published(
        kafka,
        office,
        lambda found: (
            "DocumentRemoved" in types_of(found) and "DocumentUploaded" in types_of(found)
        ),
    )
    assert types_of(of_document(events, passport["document_id"])) == [
        "DocumentAdded",
        "ActionPointOpened",
        "ActionPointRemoved",
        "DocumentUploaded",
    ]
    [removed] = [
        e
        for e in events
        if e["type"] == "ActionPointRemoved" and e["data"]["action_point_id"] == point_id
    ]
    assert removed["data"]["reason"] == "removed_by_adviser"
    assert types_of(of_document(events, discharge["document_id"])) == [
        "DocumentAdded",
        "ActionPointOpened",
        "ActionPointRemoved",
        "DocumentRemoved",
    ]
    eventually(lambda: _assert_equal(system.portal(office, "dossier-1")["action_points"], []))


def test_admin_decides_which_document_types_create_an_action_point(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    # The admin configures that "Finale kwijting" never creates an action point by default.
    response = system.put(
        "dossiercontrole",
        "/document-types/finale_kwijting",
        office.admin,
        json={"name": "Finale kwijting", "creates_action_point": False},
    )
    assert response.status_code == 200, response.text
    # The document cycle's settings (SPEC section 6) take their defaults when not given.
    configured = {
        "code": "finale_kwijting",
        "name": "Finale kwijting",
        "creates_action_point": False,
        "valid_for": None,
        "rerequest_on_expiry": False,
        "due_in": None,
    }
    assert response.json() == configured
    response = system.get("dossiercontrole", "/document-types", office.adviser)
    assert response.json()["document_types"] == [configured]

    # A request for it adds the document, named as configured, without a task for the client.
    request_document(system, office, "dossier-1", "finale_kwijting")
    # An explicit "action_point" on a manual request wins, both ways.
    request_document(
        system, office, "dossier-1", "finale_kwijting", product("hyp-2"), action_point=True
    )
    request_document(system, office, "dossier-1", "taxatierapport", action_point=False)
    sentinel_reaches_the_portal(system, office, "dossier-1")

    documents = system.documents(office, "dossier-1")
    rows = {
        (d["document_type"], d["subject"]["id"]): d
        for d in documents
        if d["document_type"] != "sentinel"
    }
    assert rows[("finale_kwijting", "hyp-1")]["title"] == "Finale kwijting"
    assert rows[("finale_kwijting", "hyp-1")]["action_point"] is None
    assert rows[("finale_kwijting", "hyp-2")]["action_point"]["status"] == "open"
    assert rows[("taxatierapport", "hyp-1")]["action_point"] is None
    on_portal = {
        (p["document_type"], p["subject"]["id"])
        for p in system.portal(office, "dossier-1")["action_points"]
    }
    unconfigured = ("finale_kwijting", "hyp-1")
    if unconfigured in on_portal and foreign_task_on_the_topic(
        kafka, office, rows[unconfigured]["document_id"]
    ):
        # A shared broker: another dossier-check deployment (its own store, without our admin's
        # setting) took our request too and opened a task on the common topic. Not ours to judge.
        print("another dossier-check service on this broker opened a task for finale_kwijting")
        on_portal.discard(unconfigured)
    assert on_portal == {("finale_kwijting", "hyp-2"), ("sentinel", "hyp-1")}

    # Another office's settings are its own.
    other = system.office()
    listed = system.get("dossiercontrole", "/document-types", other.admin).json()
    assert listed["document_types"] == []
    events = published(kafka, office, lambda found: "DocumentTypeConfigured" in types_of(found))
    [configured] = [e for e in events if e["type"] == "DocumentTypeConfigured"]
    # (SPEC section 6 added optional settings, published with their defaults.)
    assert configured["data"] == {
        "code": "finale_kwijting",
        "name": "Finale kwijting",
        "creates_action_point": False,
        "rerequest_on_expiry": False,
    }


def test_two_scenarios_asking_for_the_same_document_give_the_client_one_task(
    system: System,
) -> None:
    office = system.office()
    divorced = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "echtscheidingsconvenant", name="Gescheiden"
    )
    self_employed = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "jaarcijfers", name="Zelfstandige"
    )

    # Both scenarios are started on the same mortgage: the ID is asked for once.
    start_now(system, office, "dossier-1", divorced, self_employed)
    sentinel_reaches_the_portal(system, office, "dossier-1")
    documents = [
        d for d in system.documents(office, "dossier-1") if d["document_type"] != "sentinel"
    ]
    assert sorted(d["document_type"] for d in documents) == [
        "echtscheidingsconvenant",
        "identiteitsbewijs",
        "jaarcijfers",
    ]
    portal = system.portal(office, "dossier-1")
    assert [p["document_type"] for p in portal["action_points"]].count("identiteitsbewijs") == 1

    # On another subject (a second mortgage) the ID is a task of its own.
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={
            "dossier_id": "dossier-1",
            "subject": product("hyp-2"),
            "scenario_ids": [divorced],
        },
    )
    assert response.status_code == 201, response.text

    def second_id_task() -> None:
        points = system.portal(office, "dossier-1")["action_points"]
        ids = sorted(
            p["subject"]["id"] for p in points if p["document_type"] == "identiteitsbewijs"
        )
        assert ids == ["hyp-1", "hyp-2"]

    eventually(second_id_task)
    assert [
        d["subject"]["id"]
        for d in system.documents(office, "dossier-1")
        if d["document_type"] == "identiteitsbewijs"
    ] == ["hyp-1", "hyp-2"]


def test_a_later_request_that_asks_for_a_task_gives_the_client_that_task(system: System) -> None:
    office = system.office()
    # The adviser asks for the final discharge, without a task for the client.
    request_document(system, office, "dossier-1", "finale_kwijting", action_point=False)
    sentinel_reaches_the_portal(system, office, "dossier-1")
    [discharge] = [
        d for d in system.documents(office, "dossier-1") if d["document_type"] == "finale_kwijting"
    ]
    assert discharge["action_point"] is None

    # Later a request for the same document asks for a task: the client gets it, on the one
    # document that is requested already.
    request_document(system, office, "dossier-1", "finale_kwijting", action_point=True)

    def task_on_the_portal() -> dict[str, Any]:
        points = portal_points(system, office, "dossier-1")
        assert discharge["document_id"] in points, points
        return points[discharge["document_id"]]

    task = eventually(task_on_the_portal, timeout=30)
    assert (task["document_type"], task["status"]) == ("finale_kwijting", "open")
    [still_one] = [
        d for d in system.documents(office, "dossier-1") if d["document_type"] == "finale_kwijting"
    ]
    assert still_one["document_id"] == discharge["document_id"]
    assert still_one["action_point"] == {
        "action_point_id": task["action_point_id"],
        "status": "open",
    }

    # The client uploads the discharge: the task is completed.
    response = upload(
        system, office.client("dossier-1"), discharge["document_id"], pdf(str(uuid.uuid4()))
    )
    assert response.status_code == 200, response.text

    def completed() -> None:
        point = portal_points(system, office, "dossier-1")[discharge["document_id"]]
        assert point["status"] == "completed"

    eventually(completed, timeout=30)
