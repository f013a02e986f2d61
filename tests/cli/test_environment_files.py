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


STAGING = "environment: {name: staging}\nmodels:\n  bikes:\n    aliases: {champion: 7}\n"


def test_validate_checks_environment_files_against_each_other_offline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each file alone is valid; together, a promotion from an environment no file
    describes is not: validate says so before plan would."""
    staging, prod = tmp_path / "staging.yaml", tmp_path / "prod.yaml"
    staging.write_text(STAGING)
    prod.write_text(PROD.replace("from: staging", "from: stagign"))

    code, out, err = invoke(capsys, "validate", str(staging), str(prod))

    assert code == 1
    assert f"{prod}: valid (1 models, 1 aliases)" in out
    assert f"{prod}:5:17: models.bikes.aliases.champion: bikes@champion is promoted from " in err
    assert "environment 'stagign', which none of the files given describes (prod, staging)" in err
    prod.write_text(PROD)
    code, out, err = invoke(capsys, "validate", str(prod), str(staging))
    assert (code, err) == (0, "")
    assert "environments: staging, prod (in the order apply takes them)" in out


def test_validate_of_environment_files_still_imports_no_mlflow(tmp_path: Path) -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    staging, prod = tmp_path / "staging.yaml", tmp_path / "prod.yaml"
    staging.write_text(STAGING)
    prod.write_text(PROD)
    probe = (
        "import sys\nfrom controller.cli.root import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit as done:\n    assert done.code == 0, done.code\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "validate", str(staging), str(prod)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
