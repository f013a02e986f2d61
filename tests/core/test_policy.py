"""Promotion safety: gates, verify, delete guards, drift modes and saved plans.

Gates run against real logged scikit-learn models in a real SQLite registry
(tests/logged_models.py); the pure guard logic also runs at the fake seam.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest

from controller.core.policy import bound_holds
from controller.core.problem import messages
from controller.desired.spec import Policy
from controller.reconcile import DriftMode, Options, prepare_plan
from tests.conftest import client_for, live_aliases, seed
from tests.conftest import invoke as run
from tests.support.fake_registry import FakeRegistry
from tests.support.logged_models import MODEL, LoggedRegistry, build


@pytest.fixture(scope="session")
def logged(tmp_path_factory: pytest.TempPathFactory) -> LoggedRegistry:
    # Building fixtures with mlflow's logging API warns about its own type hints: not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(tmp_path_factory.mktemp("logged"))


@pytest.fixture
def gated_uri(logged: LoggedRegistry, tmp_path: Path) -> str:
    return logged.copy_to(tmp_path)


def spec_with_policy(path: Path, champion: int, policy: str, extra: str = "") -> Path:
    path.write_text(
        f"models:\n  {MODEL}:\n    aliases:\n      champion: {champion}\n{extra}"
        f"policies:\n  champion:\n{policy}"
    )
    return path


@pytest.mark.parametrize(
    ("bound", "value", "holds"),
    [("<= 0.8", 0.8, True), ("<= 0.8", 0.81, False), (">0.9", 0.95, True), ("== 1", 1.0, True),
     ("!= 1", 1.0, False), ("< -1e-3", -0.01, True), (">= .5", 0.4, False)],
)  # fmt: skip
def test_metric_bounds(bound: str, value: float, holds: bool) -> None:
    assert bound_holds(bound, value) is holds


TAGS = "    require_tags: {validation_status: approved}\n"
METRICS = '    require_metrics: {rmse: "<= 0.8", r2: ">= 0.9"}\n'


def test_approved_version_with_good_metrics_passes_and_applies(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    spec = spec_with_policy(
        tmp_path / "a.yaml", 1, TAGS + METRICS + "    require_signature: true\n"
    )
    code, out, _ = run(capsys, "apply", str(spec), "--registry-uri", gated_uri)
    assert code == 0, out
    assert live_aliases(gated_uri, MODEL) == {"champion": 1}


def test_unapproved_version_with_bad_metrics_fails_every_gate(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    spec = spec_with_policy(tmp_path / "a.yaml", 2, TAGS + METRICS)
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", gated_uri, "-o", "json")
    assert code == 1
    assert json.loads(out)["problems"] == [
        "gated@champion -> version 2: tag 'validation_status' is 'pending', want 'approved'",
        "gated@champion -> version 2: metric 'r2' is 0.8, want >= 0.9",
        "gated@champion -> version 2: metric 'rmse' is 0.9, want <= 0.8",
    ]
    code, _, err = run(capsys, "apply", str(spec), "--registry-uri", gated_uri)
    assert code == 1
    assert "pre-flight failed, nothing was written" in err
    assert live_aliases(gated_uri, MODEL) == {}


def test_missing_tag_and_missing_run_are_failures_not_passes(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    policy = "    require_tags: {owner: ml-team}\n" + METRICS
    spec = spec_with_policy(tmp_path / "a.yaml", 5, policy)
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", gated_uri, "-o", "json")
    assert code == 1
    assert json.loads(out)["problems"] == [
        "gated@champion -> version 5: tag 'owner' is missing (want 'ml-team')",
        "gated@champion -> version 5: metric 'r2' >= 0.9: the version has no source run",
        "gated@champion -> version 5: metric 'rmse' <= 0.8: the version has no source run",
    ]


def test_metric_not_logged_is_a_failure(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    spec = spec_with_policy(tmp_path / "a.yaml", 1, '    require_metrics: {mae: "<= 1"}\n')
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", gated_uri)
    assert code == 1
    assert "metric 'mae' <= 1: not logged on the source run" in out


def test_model_without_signature_fails_require_signature(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    spec = spec_with_policy(tmp_path / "a.yaml", 3, "    require_signature: true\n")
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", gated_uri)
    assert code == 1
    assert (
        "gated@champion -> version 3: require_signature: the logged model has no signature" in out
    )


def test_verify_stops_a_model_that_does_not_load(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    spec = spec_with_policy(tmp_path / "a.yaml", 4, "    verify: true\n")
    code, _, err = run(capsys, "apply", str(spec), "--registry-uri", gated_uri)
    assert code == 1
    assert "gated@champion -> version 4: verify failed: failed to load models:/gated/4" in err
    assert live_aliases(gated_uri, MODEL) == {}


def test_verify_passes_a_model_that_loads_and_predicts(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    spec = spec_with_policy(tmp_path / "a.yaml", 1, "    verify: true\n")
    code, out, err = run(capsys, "apply", str(spec), "--registry-uri", gated_uri)
    assert code == 0, out + err
    assert live_aliases(gated_uri, MODEL) == {"champion": 1}


def test_verify_is_bounded_in_time() -> None:
    registry = FakeRegistry.with_models({"m": 2})
    registry.broken[("m", 2)] = "did not load and predict within 1 s (--verify-timeout)"
    options = Options(policies={"champion": Policy(verify=True)})
    plan = prepare_plan({"m": {"champion": 2}}, registry, options)
    assert messages(plan.problems) == (
        "m@champion -> version 2: verify failed: did not load and predict within 1 s "
        "(--verify-timeout)",
    )


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def test_promote_from_requires_the_version_to_have_been_challenger(
    capsys: pytest.CaptureFixture[str],
    gated_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    policy = "    promote_from: challenger\n"
    spec = repo / "aliases.yaml"
    spec_with_policy(spec, 1, policy, extra="      challenger: 3\n")
    _git(repo, "add", "aliases.yaml")
    _git(repo, "commit", "-qm", "v3 is challenger")
    # Version 1 never was challenger: the gate fails and nothing is written.
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", gated_uri)
    assert code == 1
    assert (
        "gated@champion -> version 1: promote_from 'challenger': version 1 never held "
        "'challenger' in an earlier revision" in out
    )
    # Version 3 was challenger in the previous commit: promoting it passes.
    spec_with_policy(spec, 3, policy, extra="      challenger: 3\n")
    _git(repo, "commit", "-qam", "promote v3")
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", gated_uri)
    assert code == 0, out


def test_promote_from_in_the_same_commit_does_not_count() -> None:
    registry = FakeRegistry.with_models({"m": 3})
    options = Options(policies={"champion": Policy(promote_from="challenger")}, spec_file=None)
    plan = prepare_plan({"m": {"champion": 3, "challenger": 3}}, registry, options)
    assert messages(plan.problems) == (
        "m@champion -> version 3: promote_from 'challenger': no file history to check against",
    )


def test_deleting_a_protected_alias_needs_allow_delete() -> None:
    registry = FakeRegistry.with_models({"m": 3})
    protected = {"champion": Policy(protected=True)}
    assert not prepare_plan({"m": {"champion": 1, "challenger": 2}}, registry).problems
    apply_all(registry, {"m": {"champion": 1, "challenger": 2}})
    refused = prepare_plan({"m": {"challenger": 2}}, registry, Options(policies=protected))
    assert messages(refused.problems) == (
        "m@champion: alias is protected; deleting it needs --allow-delete",
    )
    allowed = prepare_plan(
        {"m": {"challenger": 2}}, registry, Options(policies=protected, allow_delete=True)
    )
    assert not allowed.problems


def test_deleting_every_managed_alias_of_a_model_needs_allow_delete() -> None:
    registry = FakeRegistry.with_models({"m": 3, "n": 3})
    apply_all(registry, {"m": {"champion": 1}, "n": {"champion": 1}})
    plan = prepare_plan({"n": {"champion": 1}}, registry)
    assert messages(plan.problems) == (
        "m: the plan deletes every alias aliasctl manages on it; that needs --allow-delete",
    )
    plan = prepare_plan({"m": {}, "n": {"champion": 1}}, registry)
    assert messages(plan.problems) == (
        "m: the plan deletes every alias aliasctl manages on it; that needs --allow-delete",
    )


def test_more_deletes_than_max_deletes_need_allow_delete() -> None:
    registry = FakeRegistry.with_models({"m": 9})
    many = {f"a{i}": 1 for i in range(8)}
    apply_all(registry, {"m": {**many, "keep": 1}})
    plan = prepare_plan({"m": {"keep": 1}}, registry, Options(max_deletes=5))
    assert messages(plan.problems) == (
        "the plan deletes 8 aliases, more than --max-deletes 5; that needs --allow-delete",
    )
    assert not prepare_plan({"m": {"keep": 1}}, registry, Options(max_deletes=8)).problems


def apply_all(registry: FakeRegistry, declared: dict[str, dict[str, int]]) -> None:
    from controller.apply import apply_plan  # noqa: PLC0415

    plan = prepare_plan(declared, registry, Options(allow_delete=True))
    assert not plan.problems
    assert apply_plan(plan, declared, registry).ok


def test_drift_warn_leaves_drifted_alias_and_heal_puts_it_back() -> None:
    registry = FakeRegistry.with_models({"m": 3})
    declared = {"m": {"champion": 1, "challenger": 2}}
    apply_all(registry, declared)
    registry.aliases["m"]["champion"] = 3  # moved by hand in the UI
    declared = {"m": {"champion": 1, "challenger": 3}}
    warn = prepare_plan(declared, registry, Options(drift=DriftMode.WARN))
    assert [(d.alias, d.recorded, d.live) for d in warn.drift] == [("champion", 1, 3)]
    assert [c.alias for c in warn.changes] == ["challenger"]
    heal = prepare_plan(declared, registry, Options(drift=DriftMode.HEAL))
    assert [c.alias for c in heal.changes] == ["challenger", "champion"]


def test_drift_command_reports_json_and_exit_2(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 3})
    spec = tmp_path / "a.yaml"
    spec.write_text("models:\n  bikes:\n    aliases:\n      champion: 2\n")
    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    assert run(capsys, "drift", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    client_for(sqlite_uri).set_registered_model_alias("bikes", "champion", "3")
    code, out, _ = run(capsys, "drift", str(spec), "--registry-uri", sqlite_uri, "-o", "json")
    assert code == 2
    body = json.loads(out)
    assert body["has_drift"] is True
    assert body["drift"] == [{"model": "bikes", "alias": "champion", "recorded": 2, "live": 3}]
    code, out, _ = run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri, "--drift", "warn")
    assert code == 2
    assert "! bikes@champion: set to 2, now 3 (left in place)" in out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3}
    code, out, _ = run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)
    assert code == 0
    assert "! bikes@champion: set to 2, now 3 (healed)" in out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}


def test_saved_plan_applies_exactly_and_refuses_when_stale(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 3})
    spec = tmp_path / "a.yaml"
    spec.write_text("models:\n  bikes:\n    aliases:\n      champion: 2\n")
    saved = tmp_path / "plan.json"
    assert run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "--out", str(saved))[0] == 0
    # The registry moves on: the saved plan is stale and nothing is written.
    client_for(sqlite_uri).set_registered_model_alias("bikes", "champion", "1")
    code, _, err = run(capsys, "apply", str(saved), "--registry-uri", sqlite_uri)
    assert code == 1
    assert "stale plan, nothing was written: the registry changed since the plan was made" in err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 1}

    assert run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "--out", str(saved))[0] == 0
    spec.write_text("models:\n  bikes:\n    aliases:\n      champion: 3\n")
    code, _, err = run(capsys, "apply", str(saved), "--registry-uri", sqlite_uri)
    assert code == 1
    assert "changed since the plan was made" in err
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 1}

    assert run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "--out", str(saved))[0] == 0
    code, out, _ = run(capsys, "apply", str(saved), "--registry-uri", sqlite_uri)
    assert code == 0, out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 3}


def test_drift_warn_records_nothing_for_the_alias_it_left() -> None:
    from controller.apply import apply_plan  # noqa: PLC0415

    registry = FakeRegistry.with_models({"m": 3})
    apply_all(registry, {"m": {"champion": 1, "challenger": 1}})
    registry.aliases["m"]["champion"] = 3  # moved by hand
    declared = {"m": {"champion": 2, "challenger": 2}}
    plan = prepare_plan(declared, registry, Options(drift=DriftMode.WARN))
    assert apply_plan(plan, declared, registry).ok
    assert registry.aliases["m"] == {"champion": 3, "challenger": 2}
    # The record still says what aliasctl really set, so the drift stays visible as such.
    assert registry.records["m"].aliases == {"champion": 1, "challenger": 2}
    again = prepare_plan(declared, registry, Options(drift=DriftMode.WARN))
    assert [(d.alias, d.recorded, d.live) for d in again.drift] == [("champion", 1, 3)]


def test_protected_and_mass_deletes_are_refused_against_a_real_registry(
    capsys: pytest.CaptureFixture[str], gated_uri: str, tmp_path: Path
) -> None:
    spec = tmp_path / "a.yaml"
    policy = "policies:\n  champion:\n    protected: true\n"
    aliases = "      champion: 1\n      challenger: 3\n"
    spec.write_text(f"models:\n  {MODEL}:\n    aliases:\n{aliases}{policy}")
    assert run(capsys, "apply", str(spec), "--registry-uri", gated_uri)[0] == 0

    spec.write_text(f"models:\n  {MODEL}:\n    aliases:\n      challenger: 3\n{policy}")
    code, _, err = run(capsys, "apply", str(spec), "--registry-uri", gated_uri)
    assert code == 1
    assert "gated@champion: alias is protected; deleting it needs --allow-delete" in err
    assert live_aliases(gated_uri, MODEL) == {"champion": 1, "challenger": 3}

    spec.write_text(f"models:\n  {MODEL}:\n    aliases: {{}}\n")
    code, _, err = run(capsys, "apply", str(spec), "--registry-uri", gated_uri)
    assert code == 1
    assert "gated: the plan deletes every alias aliasctl manages on it" in err
    assert live_aliases(gated_uri, MODEL) == {"champion": 1, "challenger": 3}

    code, out, _ = run(capsys, "apply", str(spec), "--registry-uri", gated_uri, "--allow-delete")
    assert code == 0, out
    assert live_aliases(gated_uri, MODEL) == {}


def test_protected_delete_declared_in_removals_passes_without_allow_delete() -> None:
    registry = FakeRegistry.with_models({"m": 3})
    protected = {"champion": Policy(protected=True)}
    apply_all(registry, {"m": {"champion": 1, "challenger": 2}})
    declared = {"m": {"challenger": 2}}
    listed = Options(policies=protected, removals=("m@champion",))
    plan = prepare_plan(declared, registry, listed)
    assert plan.problems == ()
    assert [plan.declared_removal(c) for c in plan.changes] == [True]
    other = Options(policies=protected, removals=("m@challenger", "n@champion"))
    assert messages(prepare_plan(declared, registry, other).problems) == (
        "m@champion: alias is protected; deleting it needs --allow-delete",
    )


def test_model_leaving_the_file_passes_when_removals_name_it_or_all_its_aliases() -> None:
    registry = FakeRegistry.with_models({"main.ml.m": 3, "n": 3})
    apply_all(registry, {"main.ml.m": {"champion": 1, "challenger": 2}, "n": {"champion": 1}})
    declared = {"n": {"champion": 1}}
    for removals in (("main.ml.m",), ("main.ml.m@champion", "main.ml.m@challenger")):
        assert not prepare_plan(declared, registry, Options(removals=removals)).problems
    partly = prepare_plan(declared, registry, Options(removals=("main.ml.m@champion",)))
    assert messages(partly.problems) == (
        "main.ml.m: the plan deletes every alias aliasctl manages on it; that needs --allow-delete",
    )


def test_max_deletes_counts_only_deletes_not_declared_in_removals() -> None:
    registry = FakeRegistry.with_models({"m": 9})
    many = {f"a{i}": 1 for i in range(8)}
    apply_all(registry, {"m": {**many, "keep": 1}})
    declared = {"m": {"keep": 1}}
    three_left = Options(max_deletes=5, removals=tuple(f"m@a{i}" for i in range(5)))
    assert not prepare_plan(declared, registry, three_left).problems
    six_left = Options(max_deletes=5, removals=("m@a0", "m@a1"))
    assert messages(prepare_plan(declared, registry, six_left).problems) == (
        "the plan deletes 6 aliases not declared under removals, more than --max-deletes 5; "
        "that needs --allow-delete",
    )


def test_removal_with_nothing_to_delete_is_a_note_not_a_problem() -> None:
    registry = FakeRegistry.with_models({"m": 3})
    apply_all(registry, {"m": {"champion": 1, "shadow": 2}})
    options = Options(removals=("m@shadow", "m@gone", "old-model"))
    plan = prepare_plan({"m": {"champion": 1}}, registry, options)
    assert plan.problems == ()
    assert plan.unmatched_removals() == ("m@gone", "old-model")


REMOVALS_BEFORE = """models:
  bikes:
    aliases: {champion: 2, shadow: 3}
  fraud:
    aliases: {champion: 1, challenger: 2}
policies:
  shadow: {protected: true}
"""
REMOVALS_AFTER = """models:
  bikes:
    aliases: {champion: 2}
policies:
  shadow: {protected: true}
"""
REMOVALS = "removals:\n  - bikes@shadow\n  - fraud\n  - ghost@champion\n"


def test_a_change_that_declares_its_removals_applies_without_allow_delete(
    capsys: pytest.CaptureFixture[str], sqlite_uri: str, tmp_path: Path
) -> None:
    seed(sqlite_uri, {"bikes": 3, "fraud": 2})
    spec = tmp_path / "aliases.yaml"
    spec.write_text(REMOVALS_BEFORE)
    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0

    # The pull request as first written: the guards refuse it, and say how to declare it.
    spec.write_text(REMOVALS_AFTER)
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "-o", "markdown")
    assert code == 1
    assert "- ❌ bikes@shadow: alias is protected; deleting it needs --allow-delete" in out
    assert "under `removals:`" in out

    spec.write_text(REMOVALS_AFTER + REMOVALS)
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri)
    assert code == 0, out
    assert "- bikes@shadow" in out
    assert "3 -> (deleted) [declared in removals]" in out
    assert "Removals with nothing to delete (tidy them from the file): ghost@champion" in out
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "-o", "markdown")
    assert "| - delete (declared in `removals`) | `fraud` | `challenger` | 2 | - |" in out
    code, out, _ = run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "-o", "json")
    assert json.loads(out)["removals"] == {
        "declared": ["bikes@shadow", "fraud@challenger", "fraud@champion"],
        "unmatched": ["ghost@champion"],
    }

    saved = tmp_path / "plan.json"
    assert run(capsys, "plan", str(spec), "--registry-uri", sqlite_uri, "--out", str(saved))[0] == 0
    code, out, _ = run(capsys, "apply", str(saved), "--registry-uri", sqlite_uri)
    assert code == 0, out
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 2}
    assert live_aliases(sqlite_uri, "fraud") == {}
