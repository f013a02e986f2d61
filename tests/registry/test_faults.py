"""Riding through transient faults: classification, retries, the breaker, a faulty network."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING

import pytest

from controller.apply import apply_plan
from controller.errors import Fault, RegistryError
from controller.reconcile import prepare_plan
from controller.registry.faults import RetryPolicy, diagnose, retry_transient
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.support.fake_registry import FakeRegistry
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

POOL = "HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries exceeded with url: /x"


@pytest.mark.parametrize(
    ("code", "text", "fault"),
    [
        ("INTERNAL_ERROR", f"{POOL} (Caused by ResponseError('too many 503 error responses'))",
         Fault.TRANSIENT),
        ("INTERNAL_ERROR", f"{POOL} (Caused by ProtocolError('Connection aborted.', "
         "RemoteDisconnected('Remote end closed connection without response')))", Fault.TRANSIENT),
        ("INTERNAL_ERROR", f"{POOL} (Caused by NewConnectionError('Failed to establish a new "
         "connection: [Errno 111] Connection refused'))", Fault.UNREACHABLE),
        ("INTERNAL_ERROR", "API request to endpoint /api/2.0/mlflow/registered-models/alias "
         "failed with error code 502 != 200. Response body: 'Bad Gateway'", Fault.TRANSIENT),
        ("UNAUTHENTICATED", "API request failed with error code 401 != 200", Fault.AUTH),
        ("PERMISSION_DENIED", "Permission denied", Fault.PERMISSION),
        ("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=x not found", Fault.NOT_FOUND),
        ("INVALID_PARAMETER_VALUE", "Invalid alias name", Fault.REFUSED),
        ("TEMPORARILY_UNAVAILABLE", "try later", Fault.TRANSIENT),
    ],
)  # fmt: skip
def test_diagnose_tells_outages_from_answers(code: str, text: str, fault: Fault) -> None:
    found = diagnose(code, text)
    assert found.fault is fault
    if "503" in text:
        assert found.detail == "the registry answered 503"  # never "connection refused"


def test_transient_faults_are_retried_within_the_budget() -> None:
    calls: list[int] = []
    now = [0.0]

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise RegistryError("r", "the registry answered 503", fault=Fault.TRANSIENT)
        return "done"

    def sleep(seconds: float) -> None:
        now[0] += seconds

    retried: list[RegistryError] = []
    result = retry_transient(
        flaky, RetryPolicy(budget_seconds=30), retried.append,
        sleep=sleep, clock=lambda: now[0], rng=random.Random(1),
    )  # fmt: skip
    assert result == "done"
    assert len(calls) == 4
    assert len(retried) == 3
    assert now[0] < 30


@pytest.mark.parametrize("fault", [Fault.PERMISSION, Fault.AUTH, Fault.NOT_FOUND, Fault.REFUSED])
def test_answers_that_will_not_change_are_never_retried(fault: Fault) -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise RegistryError("r", "no", fault=fault)

    with pytest.raises(RegistryError):
        retry_transient(refused, RetryPolicy(), lambda e: None, sleep=lambda s: None)
    assert len(calls) == 1


def test_retries_stop_when_the_budget_is_spent() -> None:
    now = [0.0]

    def down() -> None:
        raise RegistryError("r", "503", fault=Fault.TRANSIENT)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(RegistryError):
        retry_transient(down, RetryPolicy(budget_seconds=10), lambda e: None,
                        sleep=sleep, clock=lambda: now[0])  # fmt: skip
    assert 5 <= now[0] <= 10


class Flaky(FakeRegistry):
    """Sets of the listed models fail transiently (as after their own retries)."""

    flaky_models: frozenset[str] = frozenset()

    def set_alias(self, model: str, alias: str, version: int) -> None:
        if model in self.flaky_models:
            raise RegistryError(
                self.display_uri, "the registry answered 503", fault=Fault.TRANSIENT
            )
        super().set_alias(model, alias, version)


def test_one_bad_answer_does_not_stop_the_apply() -> None:
    registry = Flaky.with_models({f"m{i}": 2 for i in range(20)})
    registry.flaky_models = frozenset({"m3"})
    declared = {f"m{i}": {"champion": 2} for i in range(20)}
    result = apply_plan(prepare_plan(declared, registry), declared, registry, parallelism=1)
    assert [r.change.model for r in result.failed] == ["m3"]
    assert not result.stopped
    assert sum(1 for aliases in registry.aliases.values() if aliases) == 19


def test_failures_in_a_row_across_models_stop_the_apply_and_say_why() -> None:
    registry = Flaky.with_models({f"m{i:02}": 2 for i in range(20)})
    registry.flaky_models = frozenset(f"m{i:02}" for i in range(20))
    declared = {f"m{i:02}": {"champion": 2} for i in range(20)}
    result = apply_plan(prepare_plan(declared, registry), declared, registry, parallelism=1)
    assert result.stopped == "5 writes failed in a row (the registry answered 503)"
    not_attempted = [r for r in result.failed if (r.error or "").startswith("not attempted")]
    assert len(not_attempted) == 15


def test_a_missing_permission_stops_before_any_alias_moves() -> None:
    registry = FakeRegistry.with_models({"bikes": 3}, {"bikes": {"shadow": 1, "champion": 1}})
    declared = {"bikes": {"champion": 1, "shadow": 1}}
    assert apply_plan(prepare_plan(declared, registry), declared, registry).ok

    class NoManage(FakeRegistry):
        def delete_alias(self, model: str, alias: str) -> None:
            raise RegistryError(
                self.display_uri,
                f"permission denied: deleting alias {model}@{alias} needs MANAGE permission",
                fault=Fault.PERMISSION,
            )

    bot = NoManage(registry.versions, registry.aliases, registry.records)
    declared = {"bikes": {"champion": 3}}
    result = apply_plan(prepare_plan(declared, bot), declared, bot)
    assert result.stopped.startswith("permission denied: deleting alias bikes@shadow needs MANAGE")
    assert bot.aliases["bikes"] == {"shadow": 1, "champion": 1}  # champion did not move


@pytest.mark.server
@pytest.mark.xdist_group("server")
def test_apply_through_a_faulty_network_converges_in_two_runs(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    models = {f"{unique}-m{i:02}": 4 for i in range(60)}
    seed(mlflow_server.uri, models, {m: {"champion": 1} for m in models})
    before = {m: {"champion": 1} for m in models}
    declared = {m: {"champion": 2, "challenger": 3, "canary": 4} for m in models}
    spec = write_spec(tmp_path / "aliases.yaml", declared)
    with FaultProxy(mlflow_server.uri, fault_rate=0.25, seed=11) as proxy:
        runs = []
        for _ in range(2):
            code, out, err = invoke(
                capsys, "apply", str(spec), "--registry-uri", proxy.uri, "-o", "json",
                "--instance", unique,
            )  # fmt: skip
            assert "Traceback" not in out + err
            runs.append((code, json.loads(out)))
            for model in models:
                for alias, version in live_aliases(mlflow_server.uri, model).items():
                    assert version in {before[model].get(alias), declared[model][alias]}
            if code == 0:
                break
        assert proxy.counts["503"] > 10
        assert proxy.counts["cut"] > 10
    assert runs[-1][0] == 0, runs[-1][1]
    assert sum(body["retries"] for _, body in runs) > 0
    # The lock was released despite the faults (a lost answer to its create included).
    lock = f"name = 'aliasctl.lock.{unique}'"
    assert client_for(mlflow_server.uri).search_registered_models(lock) == []
    for model in models:
        assert live_aliases(mlflow_server.uri, model) == declared[model]


@pytest.mark.server
@pytest.mark.xdist_group("server")
def test_a_permission_error_is_named_and_never_retried(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = f"{unique}-bikes"
    seed(mlflow_server.uri, {model: 3})
    spec = write_spec(tmp_path / "aliases.yaml", {model: {"champion": 1, "shadow": 1}})
    first = invoke(
        capsys, "apply", str(spec), "--registry-uri", mlflow_server.uri, "--instance", unique
    )
    assert first[0] == 0, first
    write_spec(spec, {model: {"champion": 3}})
    # The proxy refuses alias deletes as basic-auth does for a bot without MANAGE.
    refuse = {("DELETE", "registered-models/alias"): 403}
    with FaultProxy(mlflow_server.uri, refuse=refuse) as proxy:
        code, out, err = invoke(
            capsys, "apply", str(spec), "--registry-uri", proxy.uri, "--instance", unique
        )
        deletes = proxy.counts["DELETE /api/2.0/mlflow/registered-models/alias"]
    assert code == 1
    assert "Traceback" not in out + err
    assert f"permission denied: deleting alias {model}@shadow needs MANAGE" in out
    assert deletes == 1  # refused once, never retried
    assert live_aliases(mlflow_server.uri, model) == {"champion": 1, "shadow": 1}


def test_an_existing_object_is_its_own_fault_never_retried() -> None:
    """The lock's create race is decided by this; a message naming the database's
    IntegrityError must not make it look transient and retried for the whole budget."""
    text = "RESOURCE_ALREADY_EXISTS: (sqlite3.IntegrityError) UNIQUE constraint failed"
    found = diagnose("RESOURCE_ALREADY_EXISTS", text)
    assert found.fault is Fault.EXISTS
