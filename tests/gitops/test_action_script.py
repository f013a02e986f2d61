"""The composite action's run script, executed by bash with a stand-in for aliasctl."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.gitops.test_workflows import ACTION, load

if TYPE_CHECKING:
    from pathlib import Path

# Prints the arguments it got, one a line, as aliasctl's "report".
STAND_IN = '#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n'


def run_step(
    tmp_path: Path, command: str, args: str = "", break_glass: str = ""
) -> tuple[int, str]:
    """Run the action's `run` step as the runner would; its exit code and stdout."""
    [step] = [s for s in load(ACTION)["runs"]["steps"] if s.get("id") == "run"]
    venv_bin = tmp_path / "aliasctl-venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "aliasctl").write_text(STAND_IN)
    (venv_bin / "aliasctl").chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "COMMAND": command,
        "FILE": "aliases.yaml",
        "ARGS": args,
        "FAIL_ON_CHANGES": "false",
        "BREAK_GLASS": break_glass,
    }
    done = subprocess.run(
        ["bash", "-c", step["run"]], env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout


def test_a_break_glass_reason_reaches_apply_as_one_argument(tmp_path: Path) -> None:
    code, out = run_step(
        tmp_path, "apply", "--lock-timeout 300", "INC-7: v3 over-predicts weekend demand"
    )
    assert code == 0, out
    lines = out.splitlines()
    at = lines.index("--break-glass")
    assert lines[at + 1] == "INC-7: v3 over-predicts weekend demand"
    assert lines[lines.index("--lock-timeout") + 1] == "300"


def test_no_break_glass_without_a_reason(tmp_path: Path) -> None:
    code, out = run_step(tmp_path, "apply")
    assert code == 0, out
    assert "--break-glass" not in out.splitlines()
    assert "apply" in out.splitlines()


@pytest.mark.parametrize("command", ["plan", "drift", "validate"])
def test_break_glass_is_refused_for_other_commands(tmp_path: Path, command: str) -> None:
    code, out = run_step(tmp_path, command, break_glass="a reason")
    assert code == 1
    assert "'break-glass' is for command 'apply' only" in out


def test_analyze_asks_for_markdown_and_keeps_the_callers_arguments(
    tmp_path: Path,
) -> None:
    code, out = run_step(tmp_path, "analyze", "--wait")
    assert code == 0
    assert "analyze\naliases.yaml\n--output\nmarkdown\n--wait\n" in out
