"""MLflow's file store, where its registry tutorials begin: the reconcile contract, no litter."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from controller.core.state import RECORD_TAG, Record
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.support.gitrepo import commit_spec

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.gitrepo import GitRepo


@pytest.fixture
def file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"
    seed(uri, {"bikes": 3}, {"bikes": {"staging": 1}})
    return uri


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, to see that nothing is left in it."""
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_plan_apply_drift_on_a_file_store(
    file_store: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(workdir / "aliases.yaml", {"bikes": {"champion": 2, "challenger": 3}})
    before = listing(workdir)
    code, out, _ = invoke(capsys, "plan", str(spec), "--registry-uri", file_store)
    assert code == 0
    assert "Plan: 2 to create" in out
    assert listing(workdir) == before  # no mlflow.db from MLflow's inner default client

    assert invoke(capsys, "apply", str(spec), "--registry-uri", file_store)[0] == 0
    assert live_aliases(file_store, "bikes") == {"champion": 2, "challenger": 3, "staging": 1}
    assert listing(workdir) == before

    client_for(file_store).set_registered_model_alias("bikes", "champion", "1")
    code, out, _ = invoke(capsys, "drift", str(spec), "--registry-uri", file_store, "-o", "json")
    assert code == 2
    assert json.loads(out)["drift"] == [
        {"model": "bikes", "alias": "champion", "recorded": 2, "live": 1}
    ]
    assert invoke(capsys, "apply", str(spec), "--registry-uri", file_store)[0] == 0
    assert live_aliases(file_store, "bikes")["champion"] == 2
    assert listing(workdir) == before


def test_apply_stamps_the_commit_on_a_file_store(
    file_store: str,
    repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sha = commit_spec(repo, {"bikes": {"champion": 2}}, "Promote bikes v2")
    monkeypatch.chdir(repo.root)
    assert invoke(capsys, "apply", "--registry-uri", file_store)[0] == 0
    tags = client_for(file_store).get_registered_model("bikes").tags
    record = Record.from_tags(tags)
    assert record is not None
    assert record.commit == sha
    assert RECORD_TAG in tags


def test_a_relative_file_uri_is_read_from_the_working_directory(
    file_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    code, out, _ = invoke(capsys, "plan", str(spec), "--registry-uri", "file:./mlruns")
    assert code == 0
    assert "+ bikes@champion" in out
    assert not (tmp_path / "mlflow.db").exists()


def test_a_file_uri_with_a_host_names_what_was_meant(
    file_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    code, _, err = invoke(capsys, "plan", str(spec), "--registry-uri", "file://./mlruns")
    assert code == 1
    assert "MLflow would read /mlruns" in err
    assert "file:./mlruns" in err
    assert len(err.strip().splitlines()) == 1


def test_a_switched_off_file_store_is_one_clear_line(
    file_store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    code, _, err = invoke(capsys, "plan", str(spec), "--registry-uri", file_store)
    assert code == 1
    assert err.strip().splitlines() == [
        f"Error: registry {file_store}: MLflow's file store is in maintenance mode and switched "
        "off: set MLFLOW_ALLOW_FILE_STORE=true, or migrate with `mlflow migrate-filestore`"
    ]


def test_plan_on_sqlite_leaves_the_working_directory_alone(
    sqlite_uri: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(sqlite_uri, {"bikes": 2})
    spec = write_spec(workdir / "aliases.yaml", {"bikes": {"champion": 2}})
    before = listing(workdir)
    assert invoke(capsys, "plan", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    assert invoke(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    assert listing(workdir) == before
