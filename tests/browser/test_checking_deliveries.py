"""Stories in a real browser: the adviser checks what was delivered (SPEC section 7).

The adviser's start page is the work queue; a client's upload appears in it, the adviser opens
the file in a new tab, approves the version shown, and the item leaves the queue. A client
cannot open a file of another dossier.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_stories import (
    PNG,
    NewPage,
    Screenshot,
    client_token,
    scenario_started_now,
)
from tests.support import System

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_adviser_sees_an_upload_in_the_queue_opens_the_file_approves_it_and_it_leaves(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    scenario_started_now(system, office, "dossier-q", "identiteitsbewijs", "loonstrook")
    adviser = new_page(office.token("adviser"))

    # Signed in, the adviser lands on the work queue: nothing to review yet.
    expect(adviser.get_by_role("heading", name="Werkvoorraad")).to_be_visible()
    to_review = adviser.get_by_test_id("queue-to_review")
    expect(to_review.get_by_test_id("count-to_review")).to_have_text("0")

    # The client delivers a photo of the ID on the portal.
    client = new_page(client_token(office, "dossier-q"))
    client.goto(client.url + "dossiers/dossier-q")
    identity = client.get_by_test_id("actiepunt").filter(has_text="Identiteitsbewijs")
    identity.get_by_label("Bestand kiezen voor").set_input_files(
        files=[{"name": "id.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(identity).to_have_attribute("data-status", "completed")

    # Without a reload, the upload appears in the adviser's queue.
    item = to_review.get_by_test_id("queue-item").filter(has_text="Identiteitsbewijs")
    expect(item).to_be_visible()
    expect(to_review.get_by_test_id("count-to_review")).to_have_text("1")
    expect(item).to_contain_text("dossier-q")
    screenshot(adviser, "adviser-work-queue-upload")

    # The item leads to the dossier; the delivered version opens in a new tab.
    item.get_by_role("link").click()
    document = adviser.get_by_test_id("document").filter(
        has=adviser.get_by_role("heading", name="Identiteitsbewijs")
    )
    expect(document).to_have_attribute("data-status", "uploaded")
    link = document.get_by_test_id("versie")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("target", "_blank")
    with adviser.expect_popup() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert "/file?version=1" in tab.url
    # What the tab shows is the client's file, with the dossier check's headers.
    answer = adviser.request.get(tab.url)
    assert answer.status == 200
    assert answer.body() == PNG
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["content-disposition"].startswith("inline")
    assert answer.headers["content-security-policy"] == "sandbox"
    assert answer.headers["x-content-type-options"] == "nosniff"
    tab.close()
    screenshot(adviser, "adviser-versions")

    # The adviser approves the version shown; the document leaves the queue.
    document.get_by_role("button", name="Goedkeuren").click()
    expect(document).to_have_attribute("data-status", "approved")
    adviser.goto(adviser.url.split("/app/")[0] + "/app/")
    to_review = adviser.get_by_test_id("queue-to_review")
    expect(to_review.get_by_test_id("count-to_review")).to_have_text("0")
    expect(to_review.get_by_test_id("queue-item")).to_have_count(0)
    screenshot(adviser, "adviser-work-queue-empty")


def test_a_client_cannot_open_a_file_of_another_dossier(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    scenario_started_now(system, office, "dossier-other", "identiteitsbewijs")
    [document] = system.documents(office, "dossier-other")
    uploaded = system.post(
        "dossiercontrole",
        f"/documents/{document['document_id']}/upload",
        office.adviser,
        files={"file": ("id.png", PNG, "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    page = new_page(client_token(office, "dossier-mine"))
    base = page.url.split("/app/")[0]
    file = f"/documents/{document['document_id']}/file?version=1"

    # By the other dossier's address, and under its own dossier's address: not found, both.
    for dossier in ("dossier-other", "dossier-mine"):
        response = page.goto(f"{base}/app/dossiers/{dossier}{file}")
        assert response is not None and response.status == 404
        assert PNG not in response.body()
    expect(page.get_by_role("heading", name="Niet gevonden")).to_be_visible()
    screenshot(page, "client-other-dossiers-file-404")
