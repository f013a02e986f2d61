"""Commands on one file (hold, unlock) given an environment's file: its registry and its
instance, as plan and apply use them, never the command's defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.holds import hold_tag
from controller.registry.lock import RegistryLock, lock_name
from controller.registry.mlflow.adapter import MlflowRegistry
from tests.cli.test_hold import FAILED
from tests.conftest import invoke, seed

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

PROD = """\
environment: {name: prod, registry_uri_env: PROD_URI}
models:
  bikes:
    aliases:
      champion: {from: staging, version: 7}
"""


def prod_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str) -> str:
    """prod.yaml, its registry named by $PROD_URI; the default registry is another one."""
    monkeypatch.setenv("PROD_URI", uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    path = tmp_path / "prod.yaml"
    path.write_text(PROD)
    return str(path)


def test_hold_list_reads_the_environments_registry(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_uri: str,
) -> None:
    seed(sqlite_uri, {"bikes": 4})
    MlflowRegistry(sqlite_uri).set_model_tag("bikes", hold_tag("champion"), FAILED.encode())
    prod = prod_file(tmp_path, monkeypatch, sqlite_uri)

    code, out, err = invoke(capsys, "hold", "list", prod)

    assert (code, err) == (0, "")
    assert f"1 hold in {sqlite_uri}:" in out
    assert any(line.startswith("bikes@champion") for line in out.splitlines())


def test_unlock_breaks_the_lock_of_the_environments_instance(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_uri: str,
) -> None:
    seed(sqlite_uri, {"bikes": 1})
    prod = prod_file(tmp_path, monkeypatch, sqlite_uri)
    registry = MlflowRegistry(sqlite_uri)
    name = lock_name(registry, "prod", ["bikes"])  # as `apply prod.yaml` names it
    RegistryLock(registry, name, lease_seconds=600).acquire(5)  # an apply that died

    code, out, _ = invoke(capsys, "unlock", "--force", prod)

    assert code == 0
    assert f"Broke the registry lock {name}, held by" in out
    code, out, _ = invoke(capsys, "unlock", "--force", prod)
    assert f"No registry lock {name}: nothing to break." in out
