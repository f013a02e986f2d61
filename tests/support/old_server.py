"""Older `mlflow server`s (issues 13 and 17), each run from a venv of its own that the Makefile
builds (`.venv-mlflow-<version>`, with the pins that version needs on today's PyPI).

Which versions a run tests comes from ALIASCTL_OLD_MLFLOW_VERSIONS (space-separated), set by
`make test` (OLD_MLFLOW_VERSIONS) and `make test-servers` (OLD_MLFLOW_ALL); a bare `pytest`
tests DEFAULT_VERSIONS. Each server's SQLite backend is created by that server itself (never
a copy of the 3.x template, whose schema is newer). Seeding goes through its REST API with our
3.x client, which these servers accept for creating models and versions, setting aliases and tags.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.mlflow_server import MlflowServer

ROOT = Path(__file__).resolve().parents[2]
VERSIONS_VARIABLE = "ALIASCTL_OLD_MLFLOW_VERSIONS"
# Keep in step with OLD_MLFLOW_VERSIONS in the Makefile (test_old_server.py checks it): one
# server before 2.21 (which reads the MLflow 3 client's prompt filter wrongly) and the last 2.x.
DEFAULT_VERSIONS = ("2.16.2", "2.22.5")
# A fresh database runs ~50 migrations on first start; on a busy 2-core machine that and the
# imports have taken over 90 s (before the venvs' bytecode was compiled at install).
OLD_STARTUP_SECONDS = 300


def old_versions() -> list[str]:
    """The server versions this run tests, in the order given."""
    return os.environ.get(VERSIONS_VARIABLE, "").split() or list(DEFAULT_VERSIONS)


def version_params() -> list[object]:
    """The old_mlflow_server fixture's params: one per version, each in an xdist group of its
    own, so that one worker starts that version's server and runs every test on it while
    another worker runs the next version (a single group would put all versions on one
    worker, one after another). `-m old_mlflow` selects every test on an old server."""
    return [
        pytest.param(
            version,
            id=f"mlflow-{version}",
            marks=[pytest.mark.old_mlflow, pytest.mark.xdist_group(f"old-{version}")],
        )
        for version in old_versions()
    ]


def old_python(version: str) -> str:
    """That version's venv python, made (or remade after a pin changed) by the Makefile first;
    `make` is a no-op when it is up to date."""
    stamp = f".venv-mlflow-{version}/.stamp"
    subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "-s", stamp], check=True)
    return str(ROOT / f".venv-mlflow-{version}" / "bin" / "python")


class OldMlflowServer(MlflowServer):
    """An `mlflow server` of `version`, one worker, on a SQLite database it creates."""

    def __init__(self, root: Path, version: str):
        super().__init__(
            root, workers=1, python=old_python(version), startup_seconds=OLD_STARTUP_SECONDS
        )
        self.version = version
