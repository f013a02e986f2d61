"""Windows and freezes end to end: a real SQLite registry, the CLI's clock fixed through main()."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.core.state import Record
from tests.conftest import client_for, invoke, live_aliases, seed

if TYPE_CHECKING:
    from pathlib import Path

FROZEN = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)  # a Thursday inside the freeze
OPEN = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # Thursday 11:00 in Berlin, no freeze
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
FREEZE_MESSAGE = (
    "bikes@champion: frozen by 'year-end' (holiday code freeze) until 2027-01-05 00:00 CET"
)
REASON = "INC-42: revert a broken model"


def spec(path: Path, champion: int) -> Path:
    path.write_text(
        f"""models:
  bikes:
    aliases:
      champion: {champion}
freezes:
  - name: year-end
    from: 2026-12-20T00:00
    to: 2027-01-05T00:00
    timezone: Europe/Berlin
    reason: holiday code freeze
policies:
  champion:
    windows:
      allow: ["mon-thu 09:00-16:00"]
      timezone: Europe/Berlin
"""
    )
    return path


@pytest.fixture
def started(tmp_path: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]) -> Path:
    """bikes@champion applied at 2 while the window was open; the file now says 3."""
    seed(sqlite_uri, {"bikes": 3})
    file = spec(tmp_path / "aliases.yaml", 2)
    assert invoke(capsys, "apply", str(file), "--registry-uri", sqlite_uri, now=OPEN)[0] == 0
    return spec(file, 3)


def record(uri: str) -> Record:
    found = Record.from_tags(client_for(uri).get_registered_model("bikes").tags)
    assert found is not None
    return found


def test_frozen_plan_and_apply_are_refused_and_write_nothing(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = invoke(capsys, "plan", str(started), "--registry-uri", sqlite_uri, now=FROZEN)
    assert code == 1
    assert FREEZE_MESSAGE in out

    code, _, err = invoke(capsys, "apply", str(started), "--registry-uri", sqlite_uri, now=FROZEN)
    assert code == 1
    assert FREEZE_MESSAGE in err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}
    assert "break_glass" not in record(sqlite_uri).source


def test_outside_the_window_names_the_next_opening(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("plan", str(started), "--registry-uri", sqlite_uri, "-o", "json")
    code, out, _ = invoke(capsys, *args, now=SATURDAY)
    assert code == 1
    body = json.loads(out)
    assert body["problems"] == [
        "bikes@champion: outside its promotion window (mon-thu 09:00-16:00 Europe/Berlin); "
        "next opens 2026-11-30 09:00 CET"
    ]
    assert body["break_glass"] is None


def test_break_glass_lets_the_move_through_and_records_why(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = ("--registry-uri", sqlite_uri)
    code, out, _ = invoke(capsys, "plan", str(started), *uri, "--break-glass", REASON, now=FROZEN)
    assert code == 0
    assert f"Break glass: {REASON!r} overrides promotion windows and freezes:" in out
    assert f"! {FREEZE_MESSAGE}" in out

    args = ("apply", str(started), *uri, "--break-glass", REASON, "-o", "json")
    code, out, _ = invoke(capsys, *args, now=FROZEN)
    assert code == 0
    assert json.loads(out)["break_glass"] == {"reason": REASON, "overridden": [FREEZE_MESSAGE]}
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3}
    assert record(sqlite_uri).source["break_glass"] == REASON


def test_break_glass_never_overrides_other_gates(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec(started, 7)  # no such version
    args = ("plan", str(started), "--registry-uri", sqlite_uri, "--break-glass", REASON)
    code, out, _ = invoke(capsys, *args, now=FROZEN)
    assert code == 1
    assert "version 7" in out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}


def test_an_empty_reason_is_refused(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("apply", str(started), "--registry-uri", sqlite_uri, "--break-glass", " ")
    code, _, err = invoke(capsys, *args, now=FROZEN)
    assert code == 1
    assert "give a reason" in err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}


def test_healing_drift_during_a_freeze_needs_no_break_glass(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec(started, 2)  # the file still says what was applied
    client_for(sqlite_uri).set_registered_model_alias("bikes", "champion", "1")  # by hand
    code, out, _ = invoke(capsys, "apply", str(started), "--registry-uri", sqlite_uri, now=FROZEN)
    assert code == 0, out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}
    assert "break_glass" not in record(sqlite_uri).source


def test_a_plan_saved_with_break_glass_applies_with_its_reason(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    uri = ("--registry-uri", sqlite_uri)
    plan = ("plan", str(started), *uri, "--break-glass", REASON, "--out", str(saved))
    assert invoke(capsys, *plan, now=FROZEN)[0] == 0

    other = ("apply", str(saved), *uri, "--break-glass", "another reason")
    code, _, err = invoke(capsys, *other, now=FROZEN)
    assert code == 1
    assert f"carries --break-glass {REASON!r}" in err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}

    code, out, _ = invoke(capsys, "apply", str(saved), *uri, now=FROZEN)
    assert code == 0, out
    assert REASON in out
    assert record(sqlite_uri).source["break_glass"] == REASON


def test_a_plan_saved_while_open_is_refused_once_the_window_closes(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    uri = ("--registry-uri", sqlite_uri)
    assert invoke(capsys, "plan", str(started), *uri, "--out", str(saved), now=OPEN)[0] == 0
    code, _, err = invoke(capsys, "apply", str(saved), *uri, now=SATURDAY)
    assert code == 1
    assert "outside its promotion window" in err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}


def test_break_glass_that_overrides_nothing_is_not_recorded(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("apply", str(started), "--registry-uri", sqlite_uri, "--break-glass", REASON)
    code, out, _ = invoke(capsys, *args, now=OPEN)
    assert code == 0
    assert "(none applies now)" in out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3}
    assert "break_glass" not in record(sqlite_uri).source


def test_markdown_plan_shows_the_override_for_review(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("plan", str(started), "--registry-uri", sqlite_uri, "--break-glass", REASON)
    code, out, _ = invoke(capsys, *args, "-o", "markdown", now=FROZEN)
    assert code == 0
    assert f"**Break glass: `{REASON}` overrides promotion windows and freezes:**" in out
    assert f"- ⚠️ {FREEZE_MESSAGE}" in out


def test_the_next_plan_shows_that_the_last_apply_broke_glass(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = ("--registry-uri", sqlite_uri)
    assert invoke(capsys, "apply", str(started), *uri, "--break-glass", REASON, now=FROZEN)[0] == 0
    code, out, _ = invoke(capsys, "plan", str(started), *uri, now=FROZEN)
    assert code == 0  # nothing to move, so nothing is frozen
    assert f"(break glass: {REASON!r}): bikes" in out
    code, out, _ = invoke(capsys, "plan", str(started), *uri, "-o", "json", now=FROZEN)
    assert json.loads(out)["last_applied"]["bikes"]["break_glass"] == REASON


def test_a_plan_saved_before_break_glass_existed_still_applies(
    started: Path, sqlite_uri: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    saved = tmp_path / "plan.json"
    uri = ("--registry-uri", sqlite_uri)
    assert invoke(capsys, "plan", str(started), *uri, "--out", str(saved), now=OPEN)[0] == 0
    body = json.loads(saved.read_text())
    del body["options"]["break_glass"]
    saved.write_text(json.dumps(body))
    assert invoke(capsys, "apply", str(saved), *uri, now=OPEN)[0] == 0
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3}
