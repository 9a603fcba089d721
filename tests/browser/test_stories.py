"""Stories in a real browser (headless Chromium) against the running services.

The client uploads on the klantportaal; the adviser works the dossier check and starts
scenarios; what one does reaches the other's page without a reload (htmx polling).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support import Office, System, eventually, product

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
NewPage = Callable[[str], Page]
Screenshot = Callable[[Page, str], None]


def scenario_started_now(system: System, office: Office, dossier_id: str, *types: str) -> None:
    """The admin defines a mortgage scenario; the adviser starts it now; the portal has it."""
    scenario_id = system.define_scenario(office, "hypotheek", *types, name="Hypotheek")
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={"dossier_id": dossier_id, "subject": product(), "scenario_ids": [scenario_id]},
    )
    assert response.status_code == 201, response.text

    def on_the_portal() -> None:
        assert len(system.portal(office, dossier_id)["action_points"]) == len(types)

    eventually(on_the_portal, timeout=30)


def client_token(office: Office, dossier_id: str) -> str:
    return office.token("client", sub=f"klant-{dossier_id}", dossiers=[dossier_id])


def test_client_uploads_a_file_and_sees_the_point_completed(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    scenario_started_now(
        system, office, "dossier-1", "identiteitsbewijs", "werkgeversverklaring", "loonstrook"
    )
    page = new_page(client_token(office, "dossier-1"))

    # The client follows the sign-in link, sees its dossier and opens it.
    expect(page.get_by_role("heading", name="Mijn dossiers")).to_be_visible()
    page.get_by_role("link", name="Dossier dossier-1").click()
    points = page.get_by_test_id("actiepunt")
    expect(points).to_have_count(3)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    screenshot(page, "client-three-action-points")

    # A text file is refused with a clear message; nothing changes.
    points.nth(1).get_by_label("Bestand kiezen voor").set_input_files(
        files=[{"name": "notities.txt", "mimeType": "text/plain", "buffer": b"hallo"}]
    )
    expect(page.locator("#meldingen")).to_contain_text("Kies een PDF, JPEG of PNG")
    screenshot(page, "client-wrong-file-type")

    # By keyboard only, the client tabs to the first point's file picker, opens it with Enter
    # and picks a photo of the ID: it is sent at once.
    first_picker = points.first.get_by_label("Bestand kiezen voor")
    picker_id = first_picker.get_attribute("id")
    page.locator("body").focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == picker_id:
            break
    assert page.evaluate("document.activeElement.id") == picker_id
    with page.expect_file_chooser() as chooser:
        first_picker.press("Enter")  # focuses the picker (again, should polling redraw it)
    chooser.value.set_files(files=[{"name": "id.png", "mimeType": "image/png", "buffer": PNG}])

    # The point becomes completed, stays visible, and the progress moves.
    expect(page.locator("#meldingen")).to_be_empty()
    expect(points.first).to_have_attribute("data-status", "completed")
    expect(points).to_have_count(3)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "33")
    expect(page.get_by_text("Voortgang: 1 van 3 afgerond")).to_be_visible()
    screenshot(page, "client-one-completed")


def test_adviser_schedules_a_scenario_and_sees_the_documents_when_it_runs(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "koopakte", name="Hypotheek starter"
    )
    system.define_scenario(office, "verzekering", "polisblad", name="Opstalverzekering")
    page = new_page(office.token("adviser"))

    # The adviser opens the dossier by its number.
    page.get_by_label("Dossier openen op nummer").fill("dossier-7")
    page.get_by_role("button", name="Openen").click()
    expect(page.get_by_role("heading", name="Dossiercontrole")).to_be_visible()
    expect(page.get_by_test_id("document")).to_have_count(0)

    # A mortgage product: only the mortgage scenarios are offered.
    page.get_by_label("Nummer van product of afspraak").fill("hyp-7")
    page.get_by_label("Productsoort (scope)").fill("hypotheek")
    page.get_by_label("Hypotheek starter").check()
    expect(page.get_by_text("Opstalverzekering")).to_have_count(0)

    # Executed at a time a few seconds from now (Amsterdam time, as the adviser reads a clock).
    moment = datetime.now(AMSTERDAM) + timedelta(seconds=8)
    page.get_by_label("Op een datum en tijdstip").check()
    page.get_by_label("Datum", exact=True).fill(moment.strftime("%Y-%m-%d"))
    page.get_by_label("Tijdstip", exact=True).fill(moment.strftime("%H:%M:%S"))
    page.get_by_role("button", name="Scenario's starten").click()
    expect(page.get_by_text("Gestart: Hypotheek starter")).to_be_visible()
    screenshot(page, "adviser-scenario-scheduled")

    # When it runs, the two documents appear without a reload.
    documents = page.get_by_test_id("document")
    expect(documents).to_have_count(2)
    expect(documents.first).to_have_attribute("data-status", "requested")
    screenshot(page, "adviser-documents-appeared")


def test_adviser_removes_a_document_and_an_action_point_and_the_client_page_follows(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    scenario_started_now(
        system, office, "dossier-3", "identiteitsbewijs", "werkgeversverklaring", "loonstrook"
    )
    client = new_page(client_token(office, "dossier-3"))
    client.goto(client.url + "dossiers/dossier-3")
    expect(client.get_by_test_id("actiepunt")).to_have_count(3)

    adviser = new_page(office.token("adviser"))
    adviser.goto(adviser.url + "dossiers/dossier-3")
    documents = adviser.get_by_test_id("document")
    expect(documents).to_have_count(3)
    adviser.on("dialog", lambda dialog: dialog.accept())

    # Way 2a: the adviser removes the ID document, with its action point.
    documents.filter(has_text="identiteitsbewijs").get_by_role(
        "button", name="Document verwijderen"
    ).click()
    expect(documents).to_have_count(2)

    # Way 2b: only the action point of the employer's statement; the document stays.
    statement = documents.filter(has_text="werkgeversverklaring")
    statement.get_by_role("button", name="Alleen actiepunt verwijderen").click()
    expect(statement.get_by_test_id("actiepunt-stand")).to_contain_text("geen")
    expect(documents).to_have_count(2)
    screenshot(adviser, "adviser-removed-document-and-action-point")

    # The client's page follows without a reload: one action point left.
    expect(client.get_by_test_id("actiepunt")).to_have_count(1)
    expect(client.get_by_test_id("actiepunt")).to_contain_text("Loonstrook")
    screenshot(client, "client-after-removals")


def test_adviser_rejects_a_document_with_a_reason_and_the_client_sees_it_reopened(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    scenario_started_now(system, office, "dossier-4", "identiteitsbewijs", "loonstrook")
    client = new_page(client_token(office, "dossier-4"))
    client.goto(client.url + "dossiers/dossier-4")
    points = client.get_by_test_id("actiepunt")
    expect(points).to_have_count(2)

    # The client sends a photo of the ID; its action point is completed.
    identity = points.filter(has_text="Identiteitsbewijs")
    identity.get_by_label("Bestand kiezen voor").set_input_files(
        files=[{"name": "id.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(identity).to_have_attribute("data-status", "completed")
    expect(client.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "50")

    # The adviser sees it received and rejects it with a reason.
    adviser = new_page(office.token("adviser"))
    adviser.goto(adviser.url + "dossiers/dossier-4")
    document = adviser.get_by_test_id("document").filter(
        has=adviser.get_by_role("heading", name="Identiteitsbewijs")
    )
    expect(document).to_have_attribute("data-status", "uploaded")
    expect(document).to_contain_text("Ontvangen")
    expect(document.get_by_role("button", name="Goedkeuren")).to_be_visible()
    screenshot(adviser, "adviser-review-buttons")
    reason = "De achterkant van uw ID-kaart ontbreekt"
    document.get_by_label("Reden van afkeuren").fill(reason)
    document.get_by_role("button", name="Afkeuren").click()
    expect(adviser.locator(".notice")).to_contain_text("afgekeurd")
    expect(document).to_have_attribute("data-status", "rejected")
    expect(document).to_contain_text("Afgekeurd")
    expect(document).to_contain_text(reason)
    expect(document.get_by_test_id("actiepunt-stand")).to_contain_text("Nog aan te leveren")
    screenshot(adviser, "adviser-rejected-document")

    # The client's page follows without a reload: the point is open again, with the reason,
    # and it can be delivered again; the progress drops.
    expect(identity).to_have_attribute("data-status", "open")
    expect(identity).to_contain_text(reason)
    expect(identity.get_by_label("Bestand kiezen voor")).to_be_attached()
    expect(client.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    screenshot(client, "client-reopened-with-reason")


def test_a_client_trying_another_dossier_gets_a_404_page(
    system: System, new_page: NewPage, screenshot: Screenshot
) -> None:
    office = system.office()
    page = new_page(client_token(office, "dossier-mine"))

    response = page.goto(page.url + "dossiers/dossier-of-someone-else")

    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Dossier niet gevonden")).to_be_visible()
    screenshot(page, "client-other-dossier-404")


def test_a_client_follows_the_sign_in_link_from_an_e_mail_on_another_site(
    chromium: Browser, system: System, screenshot: Screenshot
) -> None:
    """A SameSite=Strict cookie is not sent on a navigation that another site started: the
    link in the e-mail must still land the client signed in on its dossiers."""
    office = system.office()
    link = system.signin_link(client_token(office, "dossier-mail"))
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    try:
        context.route(
            "https://mail.example/**",
            lambda route: route.fulfill(
                content_type="text/html", body=f'<a href="{link}">Naar uw dossier</a>'
            ),
        )
        page = context.new_page()
        page.goto("https://mail.example/inbox")
        page.get_by_role("link", name="Naar uw dossier").click()
        # The link only shows who would sign in; the button (on our origin) signs in.
        page.get_by_role("button", name="Aanmelden").click()

        expect(page.get_by_role("heading", name="Mijn dossiers")).to_be_visible()
        expect(page.get_by_role("link", name="Dossier dossier-mail")).to_be_visible()
        screenshot(page, "client-signed-in-from-e-mail")
    finally:
        context.close()
