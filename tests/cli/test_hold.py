"""`aliasctl hold list` and `aliasctl hold release` against a real SQLite registry."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import pytest

from controller.core.holds import Hold, Released, hold_tag, released_tag
from controller.registry.mlflow.adapter import MlflowRegistry
from tests.conftest import client_for, live_aliases, seed, write_spec
from tests.conftest import invoke as run

if TYPE_CHECKING:
    from pathlib import Path

FAILED = Hold(
    "champion", 4, 3, "Failed", "errors Failed (3/3)", "2026-12-04T10:00:00Z", True, "abc1234"
)


def tags(uri: str, model: str = "bikes") -> dict[str, str]:
    return dict(client_for(uri).get_registered_model(model).tags)


def models(uri: str) -> list[str]:
    return [m.name for m in client_for(uri).search_registered_models()]


@pytest.fixture
def held(capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path) -> Path:
    """bikes@champion applied at 3, then version 4 failed its analysis and was rolled back:
    the hold is written as analysis writes it (controller/analysis/act.py), and the file
    names 4, the version that failed."""
    seed(sqlite_uri, {"bikes": 4})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 3}})
    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    MlflowRegistry(sqlite_uri).set_model_tag("bikes", hold_tag("champion"), FAILED.encode())
    return write_spec(spec, {"bikes": {"champion": 4}})


def test_plan_and_apply_keep_a_held_alias_and_say_why(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, held: Path
) -> None:
    code, out, _ = run(
        capsys, "plan", str(held), "--registry-uri", sqlite_uri, "--detailed-exitcode"
    )
    assert code == 0
    assert "= bikes@champion" in out
    assert "held at 3: version 4 failed analysis, rolled back (the file names 4)" in out
    assert "No changes: 1 held alias kept where its hold says" in out
    code, out, _ = run(capsys, "apply", str(held), "--registry-uri", sqlite_uri)
    assert code == 0
    assert "= bikes@champion" in out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3}


def test_hold_list_shows_the_holds_on_the_files_models(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, held: Path
) -> None:
    code, out, _ = run(capsys, "hold", "list", str(held), "--registry-uri", sqlite_uri)
    assert code == 0
    assert f"1 hold in {sqlite_uri}:" in out
    row = next(line for line in out.splitlines() if line.startswith("bikes@champion"))
    assert row.split()[:7] == ["bikes@champion", "4", "3", "Failed", FAILED.since, "yes", "errors"]
    code, out, _ = run(
        capsys, "hold", "list", str(held), "--registry-uri", sqlite_uri, "--output", "json"
    )
    assert code == 0
    assert json.loads(out) == {
        "format_version": 1,
        "registry": sqlite_uri,
        "holds": [
            {
                "model": "bikes", "alias": "champion", "version": 4, "held_at": 3,
                "phase": "Failed", "reason": "errors Failed (3/3)", "since": FAILED.since,
                "rolled_back": True, "commit": "abc1234", "readable": True,
            }
        ],
    }  # fmt: skip


def test_hold_list_without_holds_says_so(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 2})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 1}})
    code, out, _ = run(capsys, "hold", "list", str(spec), "--registry-uri", sqlite_uri)
    assert (code, out.strip()) == (0, f"No holds in {sqlite_uri} on the file's models.")


def test_release_records_who_when_and_why_then_apply_moves_the_alias_to_the_files_version(
    capsys: pytest.CaptureFixture[str],
    sqlite_uri: str,
    held: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "alice")
    code, out, err = run(
        capsys, "hold", "release", "bikes@champion", str(held),
        "--registry-uri", sqlite_uri, "--reason", "INC-9: the alert was a bad dashboard",
    )  # fmt: skip
    assert code == 0, err
    assert "Released the hold on bikes@champion (held at 3: version 4 failed analysis" in out
    after = tags(sqlite_uri)
    assert hold_tag("champion") not in after
    released = Released.decode("champion", after[released_tag("champion")])
    assert released is not None
    assert (released.version, released.held_at, released.phase) == (4, 3, "Failed")
    assert (released.by, released.reason) == ("alice", "INC-9: the alert was a bad dashboard")
    assert released.at.endswith("Z")
    assert not [m for m in models(sqlite_uri) if m.startswith("aliasctl.lock")]

    code, out, _ = run(capsys, "apply", str(held), "--registry-uri", sqlite_uri)
    assert code == 0
    assert "~ bikes@champion" in out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 4}


def test_release_without_a_reason_fails_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, held: Path
) -> None:
    before = tags(sqlite_uri)
    code, _, err = run(
        capsys, "hold", "release", "bikes@champion", str(held), "--registry-uri", sqlite_uri
    )
    assert code == 1
    assert "--reason" in err
    code, _, err = run(
        capsys, "hold", "release", "bikes@champion", str(held),
        "--registry-uri", sqlite_uri, "--reason", "  ",
    )  # fmt: skip
    assert code == 1
    assert "give a reason" in err
    assert tags(sqlite_uri) == before


def test_releasing_a_hold_that_does_not_exist_is_a_located_error_that_writes_nothing(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, held: Path
) -> None:
    before = tags(sqlite_uri)
    code, out, err = run(
        capsys, "hold", "release", "bikes@challenger", str(held),
        "--registry-uri", sqlite_uri, "--reason", "why not",
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"Error: bikes@challenger: nothing to release in {sqlite_uri}: no hold on it "
        "(holds on bikes: bikes@champion)"
    )
    assert "Traceback" not in err
    code, _, err = run(
        capsys, "hold", "release", "trains@champion", str(held),
        "--registry-uri", sqlite_uri, "--reason", "why not",
    )  # fmt: skip
    assert code == 1
    assert "trains@champion: nothing to release" in err
    assert "registered model 'trains' does not exist" in err
    assert tags(sqlite_uri) == before
    assert models(sqlite_uri) == ["bikes"]
    assert not [m for m in models(sqlite_uri) if m.startswith("aliasctl.lock")]


def test_release_needs_model_at_alias(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, held: Path
) -> None:
    code, _, err = run(
        capsys, "hold", "release", "bikes", str(held),
        "--registry-uri", sqlite_uri, "--reason", "x",
    )  # fmt: skip
    assert code == 1
    assert "expected MODEL@ALIAS" in err


def analysed_spec(path: Path, champion: int, passes: bool) -> Path:
    """The file with a smoke command as champion's analysis: it passes or fails."""
    code = 0 if passes else 1
    path.write_text(
        f"models:\n  bikes:\n    aliases:\n      champion: {champion}\n"
        "policies:\n  champion:\n    analysis:\n      metrics:\n"
        "        - name: smoke\n          command:\n"
        f"            argv: [{sys.executable}, -c, 'raise SystemExit({code})']\n"
    )
    return path


def test_a_hold_written_by_analyze_is_listed_released_and_then_applied(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    """The whole loop with a real `analyze`: version 3 passes, version 4 fails and is rolled
    back and held; the plan says why it stays; a release lets apply move it to 4."""
    seed(sqlite_uri, {"bikes": 4})
    spec = analysed_spec(tmp_path / "aliases.yaml", 3, passes=True)
    uri = ("--registry-uri", sqlite_uri)
    assert run(capsys, "apply", str(spec), *uri)[0] == 0
    assert run(capsys, "analyze", str(spec), *uri, "--wait")[0] == 0
    analysed_spec(spec, 4, passes=False)
    assert run(capsys, "apply", str(spec), *uri)[0] == 0
    code, _, err = run(capsys, "analyze", str(spec), *uri, "--wait", "--no-revert-branch")
    assert code == 1, err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3}

    code, out, _ = run(capsys, "plan", str(spec), *uri, "--detailed-exitcode")
    assert code == 0
    assert "held at 3: version 4 failed analysis, rolled back (the file names 4)" in out
    assert "No changes: 1 held alias kept where its hold says" in out
    code, out, _ = run(capsys, "hold", "list", str(spec), *uri, "--output", "json")
    (hold,) = json.loads(out)["holds"]
    assert (hold["version"], hold["held_at"], hold["phase"]) == (4, 3, "Failed")

    code, _, err = run(
        capsys, "hold", "release", "bikes@champion", str(spec), *uri, "--reason", "flaky smoke"
    )
    assert code == 0, err
    assert run(capsys, "apply", str(spec), *uri)[0] == 0
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 4}
