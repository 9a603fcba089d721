"""Stories of the evidence pack (SPEC section 11, issue 22 item 4): the adviser takes a pack of a
dossier and `actiepunten evidence verify` checks it against the running system; a changed file
and a changed event are named; the dossier is closed and erased, and the old pack still
verifies and says when; a pack taken after the erasure holds no files but verifies. And what a
pack refuses.

Through the running services on each store: HTTP for the pack, the command beside the system
for the verification, the real broker bringing the requests in.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_dossier_lifetime import _delivered
from tests.support import Office, System, pdf_file

pytestmark = pytest.mark.e2e

DOSSIER = "dossier-bewijslast"


def _pack(system: System, office: Office, path: Path, role: str = "adviser", **params: str) -> Path:
    answer = system.get(
        "dossiercontrole", f"/dossiers/{DOSSIER}/evidence", office.headers(role), params=params
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert "attachment" in answer.headers["content-disposition"]
    path.write_bytes(answer.content)
    return path


def _verify(system: System, office: Office, pack: Path) -> subprocess.CompletedProcess[str]:
    """``actiepunten evidence verify`` against the running system, as the office's adviser."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "actiepunten",
            "evidence",
            "verify",
            str(pack),
            "--url",
            system.url("dossiercontrole"),
            "--token",
            office.token("adviser"),
        ],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _manifest(pack: Path) -> dict[str, Any]:
    with zipfile.ZipFile(pack) as archive:
        return json.loads(archive.read("manifest.json"))  # type: ignore[no-any-return]


def _tampered(pack: Path, name: str, change: Any) -> Path:
    out = pack.with_name(f"tampered-{name.replace('/', '-')}-{pack.name}")
    with zipfile.ZipFile(pack) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info.filename, change(content) if info.filename == name else content)
    return out


def test_a_pack_verifies_names_what_was_changed_and_still_verifies_after_erasure(
    system: System, tmp_path: Path
) -> None:
    office = system.office()
    content = pdf_file("an ID card for the evidence pack")
    sha256 = _delivered(system, office, DOSSIER, content)
    [delivered] = [d for d in system.documents(office, DOSSIER) if d["versions"]]
    reason = "De achterkant van uw ID-kaart ontbreekt"
    review = system.post(
        "dossiercontrole",
        f"/documents/{delivered['document_id']}/review",
        office.adviser,
        json={"decision": "reject", "reason": reason},
    )
    assert review.status_code == 200, review.text

    # The adviser takes the pack of now: the rejected document with its file and its review.
    pack = _pack(system, office, tmp_path / "pack.zip")
    manifest = _manifest(pack)
    assert (manifest["dossier_id"], manifest["office"]) == (DOSSIER, office.tenant)
    assert manifest["erased_at"] is None and manifest["chain"]["events"] >= 4
    [document] = [d for d in manifest["documents"] if d["versions"]]
    assert document["status"] == "rejected"
    [rejection] = document["reviews"]
    assert (rejection["decision"], rejection["by"], rejection["reason"]) == (
        "rejected",
        "adviser:adviser-1",
        reason,
    )
    assert [r["source"] for r in document["requests"]] == ["scenario"]
    [part] = document["versions"][0]["files"]
    assert part["sha256"] == sha256
    with zipfile.ZipFile(pack) as archive:
        assert archive.read(part["path"]) == content

    verified = _verify(system, office, pack)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "the pack verifies" in verified.stdout
    assert "the system has the same chain" in verified.stdout
    assert "the dossier is not erased" in verified.stdout

    # A changed file and a changed event are named, and the command fails.
    changed = _verify(system, office, _tampered(pack, part["path"], lambda b: b + b"\n"))
    assert changed.returncode != 0
    assert f"{part['path']} was changed" in changed.stdout

    def change_second_event(raw: bytes) -> bytes:
        chain = json.loads(raw)
        event = chain["events"][1]
        event["state"] = base64.b64encode(base64.b64decode(event["state"]) + b" ").decode()
        return json.dumps(chain).encode()

    broken = _verify(system, office, _tampered(pack, "chain.json", change_second_event))
    assert broken.returncode != 0
    assert "event 2 (" in broken.stdout and "broken link" in broken.stdout

    # The dossier is closed and erased: the pack taken before still verifies, and says when.
    closed = system.post(
        "dossiercontrole",
        f"/dossiers/{DOSSIER}/close",
        office.adviser,
        json={"outcome": "declined"},
    )
    assert closed.status_code == 200, closed.text
    erased = system.post("dossiercontrole", f"/dossiers/{DOSSIER}/erase", office.admin)
    assert erased.status_code == 200, erased.text
    after = _verify(system, office, pack)
    assert after.returncode == 0, after.stdout + after.stderr
    erased_at = erased.json()["erased_at"]
    chain_now = system.get(
        "dossiercontrole",
        f"/dossiers/{DOSSIER}/evidence/chain",
        office.adviser,
        params={"version": manifest["chain"]["events"]},
    ).json()
    assert chain_now["last_link"] == manifest["chain"]["last_link"]
    assert chain_now["erased_by"] == "admin:admin-1"
    assert f"the dossier was erased at {chain_now['erased_at']} by admin:admin-1" in after.stdout
    assert chain_now["erased_at"][:19] == erased_at[:19]

    # A pack taken after the erasure, of the moment the first was taken: no file, erased_at.
    later = _pack(system, office, tmp_path / "later.zip", role="admin", at=manifest["made_at"])
    again = _manifest(later)
    assert again["erased_at"] and again["chain"] == manifest["chain"]
    [document] = [d for d in again["documents"] if d["versions"]]
    [part] = document["versions"][0]["files"]
    assert (part["path"], part["absent"], part["filename"]) == (None, "erased", "[gewist]")
    with zipfile.ZipFile(later) as archive:
        assert sorted(archive.namelist()) == ["chain.json", "manifest.json"]
        states = [
            base64.b64decode(e["state"]) for e in json.loads(archive.read("chain.json"))["events"]
        ]
    # The events are as stored: the reason sealed with a key that is gone, never in plain text.
    assert not any(reason.encode() in state for state in states)
    assert any(b"enc:v1:" in state for state in states)
    verified_later = _verify(system, office, later)
    assert verified_later.returncode == 0, verified_later.stdout + verified_later.stderr
    assert "file absent (erased)" in verified_later.stdout


def test_a_pack_refuses_what_it_cannot_show(system: System) -> None:
    office = system.office()
    dossier = "dossier-bewijs-weigering"
    _delivered(system, office, dossier, pdf_file("refusals"))
    path = f"/dossiers/{dossier}/evidence"

    def get(headers: dict[str, str], at: str | None = None, where: str = path) -> Any:
        params = {"at": at} if at is not None else {}
        return system.get("dossiercontrole", where, headers, params=params)

    before = get(office.adviser, "2001-01-01T00:00:00Z")
    assert before.status_code == 422 and "is before it" in before.json()["detail"]
    assert get(office.adviser, "gisteren").status_code == 422
    assert get(office.adviser, "2999-01-01T00:00:00Z").status_code == 422
    unknown = get(office.adviser, where="/dossiers/nobody/evidence")
    assert unknown.status_code == 404 and "nobody" in unknown.json()["detail"]
    assert get(system.office().adviser).status_code == 404  # another office's dossier
    for role in ("client", "service"):
        assert get(office.headers(role, dossiers=[dossier])).status_code == 403, role
    assert get(office.admin).status_code == 200
    chain = f"/dossiers/{dossier}/evidence/chain"
    assert system.get("dossiercontrole", chain, office.admin, params={"version": "1"}).json()[
        "last_link"
    ]
    far = system.get("dossiercontrole", chain, office.adviser, params={"version": "9999"})
    assert far.status_code == 404 and "stored events, not 9999" in far.json()["detail"]
    assert system.get("dossiercontrole", chain, office.headers("client")).status_code == 403
