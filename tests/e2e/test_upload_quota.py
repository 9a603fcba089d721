"""Story: a dossier holds uploads up to its quota (`ACTIEPUNTEN_MAX_DOSSIER_UPLOAD_BYTES`).

A client that keeps uploading cannot fill the disk through one dossier: past the quota an
upload is refused with 413 and a message that says why; other dossiers keep their own quota,
and a copy stores no new bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools import Broker
from tests.support import Office, System, eventually, product

pytestmark = pytest.mark.e2e

QUOTA = 1000


def pdf(size: int, fill: bytes = b"a") -> bytes:
    # An image of exactly ``size`` bytes: a PDF that small cannot be a real one (the dossier
    # check opens PDFs and refuses unreadable ones), and images are judged by their signature.
    head = b"\x89PNG\r\n\x1a\n"
    return head + fill * (size - len(head))


@pytest.fixture(scope="module")
def small_quota(
    kafka: Broker, own_store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    system = System(
        kafka.bootstrap_servers,
        tmp_path_factory.mktemp("quota-system"),
        idempotence=kafka.supports_idempotence,
        extra_env={**own_store_env, "ACTIEPUNTEN_MAX_DOSSIER_UPLOAD_BYTES": str(QUOTA)},
    )
    system.start("scenario", "dossiercontrole")
    yield system
    system.stop()


def requested(system: System, office: Office, dossier_id: str, *kinds: str) -> list[str]:
    for kind in kinds:
        response = system.post(
            "scenario",
            "/document-requests",
            office.adviser,
            json={"dossier_id": dossier_id, "subject": product(), "document_type": kind},
        )
        assert response.status_code == 201, response.text

    def arrived() -> list[dict[str, Any]]:
        documents = system.documents(office, dossier_id)
        assert len(documents) == len(kinds), documents
        return documents

    by_type = {d["document_type"]: d["document_id"] for d in eventually(arrived, timeout=120)}
    return [by_type[kind] for kind in kinds]


def upload(
    system: System, office: Office, dossier_id: str, document_id: str, content: bytes
) -> Any:
    return system.post(
        "dossiercontrole",
        f"/documents/{document_id}/upload",
        office.client(dossier_id),
        files={"file": ("scan.png", content, "image/png")},
    )


def test_uploads_past_the_dossier_quota_are_refused(small_quota: System) -> None:
    system, office = small_quota, small_quota.office()
    passport, payslip, statement = requested(
        system, office, "dossier-1", "identiteitsbewijs", "loonstrook", "bankafschrift"
    )

    # The first file fits; the second would pass the dossier's quota.
    assert upload(system, office, "dossier-1", passport, pdf(600)).status_code == 200
    refused = upload(system, office, "dossier-1", payslip, pdf(600, b"b"))
    assert refused.status_code == 413, refused.text
    assert "quota" in refused.json()["detail"] and "dossier-1" in refused.json()["detail"]
    documents = {d["document_id"]: d for d in system.documents(office, "dossier-1")}
    assert documents[payslip]["status"] == "requested"

    # A copy of the uploaded passport stores no new bytes: it is not counted.
    copied = system.post(
        "dossiercontrole",
        f"/documents/{statement}/copy",
        office.adviser,
        json={"source_document_id": passport},
    )
    assert copied.status_code == 200, copied.text
    # A smaller file still fits.
    assert upload(system, office, "dossier-1", payslip, pdf(300, b"c")).status_code == 200

    # Another dossier has a quota of its own.
    (other,) = requested(system, office, "dossier-2", "identiteitsbewijs")
    assert upload(system, office, "dossier-2", other, pdf(600, b"d")).status_code == 200
