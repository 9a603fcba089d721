"""Signing in without a token in the link (SPEC section 8), end to end on the real broker: the
sign-in page asks for the address, a known contact gets a one-time confirm link by mail (an
unknown address gets the same page and no mail), opening the link changes nothing, its button
signs in once, and signing out ends the session on the server."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

import httpx
import pytest

from devtools.mail import Mailpit, SmtpSink
from tests.e2e.test_notifications import contact, mails_to
from tests.e2e.test_web_pages import csrf_of
from tests.support import Office, System, eventually, wait_until_caught_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    wait_until_caught_up(system)


def ask_for_a_link(browser: httpx.Client, office: Office, email: str) -> httpx.Response:
    return browser.post(
        "/app/signin/link",
        data={"office": office.tenant, "email": email, "next": "/app/dossiers/d"},
    )


def link_in(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    match = re.search(r"http\S+/app/signin/confirm\?code=[\w-]+", body.get_content())
    assert match, body.get_content()
    return match.group(0)


def test_a_known_contact_gets_a_confirm_link_and_an_unknown_address_the_same_page(
    system: System, mail_server: Mailpit | SmtpSink
) -> None:
    office = system.office()
    dossier_id = f"dossier-{uuid.uuid4().hex[:6]}"
    known = f"Els-{uuid.uuid4().hex[:8]}@example.nl"
    unknown = f"niemand-{uuid.uuid4().hex[:8]}@example.nl"
    contact(system, office, dossier_id, email=known, client_id="klant-els", name="Els Bakker")
    with httpx.Client(base_url=system.url("portal"), timeout=15) as browser:
        page = browser.get("/app/signin", params={"office": office.tenant, "next": "/app/"})
        assert page.status_code == 200
        assert "E-mailadres" in page.text

        def asked() -> httpx.Response:
            # The contact reaches the portal's read model through Kafka: ask until it mails.
            answer = ask_for_a_link(browser, office, known.upper())
            assert mails_to(mail_server, known), "no mail yet"
            return answer

        # At most five asks (the address's limit): the mail follows each within a second or two.
        answered_known = eventually(asked, timeout=40, interval=8)
        answered_unknown = ask_for_a_link(browser, office, unknown)

    assert answered_known.status_code == answered_unknown.status_code == 200
    assert answered_known.text == answered_unknown.text
    assert "Als dit adres bij ons bekend is" in answered_known.text
    mail = mails_to(mail_server, known)[0]
    assert mail["Subject"] == "Uw aanmeldlink voor het klantportaal"
    text = mail.get_body(("plain",))
    assert text is not None and "Beste Els Bakker," in text.get_content()
    assert mail.get_body(("html",)) is not None
    assert link_in(mail).startswith(system.url("portal"))
    assert mails_to(mail_server, unknown) == []


def test_the_confirm_link_shows_a_button_and_only_its_post_signs_in_once(system: System) -> None:
    office = system.office()
    link = system.signin_link(office.token("adviser"))
    code = httpx.URL(link).params["code"]
    with httpx.Client(base_url=system.url("portal"), timeout=15) as browser:
        # Opened (by a person or a mail scanner), twice: a page with a button, no cookie.
        for _ in range(2):
            shown = browser.get(link)
            assert shown.status_code == 200
            assert "Aanmelden als adviser-1" in shown.text
            assert "set-cookie" not in shown.headers
        assert browser.get("/app/").status_code == 401

        signed_in = browser.post("/app/signin/confirm", data={"code": code})
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/app/"
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/app" in cookie
        assert code not in cookie
        assert browser.get("/app/").status_code == 200

    with httpx.Client(base_url=system.url("portal"), timeout=15) as other:
        # Used: the page and the button both refuse it.
        for answer in (other.get(link), other.post("/app/signin/confirm", data={"code": code})):
            assert answer.status_code == 401
            assert "Aanmelden mislukt" in answer.text
            assert "set-cookie" not in answer.headers
        unknown = other.post("/app/signin/confirm", data={"code": "x" * 43})
        assert unknown.status_code == 401


def test_signing_out_ends_the_session_on_the_server(system: System) -> None:
    office = system.office()
    with httpx.Client(base_url=system.url("portal"), timeout=15) as browser:
        assert system.sign_in(browser, office.token("adviser")).status_code == 303
        page = browser.get("/app/")
        assert "Dossier openen op nummer" in page.text
        session_cookie = dict(browser.cookies)

        signed_out = browser.post("/app/signout", data={"csrf_token": csrf_of(page.text)})
        assert signed_out.status_code == 200
        assert "Afgemeld" in signed_out.text

    # The old cookie, kept by someone, opens nothing any more.
    with httpx.Client(base_url=system.url("portal"), timeout=15, cookies=session_cookie) as kept:
        answer = kept.get("/app/")
        assert answer.status_code == 401
        assert "Sessie verlopen" in answer.text


def test_a_mail_bomb_is_refused_with_a_clear_page(system: System) -> None:
    office = system.office()
    address = f"doelwit-{uuid.uuid4().hex[:8]}@example.nl"
    with httpx.Client(base_url=system.url("portal"), timeout=15) as browser:
        answers = [ask_for_a_link(browser, office, address).status_code for _ in range(6)]
        refused = ask_for_a_link(browser, office, address)
    assert answers[:5] == [200] * 5
    assert answers[5] == 429
    assert refused.status_code == 429
    assert "Te veel aanvragen" in refused.text
