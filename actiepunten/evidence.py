"""``actiepunten evidence verify PACK.zip``: checks an evidence pack (SPEC section 11).

Three things: every file the manifest names is in the ZIP with the manifest's SHA-256; the chain
follows from the pack's own events (each link recomputed from its stored record and the link
before, ``servicekit.hashchain``) and ends where the manifest says; and a running dossier-check
service, recomputing the chain from its store (``GET /dossiers/{id}/evidence/chain``), has the
same last link. The last one is what makes the pack evidence: a pack whose events were changed
and whose links were all recomputed passes the first two. It also says whether and when the
dossier was erased (its files are absent from a pack taken after; its events and so its chain
stay).
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servicekit.hashchain import GENESIS, Record, link

AskSystem = Callable[[str, int], dict[str, Any]]
"""Asks the system for a dossier's chain at a version; raises ``SystemRefused`` with why."""


class SystemRefused(Exception):
    """The system did not answer the chain: unreachable, a refusal, or no such chain."""


@dataclass
class Verdict:
    """What was checked (``lines``) and what failed (``failures``, each naming it)."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.failures

    def checked(self, line: str) -> None:
        self.lines.append(f"ok      {line}")

    def failed(self, line: str) -> None:
        self.lines.append(f"FAILED  {line}")
        self.failures.append(line)

    def note(self, line: str) -> None:
        self.lines.append(f"        {line}")


def asking(url: str, token: str | None) -> AskSystem:
    """Asks the dossier-check service at ``url`` with ``token`` (an adviser's or admin's of
    the dossier's office)."""

    def ask(dossier_id: str, version: int) -> dict[str, Any]:
        if not token:
            raise SystemRefused("no token: give --token (an adviser's or admin's of the office)")
        path = f"/dossiers/{urllib.parse.quote(dossier_id, safe='')}/evidence/chain"
        request = urllib.request.Request(
            f"{url.rstrip('/')}{path}?version={version}",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as error:
            raise SystemRefused(f"{error.code}: {_detail(error.read())}") from None
        except (urllib.error.URLError, OSError) as error:
            raise SystemRefused(f"{url} did not answer: {error}") from None

    return ask


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail"))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")


def verify(pack: Path, ask: AskSystem | None) -> Verdict:
    """Checks the pack; ``ask`` None leaves the system out (and says so)."""
    verdict = Verdict()
    try:
        archive = zipfile.ZipFile(pack)
    except (OSError, zipfile.BadZipFile) as error:
        verdict.failed(f"{pack} is not a readable ZIP: {error}")
        return verdict
    with archive:
        try:
            manifest = json.loads(archive.read("manifest.json"))
            chain = json.loads(archive.read(manifest["chain"]["path"]))
        except (KeyError, ValueError, TypeError) as error:
            verdict.failed(f"the pack has no readable manifest and chain: {error}")
            return verdict
        verdict.note(
            f"dossier {manifest['dossier_id']} of {manifest['office']} at {manifest['at']} "
            f"(pack made {manifest['made_at']})"
        )
        if manifest.get("erased_at"):
            verdict.note(f"taken after the dossier's erasure at {manifest['erased_at']}")
        _check_files(archive, manifest, verdict)
        _check_chain(manifest, chain, verdict)
    if ask is None:
        verdict.note("not checked against a running system (--offline)")
    else:
        _check_system(manifest, ask, verdict)
    return verdict


def _check_files(archive: zipfile.ZipFile, manifest: dict[str, Any], verdict: Verdict) -> None:
    named: set[str] = set()
    absent = 0
    for document in manifest["documents"]:
        for version in document["versions"]:
            for part in version["files"]:
                what = (
                    f"document {document['document_id']} ({document['document_type']}) "
                    f"version {version['version']} part {part['part']}"
                )
                path = part["path"]
                if path is None:
                    absent += 1
                    verdict.note(f"{what}: file absent ({part['absent']})")
                    continue
                named.add(path)
                try:
                    content = archive.read(path)
                except KeyError:
                    verdict.failed(f"{what}: {path} is missing from the pack")
                    continue
                found = hashlib.sha256(content).hexdigest()
                if found != part["sha256"]:
                    verdict.failed(
                        f"{what}: {path} was changed (sha256 {found}, manifest {part['sha256']})"
                    )
                else:
                    verdict.checked(f"{what}: {path} sha256 {found[:16]}...")
    own = {"manifest.json", manifest["chain"]["path"]}
    for extra in sorted(set(archive.namelist()) - named - own):
        verdict.failed(f"{extra} is in the pack but not in the manifest")
    if absent:
        verdict.note(f"{absent} files absent from the pack")


def _check_chain(manifest: dict[str, Any], chain: dict[str, Any], verdict: Verdict) -> None:
    events = chain["events"]
    previous = GENESIS
    broken = False
    for expected_version, event in enumerate(events, start=1):
        try:
            record = Record(
                str(event["originator_id"]),
                int(event["version"]),
                str(event["topic"]),
                base64.b64decode(event["state"], validate=True),
            )
            stated = bytes.fromhex(event["link"])
        except (KeyError, ValueError, TypeError) as error:
            verdict.failed(f"event {expected_version}: unreadable ({error})")
            return
        if record.version != expected_version:
            verdict.failed(f"event {expected_version}: its version is {record.version}")
            broken = True
        if record.originator_id != manifest["dossier_check_id"]:
            verdict.failed(f"event {record.version}: another aggregate's ({record.originator_id})")
            broken = True
        if link(previous, record) != stated:
            verdict.failed(
                f"event {record.version} ({record.topic.rsplit(':', 1)[-1]}): broken link, "
                f"{event['link'][:16]}... does not follow from its record and the link before"
            )
            broken = True
        previous = stated  # each link on its own: a changed event is named, not all after it
    claimed = manifest["chain"]
    if len(events) != claimed["events"]:
        verdict.failed(f"the chain holds {len(events)} events, the manifest {claimed['events']}")
    elif previous.hex() != claimed["last_link"]:
        verdict.failed("the chain's last link is not the manifest's")
    elif not broken:
        verdict.checked(f"chain of {len(events)} events, last link {previous.hex()[:16]}...")


def _check_system(manifest: dict[str, Any], ask: AskSystem, verdict: Verdict) -> None:
    version = int(manifest["chain"]["events"])
    try:
        answer = ask(manifest["dossier_id"], version)
    except SystemRefused as refused:
        verdict.failed(f"the system does not have this chain: {refused}")
        return
    if answer["last_link"] != manifest["chain"]["last_link"]:
        verdict.failed(
            f"the system does not have this chain: its link at event {version} is "
            f"{answer['last_link'][:16]}..., the pack's {manifest['chain']['last_link'][:16]}..."
        )
    else:
        verdict.checked(f"the system has the same chain up to event {version}")
    if answer.get("erased_at"):
        verdict.note(
            f"the dossier was erased at {answer['erased_at']} by {answer.get('erased_by')}"
        )
    else:
        verdict.note("the dossier is not erased")
