"""Staging to production across two real `mlflow server`s with separate artifact stores:
plan, apply (copies once), the copy predicts like the original, promote, roll back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.conftest import client_for, invoke, live_aliases
from tests.support.environments import load

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.environments import Staged
    from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("environments")]


def two_registries(
    root: Path, staged: Staged, unique: str, prod_extra: str = ""
) -> tuple[Path, Path]:
    """staging.yaml (its registry in $STAGING_URI, the staged model declared) and prod.yaml
    ($PROD_URI) promoting the staged version into model `unique`."""
    staging, prod = root / "staging.yaml", root / "prod.yaml"
    staging.write_text(
        "environment: {name: staging, registry_uri_env: STAGING_URI, instance: "
        f"{unique}-staging}}\nmodels:\n  {staged.model}:\n    aliases: {{}}\n"
    )
    prod.write_text(
        f"environment: {{name: prod, registry_uri_env: PROD_URI{prod_extra}}}\nmodels:\n"
        f"  {unique}:\n    aliases:\n      champion: {{from: staging, model: {staged.model}, "
        f"version: {staged.version}}}\n"
    )
    return staging, prod


def test_a_version_promoted_from_staging_is_copied_once_and_predicts_the_same(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    staging_server: MlflowServer,
    production_server: MlflowServer,
    staged: Staged,
    unique: str,
) -> None:
    monkeypatch.setenv("STAGING_URI", staging_server.uri)
    monkeypatch.setenv("PROD_URI", production_server.uri)
    staging, prod = two_registries(tmp_path, staged, unique)
    files = (str(staging), str(prod))

    code, out, err = invoke(capsys, "plan", *files, "--detailed-exitcode")
    assert (code, err) == (2, "")
    assert f"+ copy staging {staged.model} v{staged.version} here" in out
    assert "rmse 0.5" in out  # the staging version's metrics, read from staging

    code, out, err = invoke(capsys, "apply", *files)
    assert code == 0, err
    assert "Error" not in err
    # MLflow's "Waiting up to 300 seconds for model version to finish creation": noise.
    assert not [r.message for r in caplog.records if "Waiting up to" in r.message]
    assert f"staging {staged.model} v{staged.version} is version 1 (copied now)" in out
    assert live_aliases(production_server.uri, unique) == {"champion": 1}
    original = load(staging_server.uri, staged.model, staged.version)
    copy = load(production_server.uri, unique, 1)
    np.testing.assert_allclose(copy.predict(staged.features), original.predict(staged.features))

    # Again: the copy is found by its tag, nothing is copied or moved.
    code, out, _ = invoke(capsys, "apply", *files)
    assert code == 0
    assert "(copied now)" not in out
    versions = client_for(production_server.uri).search_model_versions(f"name='{unique}'")
    assert [int(v.version) for v in versions] == [1]

    # A rollback in production goes to a version already there: no copy.
    prod.write_text(prod.read_text().replace(
        f"{{from: staging, model: {staged.model}, version: {staged.version}}}", "1"
    ))  # fmt: skip
    code, out, _ = invoke(capsys, "plan", *files, "--environment", "prod", "--detailed-exitcode")
    assert code == 0, out
    assert "From other environments" not in out


def test_serve_keeps_production_copying_from_the_staging_server_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    staging_server: MlflowServer,
    production_server: MlflowServer,
    staged: Staged,
    unique: str,
) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from controller.cli.options import open_registry  # noqa: PLC0415
    from controller.reconcile import DriftMode  # noqa: PLC0415
    from controller.serve.cycle import Settings, run_cycle  # noqa: PLC0415
    from controller.serve.desired import ServedEnvironment  # noqa: PLC0415
    from controller.serve.status import CycleOutcome, Snapshot  # noqa: PLC0415

    monkeypatch.setenv("STAGING_URI", staging_server.uri)
    monkeypatch.setenv("PROD_URI", production_server.uri)
    staging, prod = two_registries(tmp_path, staged, unique, f", instance: {unique}-prod")
    served = ServedEnvironment(
        (staging, prod), "prod", lambda uri, instance: open_registry(uri, None, "bulk", instance)
    )
    target, registry = served.target()
    settings = Settings(prod, target.spec.instance_name, DriftMode.HEAL, 300, served=served)
    snapshot = Snapshot(
        file=str(prod), registry=registry.display_uri, instance=settings.instance,
        drift_mode="heal", interval_seconds=300, started_at=datetime.now(UTC),
    )  # fmt: skip

    first = run_cycle(settings, registry, snapshot, None, datetime.now(UTC))
    assert first.snapshot.last_outcome is CycleOutcome.SUCCESS, first.snapshot.problems
    assert [e.kind for e in first.events] == ["version_copied", "alias_moved"]
    assert live_aliases(production_server.uri, unique) == {"champion": 1}
    copy = load(production_server.uri, unique, 1)
    original = load(staging_server.uri, staged.model, staged.version)
    np.testing.assert_allclose(copy.predict(staged.features), original.predict(staged.features))

    again = run_cycle(settings, registry, first.snapshot, None, datetime.now(UTC))
    assert (again.snapshot.last_outcome, again.events) == (CycleOutcome.SUCCESS, ())
    versions = client_for(production_server.uri).search_model_versions(f"name='{unique}'")
    assert [int(v.version) for v in versions] == [1]
