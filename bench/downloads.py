"""The download figure of issue 17: what downloading a 20 MiB file adds to the dossier-check
service's memory (RSS), on each store. The file is streamed from the blob store a chunk at a
time, so the target is at most 10 MiB added.

Measured on the service's process: its RSS just before a download (``VmRSS``), and its peak
during it (``VmHWM``, reset to the current RSS first through ``/proc/<pid>/clear_refs``; where
that is refused, the highest ``VmRSS`` sampled every few milliseconds). The upload of the file
is not measured (it reads the file whole, as it always did): the service is restarted after it,
so that the download cannot reuse the memory the upload left behind, and its first download
pays for what a first download sets up (a worker thread, a database connection).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.support import Office, System, eventually, pdf_file

if TYPE_CHECKING:
    from bench.e2e import Results

FILE_BYTES = 20 * 1024 * 1024  # the largest upload (ACTIEPUNTEN_MAX_UPLOAD_BYTES' default)
TARGET_MIB = 10.0
DOWNLOADS = 3  # the figure is the largest of these


def status_mib(pid: int, field: str) -> float:
    """A memory figure of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid: int) -> bool:
    """Set the process's peak RSS (``VmHWM``) to its current RSS; False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler(threading.Thread):
    """The highest ``VmRSS`` of a process while it runs: a fallback for ``VmHWM``."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.highest = status_mib(pid, "VmRSS")
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.highest = max(self.highest, status_mib(self.pid, "VmRSS"))


def a_delivered_file(system: System, office: Office) -> tuple[str, str]:
    """A document of a dossier with a 20 MiB PDF uploaded; its id and the file's SHA-256."""
    body = {
        "dossier_id": "downloads",
        "subject": {"type": "product", "id": "hyp-1", "scope": "hypotheek"},
        "document_type": "taxatierapport",
    }
    response = system.post("scenario", "/document-requests", office.adviser, json=body)
    response.raise_for_status()
    [document] = eventually(lambda: _one(system.documents(office, "downloads")), timeout=120)
    content = pdf_file(size=FILE_BYTES, fill=os.urandom(1024 * 1024))
    response = httpx.post(
        system.url("dossiercontrole") + f"/documents/{document['document_id']}/upload",
        headers=office.adviser,
        files={"file": ("taxatie.pdf", content, "application/pdf")},
        timeout=120,
    )
    response.raise_for_status()
    return str(document["document_id"]), hashlib.sha256(content).hexdigest()


def _one(documents: list[dict[str, object]]) -> list[dict[str, object]]:
    assert len(documents) == 1, documents
    return documents


def rss_added_by_a_download(system: System, office: Office, document_id: str, sha256: str) -> float:
    """MiB the service's RSS rose above its level before, at its peak during one download."""
    pid = system.processes["dossiercontrole"].pid
    before = status_mib(pid, "VmRSS")
    exact = reset_peak(pid)
    sampler = RssSampler(pid)
    sampler.start()
    digest = hashlib.sha256()
    url = system.url("dossiercontrole") + f"/documents/{document_id}/file"
    try:
        with httpx.stream("GET", url, headers=office.adviser, timeout=120) as response:
            response.raise_for_status()
            for piece in response.iter_raw():
                digest.update(piece)
    finally:
        sampler.done.set()
        sampler.join()
    if digest.hexdigest() != sha256:
        raise RuntimeError("the downloaded file is not the uploaded one")
    peak = max(sampler.highest, status_mib(pid, "VmHWM") if exact else 0.0)
    return peak - before


def d1_download_memory(system: System, office: Office, results: Results) -> None:
    document_id, sha256 = a_delivered_file(system, office)
    system.stop("dossiercontrole")
    system.start("dossiercontrole")
    time.sleep(2.0)  # its start-up settles (consumers join) before the level is read
    added = [rss_added_by_a_download(system, office, document_id, sha256) for _ in range(DOWNLOADS)]
    pid = system.processes["dossiercontrole"].pid
    results.add(
        "D1 RSS added by downloading 20 MiB",
        max(added),
        "MiB",
        None,
        f"largest of {', '.join(f'{a:.1f}' for a in added)}; service at "
        f"{status_mib(pid, 'VmRSS'):.0f} MiB (target <= {TARGET_MIB:.0f} MiB added)",
    )
