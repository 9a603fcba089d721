"""Stories of checking what was delivered (SPEC section 7): the adviser and the client list a
document's versions and download each one with headers that keep a browser from running or
caching it; every download shows in the dossier's history and nowhere else; a review binds to
the version the adviser saw; a client uploads only where an action point asks for it.

Each story runs in its own office against the three services as processes on a real broker,
on both stores (the folder beside SQLite, the table in PostgreSQL).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from devtools import Broker
from tests.e2e.test_document_cycle import review
from tests.e2e.test_dossier_check import (
    DEFAULT_LIMIT,
    dossier_check_when,
    pdf,
    png,
    published,
    request_document,
    upload,
)
from tests.e2e.test_operations import actiepunten
from tests.support import Office, System, pdf_file, stored_blob, types_of, wait_until_caught_up

pytestmark = pytest.mark.e2e

DOSSIER = "dossier-1"


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


def versions(system: System, headers: dict[str, str], document_id: str) -> httpx.Response:
    return system.get("dossiercontrole", f"/documents/{document_id}/versions", headers)


def download(
    system: System, headers: dict[str, str], document_id: str, **params: Any
) -> httpx.Response:
    path = f"/documents/{document_id}/file"
    return system.get("dossiercontrole", path, headers, params=params)


def delivered(
    system: System, headers: dict[str, str], document_id: str, content: bytes, filename: str
) -> dict[str, Any]:
    response = upload(system, headers, document_id, content, filename)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def a_dossier(system: System, office: Office, *kinds: str, **request: Any) -> list[str]:
    """The dossier's documents of these types (requested now, each with its action point
    unless ``request`` says otherwise), by type in that order."""
    for kind in kinds:
        request_document(system, office, DOSSIER, kind, **request)
    by_type = dossier_check_when(system, office, DOSSIER, len(kinds))
    return [by_type[kind]["document_id"] for kind in kinds]


def assert_file(response: httpx.Response, content: bytes, kind: str, disposition: str) -> None:
    """The answer of a download: the bytes, and exactly the headers of SPEC section 7."""
    assert response.status_code == 200, response.text
    assert response.content == content
    headers = response.headers
    assert headers["content-type"] == kind
    assert headers["content-length"] == str(len(content))
    assert headers["content-disposition"] == disposition
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "sandbox"
    assert headers["cache-control"] == "private, no-store"
    assert headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'


@dataclass
class IdCard:
    """A dossier whose ID card came in two versions (the front by the client, the back by the
    adviser), copied into the bank statement's place; its payslip is still awaited."""

    office: Office
    passport: str
    statement: str
    payslip: str
    front: bytes = field(default_factory=lambda: pdf(uuid.uuid4().hex))
    back: bytes = field(default_factory=lambda: png(uuid.uuid4().hex))


@pytest.fixture
def id_card(system: System) -> IdCard:
    office = system.office()
    kinds = ("identiteitsbewijs", "bankafschrift", "loonstrook")
    card = IdCard(office, *a_dossier(system, office, *kinds))
    delivered(system, office.client(DOSSIER), card.passport, card.front, "voorkant paspoort é.pdf")
    delivered(system, office.adviser, card.passport, card.back, "achterkant.png")
    copied = system.post(
        "dossiercontrole",
        f"/documents/{card.statement}/copy",
        office.adviser,
        json={"source_document_id": card.passport},
    )
    assert copied.status_code == 200, copied.text
    return card


def test_the_adviser_and_the_client_see_every_version_a_copy_too(
    system: System, id_card: IdCard
) -> None:
    office, client = id_card.office, id_card.office.client(DOSSIER)
    for headers in (office.adviser, client):
        listed = versions(system, headers, id_card.passport)
        assert listed.status_code == 200, listed.text
        assert listed.json()["document_id"] == id_card.passport
        got = listed.json()["versions"]  # oldest first
        assert [(v["version"], v["filename"], v["content_type"], v["size"]) for v in got] == [
            (1, "voorkant paspoort é.pdf", "application/pdf", len(id_card.front)),
            (2, "achterkant.png", "image/png", len(id_card.back)),
        ]
        assert [v["sha256"] for v in got] == [sha256(id_card.front), sha256(id_card.back)]
        assert [v["uploaded_by"] for v in got] == [
            {"role": "client", "sub": f"klant-{DOSSIER}"},
            {"role": "adviser", "sub": "adviser-1"},
        ]
        assert all(v["uploaded_at"] and v["copied_from"] is None for v in got)
    # The copy is the bank statement's version 1, naming where it came from.
    [copy] = versions(system, client, id_card.statement).json()["versions"]
    assert (copy["version"], copy["copied_from"]) == (1, id_card.passport)
    assert copy["sha256"] == sha256(id_card.back)
    nothing = versions(system, client, id_card.payslip).json()
    assert nothing == {"document_id": id_card.payslip, "versions": []}


def test_each_version_downloads_with_the_headers_that_keep_it_inert(
    system: System, id_card: IdCard
) -> None:
    office, client = id_card.office, id_card.office.client(DOSSIER)
    as_png = "attachment; filename=\"achterkant.png\"; filename*=UTF-8''achterkant.png"
    # Without a version: the latest, to save.
    latest = download(system, office.adviser, id_card.passport)
    assert_file(latest, id_card.back, "image/png", as_png)
    # Version 1, for the browser to show; the name in UTF-8, and in ASCII for older clients.
    assert_file(
        download(system, client, id_card.passport, version=1, inline=1),
        id_card.front,
        "application/pdf",
        'inline; filename="voorkant paspoort _.pdf"; '
        f"filename*=UTF-8''{quote('voorkant paspoort é.pdf', safe='')}",
    )
    # The copy: the same bytes, under the bank statement.
    assert_file(
        download(system, client, id_card.statement, inline=0), id_card.back, "image/png", as_png
    )


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_a_version_that_does_not_exist_or_is_no_version_is_refused(system: System) -> None:
    office = system.office()
    passport, payslip = a_dossier(system, office, "identiteitsbewijs", "loonstrook")
    delivered(system, office.adviser, passport, pdf(uuid.uuid4().hex), "paspoort.pdf")

    # Unknown: 404, as for a document without a file.
    for document_id, params in (
        (passport, {"version": 2}),
        (payslip, {}),
        (payslip, {"version": 1}),
    ):
        missing = download(system, office.adviser, document_id, **params)
        assert missing.status_code == 404, missing.text
        assert "version" in missing.json()["detail"] or "file" in missing.json()["detail"]
    # Not a positive whole number, or an `inline` other than 0 and 1: 422 with a message.
    for params in ({"version": v} for v in ("0", "-1", "abc", "1.0", "+1", "1e3", "")):
        refused = download(system, office.adviser, passport, **params)
        assert refused.status_code == 422, (params, refused.text)
        [issue] = refused.json()["detail"]
        assert issue["loc"] == ["query", "version"] and issue["msg"], refused.text
    for inline in ("true", "yes", "2"):
        refused = download(system, office.adviser, passport, inline=inline)
        assert refused.status_code == 422, (inline, refused.text)


def test_only_the_office_and_the_dossiers_client_get_the_files(system: System) -> None:
    office, other = system.office(), system.office()
    [passport] = a_dossier(system, office, "identiteitsbewijs")
    delivered(system, office.adviser, passport, pdf(uuid.uuid4().hex), "paspoort.pdf")

    for call in (versions, download):
        # Another office's adviser, a client of another dossier or without any: as unknown.
        for stranger in (other.adviser, other.client(DOSSIER), office.client("dossier-2")):
            assert call(system, stranger, passport).status_code == 404
        assert call(system, office.adviser, str(uuid.uuid4())).status_code == 404
        unauthorized = call(system, {}, passport)
        assert unauthorized.status_code == 401
        assert unauthorized.headers["www-authenticate"] == "Bearer"
        garbage = {"Authorization": "Bearer not-a-token"}
        assert call(system, garbage, passport).status_code == 401
        # The admin sets the office up; the dossiers are not the admin's to read.
        assert call(system, office.admin, passport).status_code == 403


def test_every_download_shows_in_the_dossier_history_and_is_not_published(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    [passport] = a_dossier(system, office, "identiteitsbewijs")
    delivered(system, office.client(DOSSIER), passport, pdf(uuid.uuid4().hex), "paspoort.pdf")
    delivered(system, office.adviser, passport, pdf(uuid.uuid4().hex), "paspoort-2.pdf")

    assert download(system, office.adviser, passport, version=1).status_code == 200
    assert download(system, office.client(DOSSIER), passport).status_code == 200
    # Refused downloads are no downloads: nothing recorded.
    assert download(system, office.adviser, passport, version=3).status_code == 404
    assert download(system, system.office().adviser, passport).status_code == 404

    history = actiepunten(system, "dossier", "history", DOSSIER, "--tenant", office.tenant)
    views = [line for line in history.splitlines() if "AccessLog.DocumentViewed" in line]
    assert len(views) == 2, history
    assert "by adviser:adviser-1" in views[0] and "version=1" in views[0]
    assert f"by client:klant-{DOSSIER}" in views[1] and "version=2" in views[1]
    assert all(f"document_id={passport}" in line for line in views)
    assert "AccessLog.Opened" not in history

    # Other platform services saw the uploads, and then only what came after: a new request.
    request_document(system, office, DOSSIER, "sentinel")

    def sentinel_published(found: list[dict[str, Any]]) -> bool:
        return any(e["data"].get("document_type") == "sentinel" for e in found)

    events = published(kafka, office, sentinel_published)
    last_upload = max(i for i, e in enumerate(events) if e["type"] == "DocumentUploaded")
    assert types_of(events[last_upload + 1 :]) == ["DocumentAdded", "ActionPointOpened"]


def test_a_review_of_a_version_that_is_no_longer_the_latest_changes_nothing(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    [passport] = a_dossier(system, office, "identiteitsbewijs")
    client = office.client(DOSSIER)
    delivered(system, client, passport, pdf(uuid.uuid4().hex), "voorkant.pdf")
    # The adviser looks at version 1; meanwhile the client delivers version 2.
    delivered(system, client, passport, pdf(uuid.uuid4().hex), "achterkant.pdf")

    for decision, body in (("approve", {}), ("reject", {"reason": "Onleesbaar"})):
        stale = review(system, office.adviser, passport, decision, version=1, **body)
        assert stale.status_code == 409, stale.text
        assert stale.json() == {"detail": "a newer version arrived"}
    for bad in (0, "2", 2.0, True, 3):  # not a version, or one never delivered
        refused = review(system, office.adviser, passport, "approve", version=bad)
        assert refused.status_code == 422, (bad, refused.text)
    [document] = system.documents(office, DOSSIER)
    assert (document["status"], document["versions"]) == ("uploaded", 2)

    # Reviewing version 2, the one now shown, the adviser approves it.
    approved = review(system, office.adviser, passport, "approve", version=2)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    events = published(kafka, office, lambda found: "DocumentApproved" in types_of(found))
    [approval] = [e for e in events if e["type"] == "DocumentApproved"]
    assert approval["data"]["version"] == 2
    assert "DocumentRejected" not in types_of(events)


def test_a_client_uploads_only_where_an_action_point_asks_for_it(system: System) -> None:
    office = system.office()
    asked, approved, removed = a_dossier(
        system, office, "identiteitsbewijs", "werkgeversverklaring", "loonstrook"
    )
    [not_asked] = a_dossier_more(system, office, "taxatierapport", action_point=False)
    client = office.client(DOSSIER)
    delivered(system, client, approved, pdf(uuid.uuid4().hex), "verklaring.pdf")
    assert review(system, office.adviser, approved, "approve").status_code == 200
    [point] = [d for d in system.documents(office, DOSSIER) if d["document_id"] == removed]
    gone = system.delete(
        "dossiercontrole",
        f"/action-points/{point['action_point']['action_point_id']}",
        office.adviser,
    )
    assert gone.status_code == 204, gone.text
    elsewhere = system.office()
    [theirs] = a_dossier(system, elsewhere, "identiteitsbewijs")

    # Nothing asks the client for these: as if they did not exist, and no bytes are kept.
    for document_id, headers in (
        (not_asked, client),
        (removed, client),
        (approved, client),
        (theirs, client),
        (asked, office.client("dossier-2")),
    ):
        content = pdf(uuid.uuid4().hex)
        refused = upload(system, headers, document_id, content)
        assert refused.status_code == 404, refused.text
        assert stored_blob(system, hashlib.sha256(content).hexdigest()) is None
    # Where it is asked: the open action point, then a new version while not yet reviewed.
    assert delivered(system, client, asked, pdf(uuid.uuid4().hex), "a.pdf")["versions"] == 1
    assert delivered(system, client, asked, pdf(uuid.uuid4().hex), "b.pdf")["versions"] == 2
    # The adviser still delivers anywhere in the office (an approved document takes nothing).
    for document_id in (not_asked, removed):
        assert upload(system, office.adviser, document_id, pdf(uuid.uuid4().hex)).status_code == 200
    assert upload(system, office.adviser, approved, pdf(uuid.uuid4().hex)).status_code == 409


def a_dossier_more(system: System, office: Office, kind: str, **request: Any) -> list[str]:
    """One more document of the dossier, of a type it does not hold yet."""
    before = {d["document_id"] for d in system.documents(office, DOSSIER)}
    request_document(system, office, DOSSIER, kind, **request)
    by_type = dossier_check_when(system, office, DOSSIER, len(before) + 1)
    return [by_type[kind]["document_id"]]


def test_a_file_of_the_largest_size_comes_back_whole(system: System) -> None:
    office = system.office()
    [passport] = a_dossier(system, office, "identiteitsbewijs")
    content = pdf_file(size=DEFAULT_LIMIT, fill=os.urandom(1024 * 1024))
    delivered(system, office.adviser, passport, content, "scan.pdf")

    # Streamed as it is read: the bytes arrive in pieces, and all of them.
    digest, received, pieces = hashlib.sha256(), 0, 0
    url = system.url("dossiercontrole") + f"/documents/{passport}/file"
    with httpx.stream("GET", url, headers=office.client(DOSSIER), timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(DEFAULT_LIMIT)
        for piece in response.iter_raw():
            digest.update(piece)
            received += len(piece)
            pieces += 1
    assert received == DEFAULT_LIMIT and pieces > 1
    assert digest.hexdigest() == hashlib.sha256(content).hexdigest()
