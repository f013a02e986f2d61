"""Gates relative to what production runs now: `current` bounds and signature compatibility.

Real logged scikit-learn models in a real SQLite registry (tests/relative_models.py); the
bound grammar is a pure table, and the reads are counted at the fake seam.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from controller.core.evidence import RunFacts
from controller.core.policy import Bound, parse_bound
from controller.core.signature import Field, Signature
from controller.desired.spec import Policy, check_bound
from controller.reconcile import Options, prepare_plan
from tests.conftest import client_for, live_aliases
from tests.conftest import invoke as run
from tests.support.fake_registry import FakeRegistry
from tests.support.relative_models import MODEL

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.logged_models import LoggedRegistry


@pytest.mark.parametrize(
    ("text", "bound"),
    [("<= 0.8", Bound("<=", 0.8)), (">= -1e-3", Bound(">=", -0.001)),
     ("<= current", Bound("<=", None)), (" >=current-0.01 ", Bound(">=", None, "-", 0.01)),
     ("<= current * 1.10", Bound("<=", None, "*", 1.1)),
     ("< current + 5", Bound("<", None, "+", 5)), ("!= current", Bound("!=", None))],
)  # fmt: skip
def test_bound_grammar(text: str, bound: Bound) -> None:
    assert parse_bound(text) == bound


@pytest.mark.parametrize(
    ("text", "why"),
    [("current", "write an operator"), ("<= Current", "write an operator"),
     ("<= current / 2", "after 'current'"), ("<= current -", "after 'current'"),
     ("<= current * -1", "after 'current'"), ("<= 2 * current", "right after the operator"),
     ("<= champion", "write an operator"), ("<= current current", "after 'current'")],
)  # fmt: skip
def test_malformed_bounds_say_what_to_write(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="is not a bound") as caught:
        check_bound(text)
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("bound", "value", "current", "holds"),
    [("<= current", 0.5, 0.5, True), ("< current", 0.5, 0.5, False),
     (">= current - 0.01", 0.895, 0.9, True), (">= current - 0.01", 0.88, 0.9, False),
     ("<= current * 1.10", 11.0, 10.0, True), ("<= current * 1.10", 11.5, 10.0, False),
     ("<= current + 2", 12.0, 10.0, True)],
)  # fmt: skip
def test_relative_bounds(bound: str, value: float, current: float, holds: bool) -> None:
    assert parse_bound(bound).holds(value, current) is holds


@pytest.fixture
def uri(relative: LoggedRegistry, tmp_path: Path) -> str:
    return relative.copy_to(tmp_path)


METRICS = (
    '    require_metrics: {rmse: "<= current", r2: ">= current - 0.01", '
    'latency_ms: "<= current * 1.10"}\n'
)
COMPATIBLE = "    require_compatible_signature: true\n"


def plan_json(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path, live: int | None, to: int,
    policy: str,
) -> tuple[int, dict[str, object]]:  # fmt: skip
    """Plan moving `champion` from `live` (None: no alias yet) to version `to`."""
    if live is not None:
        client_for(uri).set_registered_model_alias(MODEL, "champion", str(live))
    spec = tmp_path / "aliases.yaml"
    spec.write_text(
        f"models:\n  {MODEL}:\n    aliases:\n      champion: {to}\npolicies:\n  champion:\n{policy}"
    )
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", uri, "-o", "json")
    return code, json.loads(out)


def test_better_version_passes_relative_bounds_and_applies(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, 1, 2, METRICS)
    assert (code, body["problems"], body["notes"]) == (0, [], [])
    code, out, err = run(capsys, "apply", str(tmp_path / "aliases.yaml"), "--registry-uri", uri)
    assert code == 0, out + err
    assert live_aliases(uri, MODEL) == {"champion": 2}


def test_worse_version_fails_each_relative_bound_with_both_values(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, 1, 3, METRICS)
    assert code == 1
    assert body["problems"] == [
        "rel@champion -> version 3: metric 'latency_ms' is 12, want <= 11 "
        "(current * 1.10; version 1 has 10)",
        "rel@champion -> version 3: metric 'r2' is 0.85, want >= 0.89 "
        "(current - 0.01; version 1 has 0.9)",
        "rel@champion -> version 3: metric 'rmse' is 0.6, want <= 0.5 (current; version 1 has 0.5)",
    ]
    code, _, err = run(capsys, "apply", str(tmp_path / "aliases.yaml"), "--registry-uri", uri)
    assert code == 1
    assert "pre-flight failed, nothing was written" in err
    assert live_aliases(uri, MODEL) == {"champion": 1}


def test_equal_version_passes_non_strict_bounds_and_fails_strict_ones(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, 1, 4, METRICS)
    assert (code, body["problems"]) == (0, [])
    strict = '    require_metrics: {rmse: "< current"}\n'
    code, body = plan_json(capsys, uri, tmp_path, 1, 4, strict)
    assert body["problems"] == [
        "rel@champion -> version 4: metric 'rmse' is 0.5, want < 0.5 (current; version 1 has 0.5)"
    ]


def test_metric_missing_on_the_new_version_fails_saying_so(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, 1, 5, METRICS)
    assert code == 1
    assert body["problems"] == [
        "rel@champion -> version 5: metric 'rmse' missing on version 5, want <= current"
    ]


def test_metric_missing_on_the_current_version_fails_saying_so(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    rmse = '    require_metrics: {rmse: "<= current"}\n'
    code, body = plan_json(capsys, uri, tmp_path, 5, 2, rmse)
    assert code == 1
    assert body["problems"] == [
        "rel@champion -> version 2: metric 'rmse' missing on the current version 5, want <= current"
    ]


def test_new_alias_passes_relative_gates_with_a_note(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, None, 3, METRICS + COMPATIBLE)
    assert (code, body["problems"]) == (0, [])
    nothing = "passes, nothing to compare with (the alias does not exist yet)"
    assert body["notes"] == [
        f"rel@champion -> version 3: metric 'latency_ms' <= current * 1.10: {nothing}",
        f"rel@champion -> version 3: metric 'r2' >= current - 0.01: {nothing}",
        f"rel@champion -> version 3: metric 'rmse' <= current: {nothing}",
        f"rel@champion -> version 3: require_compatible_signature: {nothing}",
    ]
    spec = str(tmp_path / "aliases.yaml")
    code, out, _ = run(capsys, "plan", spec, "--registry-uri", uri)
    assert "Notes:\n  - rel@champion -> version 3: metric 'latency_ms'" in out
    code, out, _ = run(capsys, "plan", spec, "--registry-uri", uri, "-o", "markdown")
    assert "**Notes:**\n\n- rel@champion -> version 3: metric 'latency_ms'" in out
    assert f"- rel@champion -> version 3: require_compatible_signature: {nothing}\n" in out


def test_compatible_signature_passes(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, 1, 6, COMPATIBLE)
    assert (code, body["problems"]) == (0, [])


def test_incompatible_signature_fails_naming_each_input(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, 1, 7, COMPATIBLE)
    assert code == 1
    where = "rel@champion -> version 7: require_compatible_signature"
    assert body["problems"] == [
        f"{where}: input 'temp' is double on the current version 1, string on version 7",
        f"{where}: input 'hour' is gone on version 7 (long on the current version 1)",
        f"{where}: input 'city' is new and required on version 7",
    ]


def test_version_without_signature_fails_the_compatibility_gate_on_either_side(
    capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path
) -> None:
    code, body = plan_json(capsys, uri, tmp_path, 1, 8, COMPATIBLE)
    assert code == 1
    assert body["problems"] == [
        "rel@champion -> version 8: require_compatible_signature: the logged model has no signature"
    ]
    code, body = plan_json(capsys, uri, tmp_path, 8, 1, COMPATIBLE)
    assert body["problems"] == [
        "rel@champion -> version 1: require_compatible_signature: the current version 8: "
        "the logged model has no signature"
    ]


SIGNATURE = Signature((Field("temp", "double"),), (Field(None, "double"),))


def test_reads_only_what_the_gates_need_once_per_version_and_run() -> None:
    registry = FakeRegistry.with_models({"m": 3}, aliases={"m": {"champion": 1, "shadow": 1}})
    registry.version_runs = {("m", 1): "r1", ("m", 2): "r2"}
    registry.runs = {
        "r1": RunFacts("r1", metrics={"rmse": 0.5}),
        "r2": RunFacts("r2", metrics={"rmse": 0.4}),
    }
    registry.signatures = {("m", 1): SIGNATURE, ("m", 2): SIGNATURE}
    policy = Policy(require_metrics={"rmse": "<= current"}, require_compatible_signature=True)
    options = Options(policies={"champion": policy, "shadow": policy})
    plan = prepare_plan({"m": {"champion": 2, "shadow": 2}}, registry, options)
    assert plan.problems == ()
    # Two aliases move 1 -> 2: two signatures (1 and 2), one metrics read of both runs
    # (the evidence reads the same two MLmodels and runs: they are shared, not read again).
    assert (len(registry.model_reads), registry.run_read_calls) == (2, 1)
    # A no-op plan makes its one request and nothing else.
    registry.reads = registry.run_read_calls = 0
    registry.model_reads = []
    prepare_plan({"m": {"champion": 1, "shadow": 1}}, registry, options)
    assert (registry.reads, len(registry.model_reads), registry.run_read_calls) == (1, 0, 0)
    # Absolute bounds read no current version (the gates' reads: the evidence is left out).
    registry.reads = registry.run_read_calls = 0
    registry.model_reads, registry.run_reads = [], []
    absolute = Options(
        policies={"champion": Policy(require_metrics={"rmse": "<= 0.8"})}, evidence=False
    )
    prepare_plan({"m": {"champion": 2, "shadow": 1}}, registry, absolute)
    assert (registry.reads, len(registry.model_reads), registry.run_read_calls) == (2, 0, 1)
    assert registry.run_reads == ["r2"]


def test_real_registry_reads_each_signature_and_the_metrics_once(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: PLC0415

    client_for(uri).set_registered_model_alias(MODEL, "champion", "1")
    client_for(uri).set_registered_model_alias(MODEL, "shadow", "1")
    registry = MlflowRegistry(uri)
    calls: list[tuple[Any, ...]] = []
    for name in ("read_logged_model", "read_runs", "read_versions"):
        method = getattr(registry, name)

        def counted(*args: object, _name: str = name, _method: object = method) -> object:
            calls.append((_name, *args))
            return _method(*args)  # type: ignore[operator]

        monkeypatch.setattr(registry, name, counted)
    policy = Policy(require_metrics={"rmse": "<= current"}, require_compatible_signature=True)
    options = Options(policies={"champion": policy, "shadow": policy})
    plan = prepare_plan({MODEL: {"champion": 6, "shadow": 6}}, registry, options)
    assert plan.problems == ()
    assert sorted(c for c in calls if c[0] == "read_logged_model") == [
        ("read_logged_model", MODEL, 1),
        ("read_logged_model", MODEL, 6),
    ]
    assert [c[0] for c in calls].count("read_runs") == 1
    # The targets and the current version in one bulk read (the evidence reads both anyway).
    assert [c[1] for c in calls if c[0] == "read_versions"] == [{(MODEL, 6), (MODEL, 1)}]


def test_versions_registered_from_one_source_share_one_mlmodel_read(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: PLC0415

    client_for(uri).set_registered_model_alias(MODEL, "champion", "1")
    registry = MlflowRegistry(uri)
    read = registry.read_logged_model
    reads: list[tuple[str, int]] = []

    def counted(model: str, version: int) -> Any:
        reads.append((model, version))
        return read(model, version)

    monkeypatch.setattr(registry, "read_logged_model", counted)
    policy = Policy(require_compatible_signature=True)
    options = Options(policies={"champion": policy, "shadow": policy})
    # Versions 1 to 5 are registered from one source; 6 from another. The gates and the
    # evidence look at 1, 2, 3 and 6: two reads.
    plan = prepare_plan({MODEL: {"champion": 2, "challenger": 3, "shadow": 6}}, registry, options)
    assert plan.problems == ()
    assert sorted(reads) == [(MODEL, 1), (MODEL, 6)]
    shared = [e for e in plan.evidence if e.alias in {"champion", "challenger"}]
    assert all(e.after.signature == shared[0].after.signature for e in shared)


def test_a_registry_that_copies_each_versions_files_shares_no_read() -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from controller.registry.mlflow.entities import version_info  # noqa: PLC0415

    version = SimpleNamespace(
        name="m", version="2", status="READY", tags={}, run_id="r", creation_timestamp=0,
        user_id=None, description=None, source="dbfs:/models/m",
    )  # fmt: skip
    assert version_info(version).shared_source == "dbfs:/models/m"
    # Databricks copies a version's files at registration: one source, maybe two MLmodels.
    assert version_info(version, copied=True).shared_source is None


def test_relative_gates_fail_closed_when_the_current_version_was_not_read() -> None:
    from controller.core.change import Action, Change  # noqa: PLC0415
    from controller.core.policy import Evidence, check_gates  # noqa: PLC0415

    change = Change("m", "champion", Action.UPDATE, 1, 2)
    policy = Policy(require_metrics={"rmse": "<= current"}, require_compatible_signature=True)
    evidence = Evidence(metrics={"rmse": 0.1}, signature=SIGNATURE)
    assert check_gates(change, policy, evidence) == [
        "m@champion -> version 2: metric 'rmse' <= current: the current version 1 was not read",
        "m@champion -> version 2: require_compatible_signature: the current version 1 was not read",
    ]
