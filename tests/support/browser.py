"""A real headless browser for page tests: Debian's Chromium, driven by the playwright wheel.

Playwright's own browser download does not work everywhere, so the Makefile installs the
distribution's Chromium (`make browser`, a prerequisite of `make pytest`) and this drives it
by path. Tests never skip when it is missing: they fail and say how to install it.

Fixtures (imported by conftest.py): `chromium` (one browser per session and xdist worker),
`desktop_page` and `phone_page` (a fresh context each), `artifacts` (test-artifacts/ at the
repository root, kept after the run for screenshots). `serve_html` serves fixed pages;
`assert_no_sideways_scroll` checks a loaded page fits its viewport.
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
# Headless in a sandboxed container as root, and nothing that phones home: the machine's
# closed network refuses those connections, and Chromium retries them at every start.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium; playwright gives it a fresh user-data dir in a temp dir."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (slow import, few tests)

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def desktop_page(chromium: Browser) -> Iterator[Page]:
    with _page(chromium, DESKTOP) as page:
        yield page


@pytest.fixture
def phone_page(chromium: Browser) -> Iterator[Page]:
    """An iPhone-sized page (390x844 CSS pixels, mobile viewport rules, touch)."""
    with _page(chromium, PHONE) as page:
        yield page


@contextlib.contextmanager
def _page(browser: Browser, options: Mapping[str, object]) -> Iterator[Page]:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go; outside pytest's temp dirs so they survive the run (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def assert_no_sideways_scroll(page: Page) -> None:
    """Nothing wider than the viewport: a phone user never has to pan the page sideways."""
    wide, view = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert wide <= view, f"the page is {wide} px wide in a {view} px viewport"


@contextlib.contextmanager
def serve_html(pages: Mapping[str, str]) -> Iterator[str]:
    """Serve fixed HTML by path on 127.0.0.1 from a thread; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
