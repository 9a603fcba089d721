"""Uploaded files, stored by content (SHA-256) on disk; the client's filename is never a path."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# Magic numbers of the accepted types; the declared content type and the filename are not trusted.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class UnsupportedFileType(ValueError):
    pass


def sniff_content_type(head: bytes) -> str:
    """PDF, JPEG or PNG, judged from the first bytes; anything else is refused."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    raise UnsupportedFileType("only PDF, JPEG and PNG files are accepted")


def safe_filename(name: str | None) -> str:
    """The client's filename as metadata only: its last path part, printable, at most 255 chars."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:255] or "upload"


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Store ``content`` once; returns its SHA-256. Atomic: a crash leaves no half file."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path_of(digest)
        if target.exists():
            return digest
        new_folder = not target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        if new_folder:
            _fsync_folder(self.root)  # the new folder's entry in the root
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename lives in the folder: without this a power cut can lose a file whose
        # upload was already answered and recorded in the event store.
        _fsync_folder(target.parent)
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
