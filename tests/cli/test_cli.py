"""The CLI end to end against a real SQLite registry: output formats and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke as run
from tests.conftest import live_aliases, seed, write_spec

SPECS = Path(__file__).parents[1] / "desired" / "specs"


def test_plan_detailed_exitcode_is_2_with_changes_then_0(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 4})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 3}})
    code, out, _ = run(
        capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "--detailed-exitcode"
    )
    assert code == 2
    assert "+ bikes@champion" in out
    assert "Plan: 1 to create, 0 to update, 0 to delete." in out

    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    code, out, _ = run(
        capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "--detailed-exitcode"
    )
    assert code == 0
    assert "No changes" in out


def test_plan_without_detailed_exitcode_is_0_with_changes(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 4})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 3}})
    assert run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    assert live_aliases(sqlite_uri, "bikes") == {}


def test_plan_json_is_the_documented_shape(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 4}, {"bikes": {"staging": 1}})
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 3}})
    run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 4, "canary": 2}})
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "-o", "json")
    assert code == 0
    body = json.loads(out)
    assert body["format_version"] == 1
    assert body["has_changes"] is True
    evidence = [change.pop("evidence") for change in body["changes"]]  # tests/test_evidence.py
    assert evidence[0]["before"] is None
    assert [e["after"]["version"] for e in evidence] == [2, 4]
    assert evidence[1]["before"]["version"] == 3
    assert body["changes"] == [
        {"model": "bikes", "alias": "canary", "action": "create", "before": None, "after": 2},
        {"model": "bikes", "alias": "champion", "action": "update", "before": 3, "after": 4},
    ]
    assert body["summary"] == {"create": 1, "update": 1, "delete": 0}
    assert body["unmanaged"] == [{"model": "bikes", "alias": "staging", "version": 1}]
    assert body["problems"] == []


def test_plan_markdown_has_marker_and_table(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 4})
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 3}})
    _, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "-o", "markdown")
    assert out.startswith("<!-- aliasctl-plan -->")
    assert "| + create | `bikes` | `champion` | - | 3 |" in out


def test_apply_with_missing_version_writes_nothing_and_exits_1(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 2})
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1, "challenger": 9}})
    code, _out, err = run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)
    assert code == 1
    assert "pre-flight failed, nothing was written" in err
    assert "bikes@challenger: version 9 does not exist" in err
    assert live_aliases(sqlite_uri, "bikes") == {}


def test_plan_with_problems_exits_1_and_lists_them(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 2})
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 5}, "ghost": {"champion": 1}})
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "-o", "json")
    assert code == 1
    assert json.loads(out)["problems"] == [
        "ghost: registered model does not exist",
        "bikes@champion: version 5 does not exist",
    ]


@pytest.mark.parametrize("path", sorted((SPECS / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_file_exits_1_located_without_traceback_or_writes(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 4})
    code, out, err = run(capsys, "apply", str(path), "--registry-uri", sqlite_uri)
    assert code == 1
    assert path.with_suffix(".expected").read_text().strip() in err
    assert "Traceback" not in err + out
    assert live_aliases(sqlite_uri, "bikes") == {}


def test_usage_error_never_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", "--no-such-flag")
    assert code == 1
    assert "No such option" in err


def test_validate_reports_every_file(capsys: pytest.CaptureFixture[str]) -> None:
    good = SPECS / "valid" / "basic.yaml"
    bad = SPECS / "invalid" / "version-zero.yaml"
    code, out, err = run(capsys, "validate", str(good), str(bad))
    assert code == 1
    assert "basic.yaml: valid (2 models, 3 aliases)" in out
    assert "version must be a positive integer, got 0" in err


def test_unreachable_registry_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.support.mlflow_server import free_port  # noqa: PLC0415

    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    uri = f"http://127.0.0.1:{free_port()}"
    code, _, err = run(capsys, "plan", str(spec), "--registry-uri", uri, "--timeout", "5")
    assert code == 1
    assert "cannot reach the registry" in err


def test_credentials_in_uri_are_never_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.support.mlflow_server import free_port  # noqa: PLC0415

    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    uri = f"http://alice:s3cr3t-token@127.0.0.1:{free_port()}/?token=s3cr3t-token"
    code, out, err = run(
        capsys, "--debug", "plan", str(spec), "--registry-uri", uri, "--timeout", "5"
    )
    assert code == 1
    assert "s3cr3t-token" not in out + err


def _console(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )


def test_validate_and_help_never_import_mlflow(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from controller.cli.root import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
    )
    for args in (["--help"], ["validate", str(SPECS / "valid" / "basic.yaml")], ["schema"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr


def test_module_entry_point_runs_the_cli() -> None:
    done = _console("validate", str(SPECS / "invalid" / "version-bool.yaml"))
    assert done.returncode == 1
    assert "got true (a boolean)" in done.stderr
    assert "Traceback" not in done.stderr


def test_plan_never_creates_a_missing_sqlite_registry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    missing = tmp_path / "typo" / "mlflow.db"
    code, _, err = run(capsys, "plan", str(spec), "--registry-uri", f"sqlite:///{missing}")
    assert code == 1
    assert "no registry database at" in err
    assert not missing.parent.exists()


def test_a_registry_that_never_answers_is_an_error_not_a_hang(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        # Accepts connections (the kernel's backlog) and never sends a byte.
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        args = ["plan", str(spec), "--registry-uri", uri, "--timeout", "8"]
        # MLflow's own defaults would retry for many minutes; the guard here is generous.
        done = subprocess.run(
            [sys.executable, "-m", "controller", *args],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1
    assert "cannot reach the registry" in done.stderr
    assert "Traceback" not in done.stderr


def test_interrupt_is_one_clear_line_not_a_traceback(tmp_path: Path) -> None:
    import signal  # noqa: PLC0415
    import socket  # noqa: PLC0415
    import time  # noqa: PLC0415

    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 1}})
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen(
            [sys.executable, "-m", "controller", "plan", str(spec), "--registry-uri", uri],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        silent.settimeout(60)
        waiting, _ = silent.accept()  # it is now waiting on a registry that never answers
        with waiting:
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "interrupted" in err
    assert "Traceback" not in err


def test_debug_is_accepted_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    good = SPECS / "valid" / "basic.yaml"
    for args in (["validate", "--debug", str(good)], ["validate", str(good), "--debug"]):
        code, out, err = run(capsys, *args)
        assert (code, err) == (0, ""), args
        assert "basic.yaml: valid (2 models, 3 aliases)" in out


def _broken_loader(path: Path) -> None:
    raise RuntimeError(f"a bug while loading {path.name}")


@pytest.mark.parametrize(
    ("args", "env", "traceback_shown"),
    [([], None, False), (["--debug"], None, True), ([], "1", True), ([], "0", False)],
)
def test_internal_error_shows_a_traceback_only_with_debug(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: str | None,
    traceback_shown: bool,
) -> None:
    # A bug injected at the one seam every command crosses: no real input should reach this.
    monkeypatch.setattr("controller.cli.validate.load_spec", _broken_loader)
    monkeypatch.delenv("ALIASCTL_DEBUG", raising=False)
    if env is not None:
        monkeypatch.setenv("ALIASCTL_DEBUG", env)
    code, out, err = run(capsys, "validate", *args, str(SPECS / "valid" / "basic.yaml"))
    assert code == 1
    assert "internal error: RuntimeError: a bug while loading basic.yaml" in err
    assert ("Traceback (most recent call last)" in err) is traceback_shown
    assert ("rerun with --debug" in err) is not traceback_shown
    assert "valid" not in out


def test_last_applied_outside_git_says_no_commit(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 4})
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 3}})  # tmp_path: no git
    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    spec = write_spec(tmp_path / "a.yaml", {"bikes": {"champion": 4}})
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri)
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.endswith(": bikes")]
    assert line.strip().startswith("no commit at 20"), line
