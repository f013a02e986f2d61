"""The status page in a real headless Chromium, at desktop and at phone size.

Served over HTTP from 127.0.0.1, read through the DOM, screenshots kept in test-artifacts/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from controller.serve.page import render_page
from tests.support.browser import assert_no_sideways_scroll, serve_html
from tests.support.page_samples import HOSTILE, NOW, SHA, failing, fresh, realistic

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Dialog, Page

# One worker opens the browser once for all of them.
pytestmark = pytest.mark.xdist_group("browser")

ROWS = """() => [...document.querySelectorAll('#aliases tr.alias')].map(row => ({
    key: row.dataset.key, state: row.dataset.state, text: row.innerText,
    display: getComputedStyle(row).display, right: row.getBoundingClientRect().right}))"""


def load(page: Page, html: str) -> list[str]:
    """Open `html` served over HTTP; returns the dialogs it opened (a script that ran)."""
    dialogs: list[str] = []

    def opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", opened)
    with serve_html({"/": html}) as base:
        response = page.goto(f"{base}/")
        assert response is not None
        assert response.ok
    return dialogs


def check_content(page: Page) -> list[dict[str, Any]]:
    snapshot = realistic()
    health = page.inner_text("#health")
    assert page.get_attribute("#health", "data-ready") == "true"
    for expected in ("Ready", "blocked", "40 s ago", "prod-eu", "heals drift, resync every 5 min"):
        assert expected in health
    assert "https://mlflow.example.invalid/" in health
    assert SHA[:7] in health
    rows: list[dict[str, Any]] = page.evaluate(ROWS)
    assert [(r["key"], r["state"]) for r in rows] == [
        (a.key, str(a.state)) for a in snapshot.aliases
    ]
    text = {r["key"]: " ".join(r["text"].split()) for r in rows}
    assert "v4" in text["fraud-detector@champion"]
    assert "v6" in text["fraud-detector@champion"]
    assert "drifted" in text["fraud-detector@champion"]
    assert "blocked" in text["search-ranker@production"]
    assert "not declared" in text["fraud-detector@shadow"]
    assert f"{HOSTILE}@prod" in {r["key"] for r in rows}  # the name, as text
    assert page.evaluate("document.scripts.length") == 0
    assert page.inner_text("#events ol li:first-child").endswith("moved outside aliasctl")
    return rows


def test_page_at_desktop_size(desktop_page: Page, artifacts: Path) -> None:
    dialogs = load(desktop_page, render_page(realistic(), NOW))
    assert dialogs == []
    rows = check_content(desktop_page)
    assert {r["display"] for r in rows} == {"table-row"}
    assert desktop_page.is_visible("#aliases thead")
    desktop_page.screenshot(path=artifacts / "page-desktop.png", full_page=True)


def test_page_at_phone_size_has_cards_and_no_sideways_scroll(
    phone_page: Page, artifacts: Path
) -> None:
    dialogs = load(phone_page, render_page(realistic(), NOW))
    assert dialogs == []
    assert phone_page.evaluate("window.innerWidth") == 390
    rows = check_content(phone_page)
    assert {r["display"] for r in rows} == {"grid"}  # one card per alias
    assert max(r["right"] for r in rows) <= 390
    assert not phone_page.is_visible("#aliases thead")
    assert_no_sideways_scroll(phone_page)
    phone_page.screenshot(path=artifacts / "page-phone.png", full_page=True)


def test_page_follows_a_dark_system_theme(phone_page: Page, artifacts: Path) -> None:
    phone_page.emulate_media(color_scheme="dark")
    load(phone_page, render_page(failing(), NOW))
    background = phone_page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    assert "Not ready" in phone_page.inner_text("#health")
    assert_no_sideways_scroll(phone_page)
    phone_page.screenshot(path=artifacts / "page-phone-dark.png", full_page=True)


def test_fresh_page_at_phone_size(phone_page: Page, artifacts: Path) -> None:
    load(phone_page, render_page(fresh(), NOW))
    assert phone_page.get_attribute("#health", "data-ready") == "false"
    assert "Not ready" in phone_page.inner_text("#health")
    assert phone_page.inner_text("#aliases .empty") == "Waiting for the first cycle."
    assert phone_page.inner_text("#events .empty") == "No events yet."
    assert_no_sideways_scroll(phone_page)
    phone_page.screenshot(path=artifacts / "page-phone-fresh.png", full_page=True)
