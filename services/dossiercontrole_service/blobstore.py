"""Uploaded files, stored by content (SHA-256); the client's filename is never a path.

Two stores behind one interface (``Blobs``): a folder on disk for SQLite (one process, one
machine), and a ``bytea`` table in the service's PostgreSQL schema that every replica shares.
Both read a file back in chunks (``open_chunks``), so a download never holds it whole.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any, Protocol

import psycopg

from servicekit.datadir import private_dir
from servicekit.domain import Invalid, TooLarge, UnsupportedType

# Magic numbers of the accepted types; the declared content type and the filename are not trusted.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


ACCEPTED_TYPES = tuple(content_type for _, content_type in _SIGNATURES)
"""The content types a stored file can have: each may be shown inline by a browser."""

CHUNK = 256 * 1024
"""How much of a file a download reads (and sends) at a time."""


class UnsupportedFileType(UnsupportedType):
    pass


class FileTooLarge(TooLarge):
    pass


class EmptyFile(Invalid):
    pass


def inspect_upload(content: bytes, limit: int) -> str:
    """The content type of an uploaded file's bytes (read up to ``limit + 1``), or a refusal:
    too large, empty, or not a PDF, JPEG or PNG."""
    if len(content) > limit:
        raise FileTooLarge(f"file larger than the limit of {limit} bytes")
    if not content:
        raise EmptyFile("the file is empty")
    return sniff_content_type(content[:16])


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


class Blobs(Protocol):
    """Where uploaded files' bytes are kept, by their SHA-256."""

    def put(self, content: bytes) -> str:
        """Store ``content`` once, durably; returns its SHA-256 (hex)."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``; KeyError when there are none."""
        ...

    def open_chunks(self, sha256: str, chunk: int = CHUNK) -> Generator[bytes, None, None]:
        """The bytes stored under ``sha256``, ``chunk`` bytes at a time, never all at once.
        Lazy: the first ``next`` raises KeyError when there are none. Close it (or run it to
        its end) to give back the file or connection it holds."""
        ...

    def delete(self, sha256: str) -> None:
        """Forget the bytes stored under ``sha256`` (erasure); nothing when there are none."""
        ...


class BlobStore:
    """Blobs in a local folder, ``root/ab/abcd...``: for SQLite, where every process of the
    service runs on the one machine that holds the data dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(self.root)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Store ``content`` once; returns its SHA-256. Atomic: a crash leaves no half file."""
        digest = hashlib.sha256(content).hexdigest()
        target = self.path_of(digest)
        if target.exists():
            return digest
        new_folder = not target.parent.exists()
        private_dir(target.parent)
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
        try:
            return self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            raise KeyError(sha256) from None

    def open_chunks(self, sha256: str, chunk: int = CHUNK) -> Generator[bytes, None, None]:
        try:
            handle = self.path_of(sha256).open("rb", buffering=0)
        except FileNotFoundError:
            raise KeyError(sha256) from None
        with handle:
            while block := handle.read(chunk):
                yield block

    def delete(self, sha256: str) -> None:
        target = self.path_of(sha256)
        if target.exists():
            target.unlink()
            _fsync_folder(target.parent)  # the erasure is recorded as done after this


class PostgresBlobStore:
    """Blobs as ``bytea`` rows of ``<schema>.blobs``, keyed by SHA-256: every replica of the
    service on the same database sees every upload, whichever machine it runs on.

    ``bytea`` rather than large objects: uploads are capped (20 MiB by default) far below
    bytea's 1 GiB, rows are written in the insert's own transaction (no orphaned large objects
    to clean up with ``vacuumlo``), and they are dumped, replicated and restored with the table,
    under the schema's ordinary privileges. Content addressing makes the insert idempotent
    (``on conflict do nothing``): two replicas storing the same file at once both succeed.

    A download reads the content in slices (``substring``). The column's storage is
    ``EXTERNAL``: kept out of line (TOAST) and uncompressed, so a slice reads only the TOAST
    chunks it covers (PDF, JPEG and PNG hardly compress anyway). A table made before that is
    switched at start; rows stored before keep how they were stored (a compressed one is
    decompressed from its start up to the slice: by the server, in the server's memory).
    """

    def __init__(self, params: dict[str, Any], schema: str) -> None:
        self.params = params
        self.table = f'"{schema}".blobs'
        with self._connect() as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " sha256 text PRIMARY KEY,"
                " size bigint NOT NULL,"
                " content bytea NOT NULL,"
                " stored_at timestamptz NOT NULL DEFAULT now())"
            )
            self._store_content_external(conn)

    def _store_content_external(self, conn: psycopg.Connection[Any]) -> None:
        # Only when it is not so yet: ALTER TABLE waits for the table's readers (a download in
        # progress in another replica), which a replica starting up need not do every time.
        row = conn.execute(
            "SELECT attstorage FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attname = 'content'",
            (self.table,),
        ).fetchone()
        if row is not None and row[0] != "e":
            conn.execute(f"ALTER TABLE {self.table} ALTER COLUMN content SET STORAGE EXTERNAL")

    def _connect(self) -> psycopg.Connection[Any]:
        # A connection per call: uploads are rare and large, and a fresh connection survives
        # a database restart without a pool to heal.
        return psycopg.connect(**self.params, autocommit=True)

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        with self._connect() as conn:
            # Committed (and so durable, with the server's fsync) before the upload is recorded.
            conn.execute(
                f"INSERT INTO {self.table} (sha256, size, content) VALUES (%s, %s, %s)"
                " ON CONFLICT (sha256) DO NOTHING",
                (digest, len(content), content),
            )
        return digest

    def get(self, sha256: str) -> bytes:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT content FROM {self.table} WHERE sha256 = %s", (sha256,)
            ).fetchone()
        if row is None:
            raise KeyError(sha256)
        return bytes(row[0])

    def open_chunks(self, sha256: str, chunk: int = CHUNK) -> Generator[bytes, None, None]:
        # One connection for the download, a query per slice: the rows never change (content
        # addressed), so slices read in separate statements belong to one file.
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT octet_length(content) FROM {self.table} WHERE sha256 = %s", (sha256,)
            ).fetchone()
            if row is None:
                raise KeyError(sha256)
            for start in range(0, int(row[0]), chunk):
                block = conn.execute(
                    f"SELECT substring(content FROM %s FOR %s) FROM {self.table} WHERE sha256 = %s",
                    (start + 1, chunk, sha256),
                    binary=True,
                ).fetchone()
                if block is None:
                    raise KeyError(sha256)
                yield bytes(block[0])

    def delete(self, sha256: str) -> None:
        with self._connect() as conn:
            conn.execute(f"DELETE FROM {self.table} WHERE sha256 = %s", (sha256,))


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
