"""Headless Chromium for the browser stories: Debian's `chromium` driven by Playwright.

Playwright's own browser download does not work on these machines, so the system binary is
launched by path (``ACTIEPUNTEN_CHROMIUM`` overrides it; `.ci/run` installs it). Each story
writes screenshots at desktop and phone width into ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import ROOT, System, wait_until_caught_up

ARTIFACTS = ROOT / "tests" / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Generous: the machine is shared, and an update travels dossiercontrole -> Kafka -> portal.
TIMEOUT_MS = 45_000


def chromium_path() -> str | None:
    return (
        os.environ.get("ACTIEPUNTEN_CHROMIUM")
        or shutil.which("chromium")
        or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    )


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Module scope: while Playwright's sync API is open, the main thread has a running event
    # loop, and every later test that calls asyncio.run() fails. Close it with the module.
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    wait_until_caught_up(system)


@pytest.fixture
def new_page(chromium: Browser, system: System) -> Iterator[Callable[[str], Page]]:
    """A fresh browser (own cookies) signed in as the person of ``token`` (a one-time link and
    its button), on /app/."""
    expect.set_options(timeout=TIMEOUT_MS)
    contexts = []
    # Script errors and refusals by the pages' Content-Security-Policy fail the story.
    broken: list[str] = []

    def open_signed_in(token: str) -> Page:
        context = chromium.new_context(viewport=DESKTOP, locale="nl-NL")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: broken.append(str(error)))
        page.on(
            "console",
            lambda message: (
                broken.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(system.signin_link(token))
        page.get_by_role("button", name="Aanmelden").click()
        page.wait_for_url("**/app/")
        return page

    yield open_signed_in
    for context in contexts:
        context.close()
    assert not broken, broken


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], None]:
    """Screenshots of the page at desktop and at phone width: tests/artifacts/<name>-<store>-*."""
    store = getattr(request.node, "callspec", None)
    suffix = store.params.get("store_env", "") if store else ""

    def take(page: Page, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=ARTIFACTS / f"{name}-{suffix}-{label}.png", full_page=True)
        page.set_viewport_size(DESKTOP)

    return take
