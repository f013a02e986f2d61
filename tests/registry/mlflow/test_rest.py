"""The REST path against a real `mlflow server` subprocess, including a crash mid-apply."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from controller.apply import apply_plan
from controller.desired.spec import Policy
from controller.reconcile import Options, prepare_plan
from controller.registry.mlflow.adapter import MlflowRegistry
from tests.conftest import client_for, live_aliases, seed, write_spec
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("server")]


def seed_rest(server: MlflowServer, models: dict[str, int]) -> None:
    """Seed through the server's own database: set-up is not what these tests measure."""
    seed(server.backend_uri, models)


def requests_in_log(server: MlflowServer, needle: str = "/api/2.0/mlflow/") -> int:
    return server.log_path.read_text(errors="replace").count(needle)


def test_plan_and_apply_over_rest_normalize_string_versions(
    mlflow_server: MlflowServer, unique: str
) -> None:
    bikes = f"{unique}-bikes"
    seed_rest(mlflow_server, {bikes: 3})
    client_for(mlflow_server.uri).set_registered_model_alias(bikes, "staging", "1")
    registry = MlflowRegistry(mlflow_server.uri)
    declared = {bikes: {"champion": 2, "challenger": 3}}

    plan = prepare_plan(declared, registry)
    assert [(c.alias, c.after) for c in plan.changes] == [("challenger", 3), ("champion", 2)]
    assert apply_plan(plan, declared, registry).ok
    assert live_aliases(mlflow_server.uri, bikes) == {"champion": 2, "challenger": 3, "staging": 1}

    again = prepare_plan(declared, registry)
    assert not again.has_changes
    assert [(u.alias, u.version) for u in again.unmanaged] == [("staging", 1)]


def test_no_op_plan_makes_no_per_model_requests(mlflow_server: MlflowServer, unique: str) -> None:
    names = [f"{unique}-m{i}" for i in range(20)]
    seed_rest(mlflow_server, dict.fromkeys(names, 2))
    declared = {name: {"champion": 2} for name in names}
    # Requests are counted by a pass-through proxy: exact, with no wait for a log to flush.
    with FaultProxy(mlflow_server.uri) as proxy:
        registry = MlflowRegistry(proxy.uri)
        assert apply_plan(prepare_plan(declared, registry), declared, registry).ok
        before = proxy.counts["forwarded"]
        assert not prepare_plan(declared, registry).has_changes
        assert proxy.counts["forwarded"] - before == 1


def _apply_process(
    spec: Path, uri: str, instance: str, parallelism: int = 2
) -> subprocess.Popen[str]:
    """An apply in a process of its own, as its own --instance (tests share the server)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "apply",
            str(spec),
            "--registry-uri",
            uri,
            "--parallelism",
            str(parallelism),
            "--timeout",
            "6",
            "--allow-delete",
            "--instance",
            instance,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def _wait_for_alias_writes(server: MlflowServer, start: int, count: int) -> None:
    deadline = time.monotonic() + 120
    while requests_in_log(server, "registered-models/alias") - start < count:
        assert time.monotonic() < deadline, "apply never started writing"
        time.sleep(0.05)


def test_server_killed_mid_apply_then_rerun_converges(
    mlflow_server: MlflowServer, unique: str, tmp_path: Path
) -> None:
    names = [f"{unique}-k{i}" for i in range(40)]
    seed_rest(mlflow_server, dict.fromkeys(names, 3))
    old = {name: {"champion": 1, "challenger": 2, "canary": 1} for name in names}
    direct = MlflowRegistry(mlflow_server.backend_uri)
    mine = Options(instance=unique)
    assert apply_plan(prepare_plan(old, direct, mine), old, direct, instance=unique).ok
    new = {name: {"champion": 2, "challenger": 3, "shadow": 1} for name in names}
    spec = write_spec(tmp_path / "aliases.yaml", new)

    start = requests_in_log(mlflow_server, "registered-models/alias")
    # Serial writes: the kill must land mid-way even on a loaded machine.
    apply = _apply_process(spec, mlflow_server.uri, unique, parallelism=1)
    _wait_for_alias_writes(mlflow_server, start, 25)
    mlflow_server.stop()
    _, err = apply.communicate(timeout=120)
    assert apply.returncode == 1
    assert "Traceback" not in err

    mlflow_server.start()
    for name in names:
        for alias, version in live_aliases(mlflow_server.uri, name).items():
            assert version in {old[name].get(alias), new[name].get(alias)}, (name, alias)

    rerun = _apply_process(spec, mlflow_server.uri, unique)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out + err
    for name in names:
        assert live_aliases(mlflow_server.uri, name) == new[name]
    assert not prepare_plan(new, MlflowRegistry(mlflow_server.uri), mine).has_changes


def test_apply_process_killed_mid_apply_then_rerun_converges(
    mlflow_server: MlflowServer, unique: str, tmp_path: Path
) -> None:
    names = [f"{unique}-p{i}" for i in range(40)]
    seed_rest(mlflow_server, dict.fromkeys(names, 2))
    new = {name: {"champion": 2, "challenger": 1} for name in names}
    spec = write_spec(tmp_path / "aliases.yaml", new)

    start = requests_in_log(mlflow_server, "registered-models/alias")
    apply = _apply_process(spec, mlflow_server.uri, unique, parallelism=1)
    _wait_for_alias_writes(mlflow_server, start, 15)
    apply.kill()
    apply.communicate(timeout=60)

    rerun = _apply_process(spec, mlflow_server.uri, unique)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out + err
    for name in names:
        assert live_aliases(mlflow_server.uri, name) == new[name]
    # Everything the killed run created is owned, so a later removal from the file deletes it.
    registry = MlflowRegistry(mlflow_server.uri)
    emptied: dict[str, dict[str, int]] = {name: {} for name in names}
    plan = prepare_plan(emptied, registry, Options(instance=unique, allow_delete=True))
    assert apply_plan(plan, emptied, registry, instance=unique).ok
    assert all(live_aliases(mlflow_server.uri, name) == {} for name in names)


def test_evidence_reads_runs_in_one_search_over_rest(
    mlflow_server: MlflowServer, unique: str
) -> None:
    bikes = f"{unique}-bikes"
    backend = client_for(mlflow_server.backend_uri)
    backend.create_registered_model(bikes)
    experiment = backend.create_experiment(unique)
    runs = []
    for rmse in (0.9, 0.5):
        run = backend.create_run(experiment, run_name=f"train-{rmse}")
        backend.log_metric(run.info.run_id, "rmse", rmse)
        backend.create_model_version(bikes, f"s3://aliasctl-tests/{bikes}", run_id=run.info.run_id)
        runs.append(run.info.run_id)
    backend.set_registered_model_alias(bikes, "champion", "1")
    gone = "0" * 32
    backend.create_model_version(bikes, f"s3://aliasctl-tests/{bikes}", run_id=gone)
    declared = {bikes: {"champion": 2, "challenger": 2, "shadow": 1, "ghost": 3}}
    gate = Policy(require_metrics={"rmse": "<= 1"})
    with FaultProxy(mlflow_server.uri) as proxy:
        registry = MlflowRegistry(proxy.uri)
        plan = prepare_plan(
            declared, registry, Options(instance=unique, policies={"champion": gate})
        )
    assert plan.problems == ()
    # Two distinct runs in one search although the gate and three aliases need them; the
    # gone run, not found by it, is asked for alone (and is gone).
    assert proxy.counts["POST /api/2.0/mlflow/runs/search"] == 1
    assert proxy.counts["GET /api/2.0/mlflow/runs/get"] == 1
    ghost = next(e for e in plan.evidence if e.alias == "ghost")
    assert ghost.after.run_gone
    champion = next(e for e in plan.evidence if e.alias == "champion")
    assert [(r.before, r.after, r.verdict) for r in champion.metrics] == [(0.9, 0.5, "better")]
    assert champion.after.run is not None
    assert champion.after.run.name == "train-0.5"
