"""Two dossier-check replicas on different machines (here: different data directories) share
one PostgreSQL database: a file uploaded through one is there for the other, which copies it to
another document and lists it, while neither keeps the bytes on its own disk."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from devtools import Broker
from devtools.postgres import PostgresServer
from servicekit.crypto import KeyEncryptionKeys
from servicekit.settings import Settings
from services.dossiercontrole_service.blobstore import Blobs, BlobStore, PostgresBlobStore
from services.dossiercontrole_service.main import blob_store
from tests.support import System, eventually, pdf_file, product, start_replica, stored_blob

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_machines(kafka: Broker, postgres: PostgresServer, tmp_path: Path) -> Iterator[System]:
    """Scenario and dossier check on "machine A", a second dossier-check replica on "machine
    B" with a data dir of its own, both on one PostgreSQL database."""
    store = postgres.create_database(f"blobs_{uuid.uuid4().hex[:12]}")
    # Both replicas read the same key-encryption keys, as the Secret actiepunten-kek gives the
    # pods of a cluster (deploy/README.md): a KEK made per machine opens no other's data keys.
    keks = tmp_path / "secrets" / "keks"
    keks.parent.mkdir()
    keks.write_text(KeyEncryptionKeys.new_line())
    system = System(
        kafka.bootstrap_servers,
        tmp_path / "machine-a",
        idempotence=kafka.supports_idempotence,
        extra_env={**store, "ACTIEPUNTEN_KEK_FILE": str(keks)},
    )
    system.start("scenario", "dossiercontrole")
    try:
        start_replica(system, "dossiercontrole", data_dir=tmp_path / "machine-b")
        yield system
    finally:
        system.stop()


def files_on_disk(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and p.suffix != ".log"]


def test_an_upload_through_one_replica_is_copied_and_listed_through_the_other(
    two_machines: System, tmp_path: Path
) -> None:
    system = two_machines
    office = system.office()
    for document_type in ("identiteitsbewijs", "bankafschrift"):
        response = system.post(
            "scenario",
            "/document-requests",
            office.adviser,
            json={
                "dossier_id": "dossier-1",
                "subject": product(),
                "document_type": document_type,
            },
        )
        assert response.status_code == 201, response.text

    def requested(replica: str) -> dict[str, str]:
        response = system.get(replica, "/dossiers/dossier-1/documents", office.adviser)
        assert response.status_code == 200, response.text
        documents = {d["document_type"]: d["document_id"] for d in response.json()["documents"]}
        assert len(documents) == 2, documents
        return documents

    # A fresh consumer group reads the shared broker's history first: allow for that.
    documents = eventually(lambda: requested("dossiercontrole"), timeout=180, interval=0.5)

    # The client uploads its passport through replica A (machine A).
    content = pdf_file(uuid.uuid4().hex)
    digest = hashlib.sha256(content).hexdigest()
    response = system.post(
        "dossiercontrole",
        f"/documents/{documents['identiteitsbewijs']}/upload",
        office.client("dossier-1"),
        files={"file": ("paspoort.pdf", content, "application/pdf")},
    )
    assert response.status_code == 200, response.text

    # The adviser's next request lands on replica B (machine B): it copies the passport to the
    # bank statement's place, and lists both with the same file.
    response = system.post(
        "dossiercontrole-2",
        f"/documents/{documents['bankafschrift']}/copy",
        office.adviser,
        json={"source_document_id": documents["identiteitsbewijs"]},
    )
    assert response.status_code == 200, response.text
    listed = system.get("dossiercontrole-2", "/dossiers/dossier-1/documents", office.adviser)
    assert listed.status_code == 200, listed.text
    files = {d["document_type"]: d["file"] for d in listed.json()["documents"]}
    assert files["identiteitsbewijs"]["sha256"] == digest
    assert files["bankafschrift"]["sha256"] == digest
    assert files["bankafschrift"]["copied_from"] == documents["identiteitsbewijs"]

    # The bytes are in the database both replicas share, not on either machine's disk.
    assert stored_blob(system, digest) == content
    assert files_on_disk(tmp_path / "machine-a") == []
    assert files_on_disk(tmp_path / "machine-b") == []


def store_config(persistence: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The dossier check's settings on a fresh folder (SQLite) or a fresh database."""
    postgres_settings: dict[str, str] = {}
    if persistence == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        env = server.create_database(f"blobs_{uuid.uuid4().hex[:12]}")
        prefix = "ACTIEPUNTEN_POSTGRES_"
        postgres_settings = {k.removeprefix(prefix): v for k, v in env.items() if prefix in k}
    return Settings(
        service="dossiercontrole",
        data_dir=tmp_path,
        kafka_bootstrap_servers="unused:9092",
        jwt_secret="unused",
        persistence=persistence,
        postgres=postgres_settings,
    )


@pytest.mark.parametrize("persistence", ["sqlite", "postgres"])
def test_each_store_keeps_a_file_once_under_its_hash(
    persistence: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # The one interface, over the folder (SQLite) and the shared table (PostgreSQL).
    config = store_config(persistence, request, tmp_path)
    blobs: Blobs = blob_store(config)
    assert isinstance(blobs, PostgresBlobStore if persistence == "postgres" else BlobStore)
    content = b"%PDF-1.4\n%" + uuid.uuid4().hex.encode() + b"\n%%EOF\n"

    # Two replicas storing the same file at the same moment both succeed, with one copy.
    with ThreadPoolExecutor(4) as pool:
        digests = set(pool.map(lambda _: blobs.put(content), range(8)))
    assert digests == {hashlib.sha256(content).hexdigest()}
    [digest] = digests
    assert blob_store(config).get(digest) == content  # another process of the service
    with pytest.raises(KeyError):
        blobs.get("0" * 64)


@pytest.mark.parametrize("persistence", ["sqlite", "postgres"])
def test_each_store_reads_a_file_back_a_chunk_at_a_time(
    persistence: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    blobs = blob_store(store_config(persistence, request, tmp_path))
    content = b"%PDF-1.4\n" + os.urandom(1024 * 1024 + 7)  # not a whole number of chunks
    digest = blobs.put(content)

    chunks = list(blobs.open_chunks(digest, chunk=64 * 1024))

    assert b"".join(chunks) == content
    assert len(chunks) == 17 and max(len(c) for c in chunks) == 64 * 1024
    # Nothing stored under a hash: the download learns it at its first chunk.
    missing = blobs.open_chunks("0" * 64)
    with pytest.raises(KeyError):
        next(missing)


def test_the_postgresql_table_keeps_files_uncompressed_out_of_line_also_when_made_before(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Slices of an uncompressed TOAST value are read without the whole value: the column's
    storage is EXTERNAL, also in a table made by an older version (switched at start)."""
    config = store_config("postgres", request, tmp_path)
    schema = f"actiepunten_{config.service}"
    with psycopg.connect(**config.postgres_params(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(  # as the store made it before
            f'CREATE TABLE "{schema}".blobs (sha256 text PRIMARY KEY, size bigint NOT NULL,'
            " content bytea NOT NULL, stored_at timestamptz NOT NULL DEFAULT now())"
        )

    blob_store(config)

    with psycopg.connect(**config.postgres_params()) as conn:
        row = conn.execute(
            "SELECT attstorage FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attname = 'content'",
            (f'"{schema}".blobs',),
        ).fetchone()
    assert row == ("e",)
