"""Story in a real browser: the client is told by e-mail and signs in without a token (SPEC 8).

A contact is published on the platform's topic, the adviser starts a scenario, the client's
mail arrives at the real SMTP server, the client follows its link, asks for a sign-in mail,
confirms, sees the action points and uploads.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.mail import Mailpit, SmtpSink
from tests.browser.conftest import DESKTOP, TIMEOUT_MS
from tests.browser.test_stories import PNG, Screenshot, scenario_started_now
from tests.e2e.test_notifications import contact, mails_to
from tests.support import System, eventually, wait_until_notified_up

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _links(mail_html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', mail_html)


def _show_mail(page: Page, html: str, name: str, screenshot: Screenshot) -> None:
    """The mail's HTML part as a mail reader shows it, at desktop and phone width."""
    page.set_content(html)
    screenshot(page, name)


def test_a_client_is_mailed_signs_in_by_a_mailed_link_and_uploads(
    system: System, chromium: Browser, mail_server: Mailpit | SmtpSink, screenshot: Screenshot
) -> None:
    wait_until_notified_up(system)
    office = system.office()
    dossier_id = f"dossier-{uuid.uuid4().hex[:6]}"
    address = f"anna-{uuid.uuid4().hex[:8]}@example.nl"
    # Mails go out a second after the news (a short digest window, no quiet time).
    quick = {"digest_window": "PT1S", "quiet_hours": None, "quiet_days": []}
    assert system.put("notification", "/notification-settings", office.admin, json=quick).is_success
    # Published from another thread: Playwright's sync API holds this thread's event loop.
    with ThreadPoolExecutor(1) as other:
        other.submit(
            contact,
            system,
            office,
            dossier_id,
            email=address,
            client_id="klant-anna",
            name="Anna Visser",
        ).result()
    scenario_started_now(system, office, dossier_id, "identiteitsbewijs", "loonstrook")

    # The mail about the new action points arrives; its link carries no credential.
    def told() -> str:
        mails = [m for m in mails_to(mail_server, address) if "actiepunten" in str(m["Subject"])]
        assert len(mails) == 1, mails
        body = mails[0].get_body(("html",))
        assert body is not None
        return str(body.get_content())

    html = eventually(told, timeout=60, interval=1)
    context = chromium.new_context(viewport=DESKTOP, locale="nl-NL")
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    _show_mail(page, html, "client-mail-new-action-points", screenshot)
    [signin] = [link for link in _links(html) if "/app/signin" in link]
    assert "token" not in signin and "code" not in signin

    # The client follows it and asks for a sign-in mail.
    page.goto(signin.replace("&amp;", "&"))
    screenshot(page, "client-signin-asks-the-address")
    page.get_by_label("E-mailadres").fill(address)
    page.get_by_role("button", name=re.compile("link", re.IGNORECASE)).click()
    expect(page.get_by_text("Als dit adres bij ons bekend is")).to_be_visible()
    screenshot(page, "client-signin-link-sent")

    def confirm_link() -> str:
        mails = [m for m in mails_to(mail_server, address) if "aanmeld" in str(m["Subject"])]
        assert mails, "no sign-in mail yet"
        text = mails[-1].get_body(("plain",))
        assert text is not None
        found = re.search(r"http\S+/app/signin/confirm\?code=[\w-]+", text.get_content())
        assert found
        return found.group(0)

    link = eventually(confirm_link, timeout=30, interval=1)

    # The confirm link shows a button; only pressing it signs in, and it leads to the dossier.
    page.goto(link)
    expect(page.get_by_text("Aanmelden als")).to_be_visible()
    screenshot(page, "client-signin-confirm")
    page.get_by_role("button", name="Aanmelden").click()
    points = page.get_by_test_id("actiepunt")
    expect(points).to_have_count(2)
    assert dossier_id in page.url

    # Signed in, the client delivers the ID.
    identity = points.filter(has_text="Identiteitsbewijs")
    identity.get_by_label("Bestand kiezen voor").set_input_files(
        files=[{"name": "id.png", "mimeType": "image/png", "buffer": PNG}]
    )
    expect(identity).to_have_attribute("data-status", "completed")
    screenshot(page, "client-signed-in-by-mail-uploaded")
    context.close()
