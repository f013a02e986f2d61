"""Holds in `aliasctl serve`: a HELD state, HOLD_FOUND and HOLD_LIFTED once each, the
`aliasctl_alias_held` gauge, the status page; at the seam (the fake) and as a process on a
real SQLite registry, the page read in Chromium."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.core.holds import Hold, hold_tag
from controller.core.state import Record
from controller.reconcile import DriftMode
from controller.registry.mlflow.adapter import MlflowRegistry
from controller.serve.cycle import Settings, run_cycle
from controller.serve.notify import json_body, slack_body
from controller.serve.status import AliasState, EventKind, Snapshot
from tests.conftest import invoke, live_aliases, seed, write_spec
from tests.support.browser import assert_no_sideways_scroll
from tests.support.fake_registry import FakeRegistry
from tests.support.serve_process import ServeProcess, get, metric, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
FAILED = Hold("champion", 4, 3, "Failed", "errors Failed (3/3)", "2026-12-05T11:00:00Z", True)


def settings(file: Path) -> Settings:
    return Settings(file=file, instance="default", drift=DriftMode.HEAL, interval_seconds=300)


def empty(file: Path) -> Snapshot:
    return Snapshot(str(file), "fake://registry", "default", "heal", 300, NOW)


@pytest.fixture
def fake() -> FakeRegistry:
    """bikes@champion rolled back to 3 after version 4 failed; the hold says so."""
    fake = FakeRegistry.with_models({"bikes": 5}, {"bikes": {"champion": 3}})
    fake.records["bikes"] = Record({"champion": 3})
    fake.model_tags_of["bikes"] = {hold_tag("champion"): FAILED.encode()}
    return fake


def test_a_held_alias_is_held_with_its_hold_and_announced_once(
    tmp_path: Path, fake: FakeRegistry
) -> None:
    file = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 4}})
    first = run_cycle(settings(file), fake, empty(file), None, NOW)
    (status,) = first.snapshot.aliases
    assert (status.state, status.desired, status.live, status.hold) == (
        AliasState.HELD, 4, 3, FAILED,
    )  # fmt: skip
    assert status.reason == (
        "held at 3: version 4 failed analysis, rolled back "
        "(Failed since 2026-12-05T11:00:00Z: errors Failed (3/3))"
    )
    assert fake.aliases["bikes"] == {"champion": 3}
    (event,) = first.events
    assert (event.kind, event.model, event.alias, event.before, event.after) == (
        EventKind.HOLD_FOUND, "bikes", "champion", 4, 3,
    )  # fmt: skip
    assert json.loads(json_body(event))["kind"] == "hold_found"
    assert (
        ":octagonal_sign: aliasctl: hold found bikes@champion 4 -&gt; 3: held at 3"
        in (json.loads(slack_body(event))["text"])
    )
    body = first.snapshot.to_json()
    assert body["counts"]["held"] == 1  # type: ignore[index]
    assert body["aliases"][0]["hold"]["version"] == 4  # type: ignore[index]
    second = run_cycle(settings(file), fake, first.snapshot, None, NOW)
    assert second.events == ()
    assert second.snapshot.aliases[0].state is AliasState.HELD


def test_a_released_hold_is_lifted_and_the_alias_moves_to_the_file(
    tmp_path: Path, fake: FakeRegistry
) -> None:
    file = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 4}})
    first = run_cycle(settings(file), fake, empty(file), None, NOW)
    del fake.model_tags_of["bikes"][hold_tag("champion")]  # aliasctl hold release
    report = run_cycle(settings(file), fake, first.snapshot, None, NOW)
    assert fake.aliases["bikes"] == {"champion": 4}
    assert report.snapshot.aliases[0].state is AliasState.IN_SYNC
    lifted = [e for e in report.events if e.kind is EventKind.HOLD_LIFTED]
    assert [(e.before, e.after, e.reason) for e in lifted] == [
        (4, 4, "the hold was released (aliasctl hold release)")
    ]


def test_the_revert_lifts_the_hold_and_serve_removes_its_tag(
    tmp_path: Path, fake: FakeRegistry
) -> None:
    file = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 4}})
    first = run_cycle(settings(file), fake, empty(file), None, NOW)
    write_spec(file, {"bikes": {"champion": 3}})  # the revert: nothing to move
    report = run_cycle(settings(file), fake, first.snapshot, None, NOW)
    assert hold_tag("champion") not in fake.model_tags_of["bikes"]
    assert report.snapshot.aliases[0].state is AliasState.IN_SYNC
    assert [(e.kind, e.reason) for e in report.events] == [
        (EventKind.HOLD_LIFTED, "the file names version 3")
    ]


def test_an_unreadable_hold_is_not_taken_for_a_lifted_one(
    tmp_path: Path, fake: FakeRegistry
) -> None:
    file = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 4}})
    first = run_cycle(settings(file), fake, empty(file), None, NOW)
    fake.model_tags_of["bikes"][hold_tag("champion")] = "{garbled"
    report = run_cycle(settings(file), fake, first.snapshot, None, NOW)
    assert report.events == ()
    assert fake.aliases["bikes"] == {"champion": 3}


@pytest.mark.xdist_group("browser")
def test_serve_shows_a_held_alias_on_status_metrics_and_the_page_until_released(
    tmp_path: Path,
    sqlite_uri: str,
    desktop_page: Page,
    artifacts: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(sqlite_uri, {"bikes": 4})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 3}})
    assert invoke(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    # Version 4 failed its analysis and was rolled back: the hold as analysis writes it.
    MlflowRegistry(sqlite_uri).set_model_tag("bikes", hold_tag("champion"), FAILED.encode())
    write_spec(spec, {"bikes": {"champion": 4}})
    serve = ServeProcess(tmp_path, [str(spec), "--registry-uri", sqlite_uri, "--interval", "1"], {})
    try:
        wait_for(serve.ready, 60, "the first reconcile")
        status, body = get(f"{serve.url}/status.json")
        assert status == 200
        report = json.loads(body)
        (alias,) = report["aliases"]
        assert (alias["state"], alias["desired"], alias["live"]) == ("held", 4, 3)
        assert alias["hold"] | {"since": None} == {
            "model": "bikes", "alias": "champion", "version": 4, "held_at": 3, "phase": "Failed",
            "reason": "errors Failed (3/3)", "since": None, "rolled_back": True, "commit": None,
        }  # fmt: skip
        assert report["counts"]["held"] == 1
        assert [e["kind"] for e in report["events"]] == ["hold_found"]
        text = serve.metrics()
        assert metric(text, "aliasctl_alias_held", model="bikes", alias="champion") == 1
        assert metric(text, "aliasctl_alias_in_sync", model="bikes", alias="champion") == 0
        assert metric(text, "aliasctl_aliases", state="held") == 1
        assert metric(text, "aliasctl_events_total", kind="hold_found") == 1

        response = desktop_page.goto(f"{serve.url}/")
        assert response is not None
        assert response.ok
        row = desktop_page.query_selector('#aliases tr.alias[data-key="bikes@champion"]')
        assert row is not None
        assert row.get_attribute("data-state") == "held"
        shown = " ".join(row.inner_text().split())
        assert "v4 v3 ‖ held held at 3: version 4 failed analysis, rolled back" in shown
        assert "hold found" in desktop_page.inner_text("#events")
        assert_no_sideways_scroll(desktop_page)
        desktop_page.screenshot(path=artifacts / "serve-held-desktop.png", full_page=True)

        code, _, err = invoke(
            capsys, "hold", "release", "bikes@champion", str(spec),
            "--registry-uri", sqlite_uri, "--reason", "the alert was wrong",
        )  # fmt: skip
        assert code == 0, err
        wait_for(lambda: live_aliases(sqlite_uri, "bikes") == {"champion": 4}, 60, "the move")

        def lifted() -> bool:
            text = serve.metrics()
            return metric(text, "aliasctl_alias_held", model="bikes", alias="champion") == 0

        wait_for(lifted, 60, "the held gauge to drop")
        report = json.loads(get(f"{serve.url}/status.json")[1])
        assert report["aliases"][0]["state"] == "in_sync"
        assert "hold_lifted" in [e["kind"] for e in report["events"]]
    finally:
        assert serve.stop() == 0
