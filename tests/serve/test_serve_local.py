"""`aliasctl serve` as a process on a local SQLite registry: cycles, faults, endpoints, SIGTERM."""

from __future__ import annotations

import gc
import json
import logging
import socket
import tracemalloc
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.reconcile import DriftMode
from controller.serve.cycle import Settings
from controller.serve.loop import Controller
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.support.browser import assert_no_sideways_scroll
from tests.support.fake_registry import FakeRegistry
from tests.support.serve_process import ServeProcess, get, metric, post, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

SECRET = "local-test-secret"


def test_serve_applies_survives_a_bad_commit_and_stops_cleanly(
    tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes": 3})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    serve = ServeProcess(
        tmp_path,
        [str(spec), "--registry-uri", sqlite_uri, "--interval", "1"],
        {"ALIASCTL_WEBHOOK_SECRET": SECRET},
    )
    try:
        wait_for(serve.ready, 60, "the first reconcile")
        assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}
        assert get(f"{serve.url}/healthz") == (200, "ok\n")
        text = serve.metrics()
        assert metric(text, "aliasctl_alias_in_sync", model="bikes", alias="champion") == 1
        status, body = get(f"{serve.url}/status.json")
        assert status == 200
        report = json.loads(body)
        assert (report["ready"], report["counts"]["in_sync"]) == (True, 1)
        assert report["aliases"] == [
            {"model": "bikes", "alias": "champion", "desired": 2, "live": 2}
            | {"state": "in_sync", "reason": None, "hold": None, "promoted_from": None}
        ]
        assert report["events"][0]["kind"] == "alias_moved"

        client_for(sqlite_uri).set_registered_model_alias("bikes", "champion", "1")  # by hand
        wait_for(lambda: live_aliases(sqlite_uri, "bikes") == {"champion": 2}, 60, "the heal")

        spec.write_text("models:\n  bikes:\n    aliases:\n      champion: [2\n")  # a bad commit

        def not_ready() -> str | None:
            status, body = get(f"{serve.url}/readyz")
            return body if status == 503 else None

        body = wait_for(not_ready, 60, "not ready")
        assert "aliases.yaml" in body
        assert get(f"{serve.url}/healthz")[0] == 200
        assert metric(serve.metrics(), "aliasctl_ready") == 0
        page_status, page = get(f"{serve.url}/")
        assert page_status == 200
        assert "bikes" in page  # the last known state stays on the page

        write_spec(spec, {"bikes": {"champion": 3}})  # the fix, with a promotion
        wait_for(lambda: live_aliases(sqlite_uri, "bikes") == {"champion": 3}, 60, "recovery")
        wait_for(serve.ready, 60, "ready again")
    finally:
        code = serve.stop()
    log = serve.log()
    assert code == 0, log
    assert "Traceback" not in log
    assert "stopped" in log


def test_a_webhook_without_the_secret_configured_is_refused(
    tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes": 1})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 1}})
    serve = ServeProcess(tmp_path, [str(spec), "--registry-uri", sqlite_uri], {})
    try:
        status, body = post(f"{serve.url}/webhooks/mlflow", b"{}", {})
        assert status == 401
        assert "secret" in body
    finally:
        assert serve.stop() == 0


def test_memory_stays_flat_over_a_thousand_cycles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each cycle finds and heals a drift (events, snapshot, records): nothing accumulates."""
    # pytest keeps every captured log record; an earlier --debug test may have left the
    # "aliasctl" logger at DEBUG. The controller's own memory is what is measured here.
    caplog.set_level(logging.WARNING, logger="aliasctl")
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    fake = FakeRegistry.with_models({"bikes": 3})
    settings = Settings(spec, "default", DriftMode.HEAL, 300)
    now = datetime(2026, 11, 26, tzinfo=UTC)
    controller = Controller(settings, fake, debounce_seconds=0, wall_clock=lambda: now)

    def cycles(count: int) -> None:
        for _ in range(count):
            fake.aliases["bikes"]["champion"] = 1
            controller.run_once(None)
        fake.writes.clear()  # the fake's own write log is test bookkeeping

    cycles(200)  # warm caches and fill the bounded event list
    gc.collect()
    # Only what the controller's own code (and the fake it writes to) allocates, at any
    # depth: the rest of the process (xdist, other tests' server threads) is not measured.
    ours = [
        tracemalloc.Filter(True, "*/controller/*", all_frames=True),
        tracemalloc.Filter(True, "*/tests/support/fake_registry.py", all_frames=True),
    ]
    tracemalloc.start(8)
    try:
        before = tracemalloc.take_snapshot().filter_traces(ours)
        cycles(1000)
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(ours)
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert controller.snapshot.cycles == 1200
    assert fake.aliases["bikes"]["champion"] == 2
    assert grown < 256 * 1024, f"grew {grown} bytes over 1000 cycles"


@pytest.mark.xdist_group("browser")
def test_the_status_page_of_a_running_controller_in_chromium(
    tmp_path: Path, sqlite_uri: str, phone_page: Page, artifacts: Path
) -> None:
    """Warn mode keeps a drift; a freeze blocks a promotion: the page shows both, on a phone."""
    seed(sqlite_uri, {"bikes": 3, "taxis": 2}, {"bikes": {"champion": 1}, "taxis": {"champion": 1}})
    spec = tmp_path / "aliases.yaml"
    spec.write_text(
        "models:\n  bikes:\n    aliases:\n      champion: 2\n"
        "  taxis:\n    aliases:\n      champion: 1\n"
    )
    serve = ServeProcess(
        tmp_path,
        [str(spec), "--registry-uri", sqlite_uri, "--interval", "1", "--drift", "warn"],
        {"ALIASCTL_WEBHOOK_SECRET": SECRET},
    )
    try:
        wait_for(lambda: live_aliases(sqlite_uri, "bikes") == {"champion": 2}, 60, "applied")
        client_for(sqlite_uri).set_registered_model_alias("bikes", "champion", "3")  # by hand
        spec.write_text(
            spec.read_text().replace("champion: 1", "champion: 2")
            + "freezes:\n  - name: test-freeze\n    from: 2020-01-01T00:00\n"
            "    to: 2999-01-01T00:00\n    reason: frozen for the test\n"
        )

        def both_shown() -> bool:
            page = get(f"{serve.url}/")[1]
            return "drifted" in page and "test-freeze" in page

        wait_for(both_shown, 60, "the drift and the freeze on the page")
        response = phone_page.goto(f"{serve.url}/")
        assert response is not None
        assert response.ok
        rows = {
            row.get_attribute("data-key"): row.get_attribute("data-state")
            for row in phone_page.query_selector_all("#aliases tr.alias")
        }
        assert rows == {"bikes@champion": "drifted", "taxis@champion": "blocked"}
        assert "test-freeze" in phone_page.inner_text("body")
        assert_no_sideways_scroll(phone_page)
        phone_page.screenshot(path=artifacts / "serve-status-phone.png", full_page=True)
    finally:
        assert serve.stop() == 0


def test_a_taken_port_is_one_line_and_exit_1(
    tmp_path: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "aliases.yaml", {})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = invoke(
            capsys,
            "serve",
            str(spec),
            "--registry-uri",
            sqlite_uri,
            "--listen",
            f"127.0.0.1:{port}",
        )
    assert code == 1
    assert err.strip().splitlines() == [f"Error: --listen 127.0.0.1:{port}: Address already in use"]


def test_a_new_revision_of_the_file_is_applied_at_once(tmp_path: Path, sqlite_uri: str) -> None:
    """git-sync swaps the checkout under a running serve: no interval, no webhook needed."""
    seed(sqlite_uri, {"bikes": 3})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    serve = ServeProcess(
        tmp_path,
        [str(spec), "--registry-uri", sqlite_uri, "--interval", "3600", "--watch", "0.2"],
        {"ALIASCTL_WEBHOOK_SECRET": SECRET},
    )
    try:
        wait_for(serve.ready, 60, "the first reconcile")
        assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}
        write_spec(spec, {"bikes": {"champion": 3}})  # the merge arrives
        wait_for(lambda: live_aliases(sqlite_uri, "bikes") == {"champion": 3}, 60, "the apply")
    finally:
        assert serve.stop() == 0
    assert "aliases.yaml changed: reconciling now" in serve.log()
