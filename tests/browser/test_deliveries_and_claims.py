"""Stories in a real browser: real needs lists (SPEC section 9).

The client sends both sides of an ID card at once and says the divorce papers do not apply;
the adviser opens each side and the merged PDF, and waives the divorce papers.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import expect
from pypdf import PdfReader, PdfWriter

from tests.browser.test_stories import NewPage, Screenshot, client_token, scenario_started_now
from tests.support import System

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def photo(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 400), colour).save(out, "JPEG")
    return out.getvalue()


def protected_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt("geheim")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_client_sends_both_sides_of_an_id_at_once_and_says_a_document_does_not_apply(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    scenario_started_now(
        system, office, "dossier-nvt", "identiteitsbewijs", "echtscheidingsconvenant"
    )
    client = new_page(client_token(office, "dossier-nvt"))
    client.goto(client.url + "dossiers/dossier-nvt")
    identity = client.get_by_test_id("actiepunt").filter(has_text="Identiteitsbewijs")
    divorce = client.get_by_test_id("actiepunt").filter(has_text="Echtscheidingsconvenant")
    screenshot(client, "client-two-points-to-deliver")

    # Both sides of the ID card, chosen together: one delivery.
    identity.get_by_label("Bestand kiezen voor").set_input_files(
        files=[
            {"name": "voorkant.jpg", "mimeType": "image/jpeg", "buffer": photo((200, 40, 40))},
            {"name": "achterkant.jpg", "mimeType": "image/jpeg", "buffer": photo((40, 40, 200))},
        ]
    )
    expect(client.locator("#actiepunten")).to_contain_text("uw 2 bestanden zijn ontvangen")
    expect(identity).to_have_attribute("data-status", "completed")
    # Until the adviser looked at it, a forgotten page can still be added.
    expect(identity.get_by_label("Bestand toevoegen aan")).to_be_attached()
    screenshot(client, "client-id-both-sides")

    # A PDF with a password is refused in Dutch; nothing changes.
    divorce.get_by_label("Bestand kiezen voor").set_input_files(
        files=[{"name": "convenant.pdf", "mimeType": "application/pdf", "buffer": protected_pdf()}]
    )
    expect(client.locator("#meldingen")).to_contain_text("beveiligd met een wachtwoord")
    expect(divorce).to_have_attribute("data-status", "open")
    screenshot(client, "client-protected-pdf")

    # The client was never married: "niet van toepassing", with a note.
    divorce.get_by_text("Niet van toepassing?", exact=True).click()
    divorce.get_by_label("Toelichting niet van toepassing").fill("Ik ben nooit getrouwd geweest.")
    divorce.get_by_role("button", name="Niet van toepassing melden").click()
    expect(divorce).to_have_attribute("data-document-status", "not_applicable_claimed")
    expect(divorce).to_contain_text("Uw adviseur beoordeelt dit")
    expect(client.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    screenshot(client, "client-not-applicable-claimed")

    # The adviser sees both sides, each on its own and as one PDF, and the client's note.
    adviser = new_page(office.token("adviser"))
    adviser.goto(adviser.url + "dossiers/dossier-nvt")
    id_card = adviser.get_by_test_id("document").filter(
        has=adviser.get_by_role("heading", name="Identiteitsbewijs")
    )
    expect(id_card.get_by_test_id("deel")).to_have_count(2)
    merged = id_card.get_by_test_id("samengevoegd")
    expect(merged).to_have_attribute("target", "_blank")
    answer = adviser.request.get(adviser.url.split("/app/")[0] + str(merged.get_attribute("href")))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(answer.body())).pages) == 2
    papers = adviser.get_by_test_id("document").filter(
        has=adviser.get_by_role("heading", name="Echtscheidingsconvenant")
    )
    expect(papers).to_have_attribute("data-status", "not_applicable_claimed")
    expect(papers.get_by_test_id("toelichting")).to_contain_text("nooit getrouwd")
    screenshot(adviser, "adviser-claim-and-parts")

    # The adviser agrees: the document is waived, and the client sees it.
    papers.get_by_role("button", name="Niet van toepassing accepteren").click()
    expect(papers).to_have_attribute("data-status", "waived")
    screenshot(adviser, "adviser-waived")
    expect(divorce).to_have_attribute("data-document-status", "waived")
    expect(divorce).to_contain_text("niet nodig is")
    screenshot(client, "client-waived")
