"""Uploaded files are durable once the upload is answered: the file and the folder entry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.dossiercontrole_service.blobstore import BlobStore

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def test_a_stored_file_and_its_folder_entry_reach_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str | Path) -> None:
        real_replace(src, dst)
        steps.append(("rename", str(dst)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    blobs = BlobStore(tmp_path / "blobs")

    digest = blobs.put(PDF)

    target = blobs.path_of(digest)
    assert blobs.get(digest) == PDF
    renamed = steps.index(("rename", str(target)))
    # The bytes were synced before the rename, the folder that holds the new name after it.
    assert any(kind == "fsync" and ".upload-" in path for kind, path in steps[:renamed])
    assert ("fsync", str(target.parent)) in steps[renamed:]
