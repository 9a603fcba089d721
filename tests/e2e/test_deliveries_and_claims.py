"""Stories of real needs lists (SPEC section 9, items 4 and 5): an ID card delivered as three
files in one version and sent on as one PDF; a client who has no divorce papers says so, and
the adviser waives the document or refuses the claim.

Each story runs in its own office against the services as processes on a real broker, on both
stores.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from tests.e2e.test_delivered_files import a_dossier, download, versions
from tests.e2e.test_document_cycle import review
from tests.support import Office, System, eventually, pdf_file, wait_until_caught_up

pytestmark = pytest.mark.e2e

DOSSIER = "dossier-1"


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    wait_until_caught_up(system)


def image(kind: str, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), colour).save(out, kind)
    return out.getvalue()


def upload_many(
    system: System,
    headers: dict[str, str],
    document_id: str,
    files: list[tuple[str, bytes, str]],
    **params: Any,
) -> Any:
    return system.post(
        "dossiercontrole",
        f"/documents/{document_id}/upload",
        headers,
        files=[("file", file) for file in files],
        params=params,
    )


def point_of(system: System, office: Office, document_id: str) -> dict[str, Any]:
    [point] = [
        p
        for p in system.portal(office, DOSSIER)["action_points"]
        if p["document_id"] == document_id
    ]
    return point


def portal_when(system: System, office: Office, check: Any) -> dict[str, Any]:
    def holds() -> dict[str, Any]:
        portal = system.portal(office, DOSSIER)
        assert check(portal), portal
        return portal

    return eventually(holds, timeout=30)


def test_a_client_delivers_both_sides_of_an_id_and_a_pdf_as_one_version_sent_on_as_one_pdf(
    system: System,
) -> None:
    office = system.office()
    [passport] = a_dossier(system, office, "identiteitsbewijs")
    client = office.client(DOSSIER)
    front, back = image("JPEG", (200, 30, 30)), image("PNG", (30, 30, 200))
    statement = pdf_file(uuid.uuid4().hex)

    # The client sends the front, the back and a PDF at once: one version of three files.
    answer = upload_many(
        system,
        client,
        passport,
        [
            ("voorkant.jpg", front, "image/jpeg"),
            ("achterkant.png", back, "image/png"),
            ("verklaring.pdf", statement, "application/pdf"),
        ],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "uploaded" and answer.json()["versions"] == 1
    # It completes the client's action point, as any upload does.
    portal_when(
        system, office, lambda p: p["progress"] == {"open": 0, "completed": 1, "percent": 100}
    )

    [version] = versions(system, client, passport).json()["versions"]
    assert [f["filename"] for f in version["files"]] == [
        "voorkant.jpg",
        "achterkant.png",
        "verklaring.pdf",
    ]
    assert [f["sha256"] for f in version["files"]] == [
        hashlib.sha256(content).hexdigest() for content in (front, back, statement)
    ]
    # The old fields still describe the version's first file.
    assert (version["filename"], version["content_type"]) == ("voorkant.jpg", "image/jpeg")

    # Each part comes back as it was sent, with the headers of any file.
    part = download(system, office.adviser, passport, version=1, part=2, inline=1)
    assert part.status_code == 200 and part.content == back
    assert part.headers["content-type"] == "image/png"
    assert part.headers["content-disposition"].startswith("inline")
    assert part.headers["etag"] == f'"{hashlib.sha256(back).hexdigest()}"'
    assert download(system, client, passport, version=1, part=4).status_code == 404
    assert download(system, client, passport, part=0).status_code == 422

    # The version as one PDF for the lender: three pages, the images as pages of their own.
    merged = download(system, office.adviser, passport, version=1, merged=1)
    assert merged.status_code == 200, merged.text
    assert merged.headers["content-type"] == "application/pdf"
    assert merged.headers["content-security-policy"] == "sandbox"
    assert merged.headers["cache-control"] == "private, no-store"
    assert merged.headers["etag"] == f'"{hashlib.sha256(merged.content).hexdigest()}"'
    assert merged.headers["content-length"] == str(len(merged.content))
    assert "identiteitsbewijs-versie-1.pdf" in merged.headers["content-disposition"]
    assert len(PdfReader(io.BytesIO(merged.content)).pages) == 3
    both = download(system, office.adviser, passport, merged=1, part=1)
    assert both.status_code == 422, both.text

    # A forgotten page is added to the version while it is not reviewed ...
    extra = image("PNG", (30, 200, 30))
    appended = upload_many(
        system, client, passport, [("bladzijde.png", extra, "image/png")], append="true"
    )
    assert appended.status_code == 200, appended.text
    assert appended.json()["versions"] == 1
    [version] = versions(system, client, passport).json()["versions"]
    assert len(version["files"]) == 4
    merged = download(system, client, passport, merged=1)
    assert len(PdfReader(io.BytesIO(merged.content)).pages) == 4

    # ... and no more once the adviser approved it.
    assert review(system, office.adviser, passport, "approve").status_code == 200
    late = upload_many(
        system, office.adviser, passport, [("laat.png", extra, "image/png")], append="true"
    )
    assert late.status_code == 409, late.text
    assert "upload a new version" in late.json()["detail"]

    # Every download shows in the dossier's history, parts and merged ones alike.
    assert download(system, office.adviser, passport, version=1, part=3).content == statement


def test_a_password_protected_or_unreadable_pdf_is_refused_at_upload(system: System) -> None:
    office = system.office()
    [passport] = a_dossier(system, office, "identiteitsbewijs")
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt("geheim")
    protected = io.BytesIO()
    writer.write(protected)
    broken = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

    for content, says in ((protected.getvalue(), "password"), (broken, "cannot be read")):
        answer = upload_many(
            system, office.client(DOSSIER), passport, [("id.pdf", content, "application/pdf")]
        )
        assert answer.status_code == 422, answer.text
        assert says in answer.json()["detail"]
    # Nothing was delivered: the action point is still open.
    [document] = system.documents(office, DOSSIER)
    assert document["status"] == "requested" and document["versions"] == 0


def test_not_applicable_claims_one_waived_one_refused_and_the_progress_follows(
    system: System,
) -> None:
    office = system.office()
    divorce, pension = a_dossier(system, office, "echtscheidingsconvenant", "pensioenoverzicht")
    client = office.client(DOSSIER)
    portal_when(system, office, lambda p: p["progress"]["open"] == 2)
    points = {p["document_id"]: p["action_point_id"] for p in system.portal_all(office, DOSSIER)}

    def claim(document_id: str, **body: Any) -> Any:
        path = f"/action-points/{points[document_id]}/not-applicable"
        return system.post("dossiercontrole", path, client, json=body)

    # A note is required, and at most 2,000 characters.
    assert claim(divorce).status_code == 422
    assert claim(divorce, note="   ").status_code == 422
    assert claim(divorce, note="x" * 2001).status_code == 422

    # The client was never married, and has no pension yet.
    claimed = claim(divorce, note="Nooit getrouwd geweest")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "not_applicable_claimed"
    assert claimed.json()["note"] == "Nooit getrouwd geweest"
    assert claim(pension, note="Nog geen pensioen opgebouwd").status_code == 200
    # A claim on a point that is no longer open is a conflict.
    again = claim(divorce, note="Echt niet")
    assert again.status_code == 409, again.text

    # Both wait for the adviser in the work queue; the client's points are done for now.
    def waiting() -> list[str]:
        items = system.get(
            "portal", "/work-queue", office.adviser, params={"kind": "to_review"}
        ).json()["items"]
        assert {i["document_id"] for i in items} == {divorce, pension}, items
        return [i["status"] for i in items]

    assert eventually(waiting, timeout=30) == ["not_applicable_claimed"] * 2
    portal = portal_when(system, office, lambda p: p["progress"]["completed"] == 2)
    assert {p["document_status"] for p in portal["action_points"]} == {"not_applicable_claimed"}

    # The adviser waives the divorce papers and refuses the pension claim with a reason.
    assert review(system, office.adviser, divorce, "approve").status_code == 409
    waived = review(system, office.adviser, divorce, "waive")
    assert waived.status_code == 200, waived.text
    assert waived.json()["status"] == "waived"
    assert review(system, office.adviser, pension, "reject").status_code == 422  # no reason
    reason = "U werkt sinds 2015: vraag het overzicht op via mijnpensioenoverzicht.nl"
    refused = review(system, office.adviser, pension, "reject", reason=reason)
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "rejected"
    assert refused.json()["rejection_reason"] == reason

    # The portal: the waived one done, the refused one open again with the reason (the list
    # and the progress are two reads: wait for both).
    def decided(portal: dict[str, Any]) -> bool:
        statuses = {p["document_id"]: p["status"] for p in portal["action_points"]}
        progress = {"open": 1, "completed": 1, "percent": 50}
        return bool(portal["progress"] == progress and statuses[pension] == "open")

    portal = portal_when(system, office, decided)
    by_document = {p["document_id"]: p for p in portal["action_points"]}
    assert by_document[divorce]["document_status"] == "waived"
    assert by_document[divorce]["status"] == "completed"
    assert by_document[pension]["status"] == "open"
    assert by_document[pension]["reason"] == reason
    # An office that counts only approved documents still counts the waived one as done.
    chosen = system.put(
        "dossiercontrole",
        "/portal-settings",
        office.admin,
        json={"progress_counts": "approved"},
    )
    assert chosen.status_code == 200, chosen.text
    portal_when(system, office, lambda p: p["progress"]["completed"] == 1)

    # Nothing waits for the adviser any more; a waived document takes nothing more.
    def nothing_to_review() -> None:
        answer = system.get("portal", "/work-queue", office.adviser, params={"kind": "to_review"})
        assert answer.json()["items"] == [], answer.text

    eventually(nothing_to_review, timeout=30)
    assert review(system, office.adviser, divorce, "waive").status_code == 409
