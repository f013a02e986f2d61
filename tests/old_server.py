"""An MLflow 2.x `mlflow server` (issue 13), run from a venv of its own (`make old-mlflow`).

Its SQLite backend is created by the 2.x server itself (never a copy of the 3.x template,
whose schema is newer). Seeding goes through its REST API with our 3.x client, which a 2.x
server accepts for creating models and versions, setting aliases and tags.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.mlflow_server import MlflowServer

ROOT = Path(__file__).resolve().parents[1]
OLD_MLFLOW_VERSION = "2.22.5"  # keep in step with OLD_MLFLOW_VERSION in the Makefile
OLD_VENV = ROOT / ".venv-mlflow2"
OLD_STAMP = OLD_VENV / f".mlflow-{OLD_MLFLOW_VERSION}"
# A fresh 2.x database runs ~50 migrations on first start; on a busy 2-core machine that
# and the imports have taken over 90 s.
OLD_STARTUP_SECONDS = 300


def old_python() -> str:
    """The old venv's python, building the venv first if `make test` has not yet."""
    if not OLD_STAMP.exists():
        subprocess.run(["make", "-C", str(ROOT), "--no-print-directory", "old-mlflow"], check=True)
    return str(OLD_VENV / "bin" / "python")


def old_server(root: Path) -> MlflowServer:
    return MlflowServer(
        root,
        workers=1,
        python=old_python(),
        # uv installs no bytecode; letting this venv cache it makes later starts ~3x faster.
        env={"PYTHONDONTWRITEBYTECODE": ""},
        startup_seconds=OLD_STARTUP_SECONDS,
    )
