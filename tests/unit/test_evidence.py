"""Stories of the evidence pack (SPEC section 11), in process on a real blob folder: the adviser
takes a pack of a dossier, it verifies; a changed file and a changed event are named; after the
dossier is erased the old pack still verifies and says when; a pack taken then holds no files.
And the hash chain itself."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from actiepunten.evidence import SystemRefused, Verdict, verify
from servicekit.auth import issue_token
from servicekit.hashchain import GENESIS, Record, last_link, link, links
from servicekit.services import SERVICES
from servicekit.settings import Settings
from services.dossiercontrole_service.application import DossierChecks, ReviewDocument
from services.dossiercontrole_service.domainmodel import Outcome
from services.dossiercontrole_service.evidence import (
    Evidence,
    MomentBeforeDossier,
    MomentInFuture,
    Pack,
)
from services.dossiercontrole_service.lifecycle import DossierNotFound, EraseDossier
from tests.unit.kafka_edge import NOW, OFFICE
from tests.unit.test_erasure import ADMIN, ADVISER, OWN, close, deliver, erasure_of

DOSSIER = "dossier-bewijs"


def test_each_link_hashes_the_stored_record_and_the_link_before() -> None:
    record = Record("4f1c", 1, "module:Aggregate.Event", b'{"a":1}')
    first = link(GENESIS, record)
    framed = b"".join(
        len(part).to_bytes(4, "big") + part for part in (b"4f1c", b"1", b"module:Aggregate.Event")
    )
    assert first == hashlib.sha256(GENESIS + framed + b"\0\0\0\x07" + b'{"a":1}').digest()
    second = Record("4f1c", 2, "module:Aggregate.Event", b"{}")
    assert list(links([record, second])) == [first, link(first, second)]
    assert last_link([record, second]) == link(first, second) and last_link([]) == GENESIS
    # Every field counts, and the framing keeps a topic's end from passing as the state's start.
    for changed in (
        record._replace(originator_id="4f1d"),
        record._replace(version=2),
        record._replace(topic="module:Aggregate.Even", state=b't{"a":1}'),
        record._replace(state=b'{"a":2}'),
    ):
        assert link(GENESIS, changed) != first


def _zip(pack: Pack, evidence: Evidence, path: Path) -> Path:
    path.write_bytes(b"".join(pack.chunks(evidence.blobs)))
    return path


def _asking(evidence: Evidence) -> Any:
    def ask(dossier_id: str, version: int) -> dict[str, Any]:
        try:
            state = evidence.chain(OFFICE, dossier_id, version)
        except Exception as refused:
            raise SystemRefused(str(refused)) from None
        erased_at = state.erased_at.isoformat() if state.erased_at else None
        return {"last_link": state.last_link, "erased_at": erased_at, "erased_by": state.erased_by}

    return ask


def _rewritten(path: Path, name: str, change: Any) -> Path:
    """A copy of the pack with member ``name`` changed by ``change``."""
    out = path.with_name(f"tampered-{path.name}")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info.filename, change(content) if info.filename == name else content)
    return out


def _failures(verdict: Verdict) -> str:
    return "\n".join(verdict.failures)


def test_a_pack_verifies_names_what_was_changed_and_survives_the_erasure(
    checks: DossierChecks, tmp_path: Path
) -> None:
    erasure = erasure_of(checks, tmp_path)
    evidence = Evidence(checks, erasure.blobs)
    ask = _asking(evidence)
    # The client delivers an ID card; the adviser rejects it with a reason.
    document_id = deliver(checks, erasure.blobs, DOSSIER, OWN)  # type: ignore[arg-type]
    before_review = datetime.now(UTC)
    reason = "De achterkant ontbreekt"
    checks.review(ReviewDocument(OFFICE, document_id, "reject", reason, ADVISER, NOW))

    # The pack of now: the document, its version with the file, the review with its reason.
    pack = evidence.pack(OFFICE, DOSSIER, None, datetime.now(UTC), ADVISER)
    manifest = pack.manifest
    [document] = manifest["documents"]
    assert document["status"] == "rejected" and document["rejection_reason"] == reason
    [review] = document["reviews"]
    assert (review["decision"], review["by"], review["reason"]) == ("rejected", ADVISER, reason)
    [request] = document["requests"]
    assert request["how"] == "added"
    [part] = document["versions"][0]["files"]
    sha256 = hashlib.sha256(OWN).hexdigest()
    assert part["sha256"] == sha256 and part["path"] == f"files/{sha256}.pdf"
    assert manifest["erased_at"] is None and manifest["chain"]["events"] == 4
    path = _zip(pack, evidence, tmp_path / "pack.zip")
    with zipfile.ZipFile(path) as archive:
        assert archive.read(part["path"]) == OWN
    verdict = verify(path, ask)
    assert verdict.holds, verdict.lines
    assert "the dossier is not erased" in "\n".join(verdict.lines)

    # The same dossier before the review: the document was delivered, not yet rejected.
    earlier = evidence.pack(OFFICE, DOSSIER, before_review, datetime.now(UTC), ADVISER)
    assert earlier.manifest["documents"][0]["status"] == "uploaded"
    assert earlier.manifest["documents"][0]["reviews"] == []
    assert earlier.manifest["chain"]["events"] == 3
    assert verify(_zip(earlier, evidence, tmp_path / "earlier.zip"), ask).holds

    # A changed file, and a changed event, are named.
    changed_file = _rewritten(path, part["path"], lambda content: content + b"%")
    assert part["path"] in _failures(verify(changed_file, ask))
    assert "was changed" in _failures(verify(changed_file, ask))

    def change_event(content: bytes) -> bytes:
        chain = json.loads(content)
        state = base64.b64decode(chain["events"][1]["state"]).replace(b"hyp-1", b"hyp-2")
        chain["events"][1]["state"] = base64.b64encode(state).decode()
        return json.dumps(chain).encode()

    changed_event = verify(_rewritten(path, "chain.json", change_event), ask)
    assert "event 2 (DossierCheck.DocumentAdded): broken link" in _failures(changed_event)

    # Links recomputed after the change hold together, but the system has another chain.
    def forge(content: bytes) -> bytes:
        chain = json.loads(change_event(content))
        previous = GENESIS
        for event in chain["events"]:
            record = Record(
                event["originator_id"],
                event["version"],
                event["topic"],
                base64.b64decode(event["state"]),
            )
            previous = link(previous, record)
            event["link"] = previous.hex()
        return json.dumps(chain).encode()

    forged = _rewritten(path, "chain.json", forge)
    forged = _rewritten(forged, "manifest.json", lambda content: _last_link_of(content, forged))
    failures = _failures(verify(forged, ask))
    assert "the system does not have this chain" in failures and "broken link" not in failures

    # The dossier is closed and erased: the old pack still verifies, and says when.
    close(checks, DOSSIER, Outcome.COMPLETED)
    erased = erasure.erase(EraseDossier(OFFICE, DOSSIER, ADMIN, NOW))
    assert erased.erased_at is not None
    after = verify(path, ask)
    assert after.holds, after.lines
    assert f"erased at {erased.erased_at.isoformat()} by {ADMIN}" in "\n".join(after.lines)

    # A pack taken after it, of the moment before the review, holds no file: each version says
    # it is absent, personal fields read as erased; the chain verifies.
    now_pack = evidence.pack(OFFICE, DOSSIER, before_review, datetime.now(UTC), ADMIN)
    assert now_pack.manifest["erased_at"] and now_pack.files == {}
    [part] = now_pack.manifest["documents"][0]["versions"][0]["files"]
    assert (part["path"], part["absent"], part["filename"]) == (None, "erased", "[gewist]")
    taken_after = verify(_zip(now_pack, evidence, tmp_path / "after.zip"), ask)
    assert taken_after.holds, taken_after.lines
    assert "file absent (erased)" in "\n".join(taken_after.lines)
    with zipfile.ZipFile(tmp_path / "after.zip") as archive:
        assert sorted(archive.namelist()) == ["chain.json", "manifest.json"]
    latest = evidence.pack(OFFICE, DOSSIER, None, datetime.now(UTC), ADMIN)
    assert latest.manifest["documents"] == [] and latest.manifest["erased_by"] == ADMIN


def _last_link_of(manifest: bytes, pack: Path) -> bytes:
    with zipfile.ZipFile(pack) as archive:
        chain = json.loads(archive.read("chain.json"))
    changed = json.loads(manifest)
    changed["chain"]["last_link"] = chain["events"][-1]["link"]
    return json.dumps(changed).encode()


def test_a_pack_refuses_a_moment_it_cannot_show(checks: DossierChecks, tmp_path: Path) -> None:
    erasure = erasure_of(checks, tmp_path)
    evidence = Evidence(checks, erasure.blobs)
    before = datetime.now(UTC) - timedelta(seconds=1)
    deliver(checks, erasure.blobs, DOSSIER, OWN)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    with pytest.raises(MomentBeforeDossier, match="is before it"):
        evidence.pack(OFFICE, DOSSIER, before, now, ADVISER)
    with pytest.raises(MomentInFuture):
        evidence.pack(OFFICE, DOSSIER, now + timedelta(minutes=1), now, ADVISER)
    with pytest.raises(DossierNotFound):
        evidence.pack("another-office", DOSSIER, None, now, ADVISER)
    with pytest.raises(DossierNotFound):
        evidence.chain("another-office", DOSSIER, 1)
    with pytest.raises(Exception, match="has 3 stored events, not 9"):
        evidence.chain(OFFICE, DOSSIER, 9)


def test_the_zip_is_written_as_it_is_read(checks: DossierChecks, tmp_path: Path) -> None:
    """Each chunk of a file goes out before the next is read: the ZIP is never held whole."""
    erasure = erasure_of(checks, tmp_path)
    evidence = Evidence(checks, erasure.blobs)
    big = b"%PDF-1.4\n" + bytes(1_000_000) + b"%%EOF\n"
    deliver(checks, erasure.blobs, DOSSIER, big)  # type: ignore[arg-type]
    pack = evidence.pack(OFFICE, DOSSIER, None, datetime.now(UTC), ADVISER)
    chunks = list(pack.chunks(evidence.blobs))
    assert max(len(chunk) for chunk in chunks) <= 300 * 1024  # a blob store chunk and headers
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None
        assert big in [archive.read(name) for name in archive.namelist()]


def test_a_file_the_store_lacks_is_marked_absent_and_the_pack_still_answers(
    checks: DossierChecks, tmp_path: Path
) -> None:
    erasure = erasure_of(checks, tmp_path)
    evidence = Evidence(checks, erasure.blobs)
    deliver(checks, erasure.blobs, DOSSIER, OWN)  # type: ignore[arg-type]
    pack = evidence.pack(OFFICE, DOSSIER, None, datetime.now(UTC), ADVISER)
    erasure.blobs.delete(hashlib.sha256(OWN).hexdigest())  # lost, not erased
    path = _zip(pack, evidence, tmp_path / "pack.zip")
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    [part] = manifest["documents"][0]["versions"][0]["files"]
    assert (part["path"], part["absent"]) == (None, "missing from the blob store")
    verdict = verify(path, None)
    assert verdict.holds, verdict.lines
    lines = "\n".join(verdict.lines)
    assert "file absent (missing from the blob store)" in lines and "--offline" in lines


def test_the_routes_refuse_a_moment_or_version_they_cannot_read(tmp_path: Path) -> None:
    """Before any store is asked: a moment without an offset or beyond the calendar once in
    UTC, a version not in digits; the bounds reach the OpenAPI schema (the fuzzer reads them)."""
    secret = "a-test-secret-of-at-least-thirty-two-bytes!"
    settings = Settings(
        service="dossiercontrole",
        data_dir=tmp_path,
        kafka_bootstrap_servers="unused:9092",
        jwt_secret=secret,
        api_docs=True,
    )
    app = SERVICES["dossiercontrole"].module("main").create_app(settings)
    client = TestClient(app)
    token = issue_token(secret, sub="a1", tenant=OFFICE, role="adviser")
    headers = {"Authorization": f"Bearer {token}"}
    for at in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01T10:00"):
        answer = client.get("/dossiers/d1/evidence", params={"at": at}, headers=headers)
        assert answer.status_code == 422, (at, answer.text)
    for version in ("+1", "-5", "1.0", "0"):
        answer = client.get(
            "/dossiers/d1/evidence/chain", params={"version": version}, headers=headers
        )
        assert answer.status_code == 422, (version, answer.text)
    unknown = client.get("/dossiers/d1/evidence/chain", params={"version": "3"}, headers=headers)
    assert unknown.status_code == 404
    [_, version] = app.openapi()["paths"]["/dossiers/{dossier_id}/evidence/chain"]["get"][
        "parameters"
    ]
    assert (version["schema"]["minimum"], version["schema"]["maximum"]) == (1, 1_000_000_000)
