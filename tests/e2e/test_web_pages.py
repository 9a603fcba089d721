"""The web pages over HTTP (SPEC section 6): sign-in, session cookie, CSRF and the error pages.

What a browser sees without running one (signing in itself: ``test_signin.py``): a form
posted without the page's CSRF token is refused; another client's dossier is a 404 page; a file
that is too large or of the wrong type is a clear message, never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.support import Office, System, eventually, product

pytestmark = pytest.mark.e2e

STREAMED_BYTES = 40 * 1024 * 1024
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


@contextmanager
def signed_in(system: System, token: str) -> Iterator[httpx.Client]:
    """A browser-like client that followed the sign-in link (cookies kept, no bearer header)."""
    with httpx.Client(base_url=system.url("portal"), timeout=15) as client:
        response = system.sign_in(client, token)
        assert response.status_code == 303, response.text
        yield client


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match, page
    return match.group(1)


def requested_documents(system: System, office: Office, dossier_id: str, count: int) -> list[dict]:
    scenario_id = system.define_scenario(
        office, "hypotheek", *[f"stuk_{n}" for n in range(count)], name="Hypotheek"
    )
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={"dossier_id": dossier_id, "subject": product(), "scenario_ids": [scenario_id]},
    )
    assert response.status_code == 201, response.text

    def all_on_the_portal() -> list[dict]:
        points = system.portal(office, dossier_id)["action_points"]
        assert len(points) == count, points
        return points

    return eventually(all_on_the_portal, timeout=30)


def test_a_form_posted_without_the_csrf_token_is_refused(system: System) -> None:
    office = system.office()
    [point] = requested_documents(system, office, "dossier-csrf", 1)
    with signed_in(system, office.token("client", dossiers=["dossier-csrf"])) as client:
        url = f"/app/dossiers/dossier-csrf/documents/{point['document_id']}/upload"
        files = {"file": ("id.png", PNG, "image/png")}

        refused = client.post(url, files=files)
        wrong = client.post(url, files=files, data={"csrf_token": "0" * 40})

        assert refused.status_code == 403
        assert wrong.status_code == 403
        assert "Verzoek geweigerd" in refused.text
        # Nothing was uploaded: the action point is still open.
        assert system.portal(office, "dossier-csrf")["action_points"][0]["status"] == "open"
        # With the page's token the same upload goes through.
        csrf = csrf_of(client.get("/app/dossiers/dossier-csrf").text)
        accepted = client.post(url, files=files, data={"csrf_token": csrf})
        assert accepted.status_code == 303, accepted.text


def test_a_client_gets_a_404_page_for_another_dossier(system: System) -> None:
    office = system.office()
    with signed_in(system, office.token("client", dossiers=["dossier-a"])) as client:
        mine = client.get("/app/dossiers/dossier-a")
        other = client.get("/app/dossiers/dossier-b")
        polled = client.get("/app/dossiers/dossier-b/action-points")
        unknown = client.get("/app/dossiers/dossier-a/nothing-here")

    assert mine.status_code == 200
    assert other.status_code == 404
    assert "Dossier niet gevonden" in other.text
    assert polled.status_code == 404
    assert unknown.status_code == 404
    assert "Pagina niet gevonden" in unknown.text


def test_wrong_type_and_too_large_files_get_clear_messages(system: System) -> None:
    office = system.office()
    [point] = requested_documents(system, office, "dossier-files", 1)
    with signed_in(system, office.token("client", dossiers=["dossier-files"])) as client:
        csrf = csrf_of(client.get("/app/dossiers/dossier-files").text)
        url = f"/app/dossiers/dossier-files/documents/{point['document_id']}/upload"

        text = client.post(
            url, files={"file": ("notes.txt", b"hello", "text/plain")}, data={"csrf_token": csrf}
        )
        huge = client.post(
            url,
            files={"file": ("scan.pdf", b"%PDF-" + b"0" * (21 * 1024 * 1024), "application/pdf")},
            data={"csrf_token": csrf},
        )
        partial = client.post(
            url,
            files={"file": ("notes.txt", b"hello", "text/plain")},
            data={"csrf_token": csrf},
            headers={"HX-Request": "true"},
        )

    assert text.status_code == 415
    assert "Kies een PDF, JPEG of PNG" in text.text
    assert huge.status_code == 413
    assert "te groot" in huge.text
    # htmx gets the message for the page's message area.
    assert partial.status_code == 415
    assert partial.headers["hx-retarget"] == "#meldingen"
    assert "Verkeerd bestandstype" in partial.text


def test_the_dossier_lists_show_only_what_the_user_may_see(system: System) -> None:
    office, other_office = system.office(), system.office()
    requested_documents(system, office, "dossier-lijst", 1)
    requested_documents(system, other_office, "dossier-elders", 1)

    with signed_in(system, office.token("adviser")) as adviser:
        staff_list = adviser.get("/app/").text
    with signed_in(system, office.token("client", dossiers=["dossier-lijst"])) as client:
        client_list = client.get("/app/").text

    assert "dossier-lijst" in staff_list
    assert "dossier-elders" not in staff_list
    assert "dossier-lijst" in client_list
    assert "0 van 1 actiepunten afgerond" in client_list


def test_adviser_uploads_and_copies_a_document_from_the_dossier_check(system: System) -> None:
    office = system.office()
    first, second = requested_documents(system, office, "dossier-kopie", 2)
    with signed_in(system, office.token("adviser")) as adviser:
        page = adviser.get("/app/dossiers/dossier-kopie").text
        csrf = csrf_of(page)
        base = "/app/dossiers/dossier-kopie/documents"
        htmx = {"HX-Request": "true"}

        uploaded = adviser.post(
            f"{base}/{first['document_id']}/upload",
            files={"file": ("paspoort.png", PNG, "image/png")},
            data={"csrf_token": csrf},
            headers=htmx,
        )
        copied = adviser.post(
            f"{base}/{second['document_id']}/copy",
            data={"csrf_token": csrf, "source_document_id": first["document_id"]},
            headers=htmx,
        )

    assert uploaded.status_code == 200, uploaded.text
    assert "paspoort.png" in uploaded.text
    assert copied.status_code == 200, copied.text
    assert "Het document is gekopieerd" in copied.text
    statuses = [d["status"] for d in system.documents(office, "dossier-kopie")]
    assert statuses == ["uploaded", "uploaded"]


def test_without_script_a_removal_asks_for_confirmation_first(system: System) -> None:
    office = system.office()
    [point] = requested_documents(system, office, "dossier-zeker", 1)
    with signed_in(system, office.token("adviser")) as adviser:
        csrf = csrf_of(adviser.get("/app/dossiers/dossier-zeker").text)
        url = f"/app/dossiers/dossier-zeker/documents/{point['document_id']}/remove"

        asked = adviser.post(url, data={"csrf_token": csrf})
        # The document is still there until the adviser confirms.
        assert len(system.documents(office, "dossier-zeker")) == 1
        confirmed = adviser.post(url, data={"csrf_token": csrf, "confirmed": "ja"})

    assert asked.status_code == 200
    assert "Weet u het zeker?" in asked.text
    assert confirmed.status_code == 303
    assert system.documents(office, "dossier-zeker") == []


def test_the_pages_stay_out_of_the_openapi_document(system: System) -> None:
    paths = httpx.get(system.url("portal") + "/openapi.json", timeout=10).json()["paths"]
    assert not [path for path in paths if path.startswith("/app")]


def test_a_chunked_upload_beyond_the_bound_is_refused_while_it_arrives(system: System) -> None:
    # Without a Content-Length the size is only known as the body arrives: the portal counts it
    # and answers 413 once past the upload limit plus the multipart framing, before the form is
    # parsed and before the client has sent it all.
    office = system.office()
    [point] = requested_documents(system, office, "dossier-stroom", 1)
    boundary = "grens"
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"'
        yield (head + "\r\nContent-Type: application/pdf\r\n\r\n%PDF-").encode()
        chunk = b"0" * (64 * 1024)
        while sent < STREAMED_BYTES:
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    with signed_in(system, office.token("client", dossiers=["dossier-stroom"])) as client:
        response = client.post(
            f"/app/dossiers/dossier-stroom/documents/{point['document_id']}/upload",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )

    assert response.status_code == 413, response.text[:500]
    assert "Bestand te groot" in response.text
    assert sent < STREAMED_BYTES, "the whole body was read before the refusal"
