"""`aliasctl analyze` end to end: a real SQLite registry, a real Prometheus, real git.

The story each test tells: the file promotes a version, `apply` moves the alias, the
exporter the test controls sets the version's error rate, Prometheus scrapes it, and
`analyze --wait` judges it: verified, rolled back to the last verified version and
held, or held in place for a person.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from controller.analysis.act import Settings
from controller.analysis.runner import provider_measure, run_pass
from controller.cli.options import open_registry
from controller.core.holds import hold_tag, verified_tag
from controller.desired.spec import load_spec
from tests.conftest import client_for, invoke, live_aliases, seed
from tests.support.gitrepo import GitRepo
from tests.support.mlflow_server import free_port
from tests.support.prometheus import PROMETHEUS_GROUP
from tests.support.serve_process import ServeProcess, get, metric, wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from controller.analysis.reading import Reading
    from controller.core.analysis import Target
    from controller.desired.analysis import AnalysisMetric
    from controller.registry.seam import Registry
    from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.xdist_group(PROMETHEUS_GROUP)

QUERY = 'model_error_rate{model="{{model}}", version="{{version}}"}'
INTERVAL_SECONDS = 1
FAILURE_LIMIT = 1


def spec_text(
    model: str,
    champion: int,
    address: str,
    *,
    failure: str = "",
    count: int = 3,
    error_limit: int = 4,
    freeze: str = "",
) -> str:
    failure_line = f"\n          failure: {failure}" if failure else ""
    return f"""models:
  {model}:
    aliases:
      champion: {champion}
{freeze}policies:
  champion:
    analysis:
      metrics:
        - name: error-rate
          prometheus:
            address: {address}
            query: '{QUERY}'
          success: result < 0.05{failure_line}
          interval: {INTERVAL_SECONDS}s
          count: {count}
          failure_limit: {FAILURE_LIMIT}
          consecutive_error_limit: {error_limit}
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return invoke(capsys, *args)


def analyze(capsys: pytest.CaptureFixture[str], spec: Path, uri: str, *more: str) -> Any:
    code, out, err = run(
        capsys, "analyze", str(spec), "--registry-uri", uri, "--wait", "--output", "json", *more
    )
    return code, json.loads(out), err


def tags(uri: str, model: str) -> dict[str, str]:
    return dict(client_for(uri).get_registered_model(model).tags)


def error_rate(prometheus: PrometheusServer, model: str, version: int, value: float) -> None:
    prometheus.exporter.set_error_rate(model, version, value)
    prometheus.wait_for_value(f'model_error_rate{{model="{model}", version="{version}"}}', value)


def verified_at_1_then_promoted_to_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    uri: str,
    prometheus: PrometheusServer,
    model: str,
    **second: Any,
) -> Path:
    """Version 1 passes its analysis; the file then promotes version 2, and apply moves it."""
    seed(uri, {model: 3})
    error_rate(prometheus, model, 1, 0.01)
    spec = tmp_path / "aliases.yaml"
    spec.write_text(spec_text(model, 1, prometheus.address))
    assert run(capsys, "apply", str(spec), "--registry-uri", uri)[0] == 0
    code, report, _ = analyze(capsys, spec, uri)
    assert code == 0, report
    assert json.loads(tags(uri, model)[verified_tag("champion")])["version"] == 1
    spec.write_text(spec_text(model, 2, second.pop("address", prometheus.address), **second))
    assert run(capsys, "apply", str(spec), "--registry-uri", uri)[0] == 0
    assert live_aliases(uri, model)["champion"] == 2
    return spec


def test_a_climbing_error_rate_is_rolled_back_to_the_verified_version_and_held(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_uri: str,
    prometheus: PrometheusServer,
    unique: str,
) -> None:
    error_rate(prometheus, unique, 2, 0.31)
    spec = verified_at_1_then_promoted_to_2(capsys, tmp_path, sqlite_uri, prometheus, unique)

    code, report, err = analyze(capsys, spec, sqlite_uri)

    (outcome,) = report["analyses"]
    assert code == 1, err
    assert (outcome["phase"], outcome["outcome"], outcome["done"]) == (
        "Failed",
        "rolled back and held",
        True,
    )
    assert live_aliases(sqlite_uri, unique)["champion"] == 1
    hold = json.loads(tags(sqlite_uri, unique)[hold_tag("champion")])
    assert (hold["version"], hold["held_at"], hold["phase"]) == (2, 1, "Failed")
    assert "0.31" in hold["reason"]
    # Failed once more than the limit tolerates: decided at measurement limit + 1 (of 3),
    # interval x failure_limit after the first, not after the whole count.
    assert f"Failed ({FAILURE_LIMIT + 1}/3;" in outcome["message"]

    # The file still names version 2: no apply brings it back while the hold stands.
    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    assert live_aliases(sqlite_uri, unique)["champion"] == 1
    # A second analyze never analyses the rollback (and never rolls it back).
    code, report, _ = analyze(capsys, spec, sqlite_uri)
    assert (code, report["analyses"]) == (0, [])

    # The revert lands: the file names version 1, and the hold is lifted.
    spec.write_text(spec_text(unique, 1, prometheus.address))
    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    assert hold_tag("champion") not in tags(sqlite_uri, unique)
    assert live_aliases(sqlite_uri, unique)["champion"] == 1


def test_an_inconclusive_result_holds_in_place_without_rolling_back(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_uri: str,
    prometheus: PrometheusServer,
    unique: str,
) -> None:
    error_rate(prometheus, unique, 2, 0.1)  # neither < 0.05 nor > 0.2
    spec = verified_at_1_then_promoted_to_2(
        capsys, tmp_path, sqlite_uri, prometheus, unique, failure="result > 0.2", count=1
    )

    code, report, _ = analyze(capsys, spec, sqlite_uri)

    (outcome,) = report["analyses"]
    assert (code, outcome["phase"], outcome["outcome"]) == (1, "Inconclusive", "held")
    assert live_aliases(sqlite_uri, unique)["champion"] == 2
    hold = json.loads(tags(sqlite_uri, unique)[hold_tag("champion")])
    assert (hold["version"], hold["held_at"], hold.get("rolled_back", False)) == (2, 2, False)


def test_prometheus_down_is_an_error_that_holds_not_a_failure_that_rolls_back(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_uri: str,
    prometheus: PrometheusServer,
    unique: str,
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    spec = verified_at_1_then_promoted_to_2(
        capsys, tmp_path, sqlite_uri, prometheus, unique, address=nobody, error_limit=0
    )

    code, report, _ = analyze(capsys, spec, sqlite_uri)

    (outcome,) = report["analyses"]
    assert (code, outcome["phase"], outcome["outcome"]) == (1, "Error", "held")
    assert live_aliases(sqlite_uri, unique)["champion"] == 2
    assert "127.0.0.1" in outcome["message"]


def test_a_freeze_refuses_the_rollback_and_the_hold_says_so(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_uri: str,
    prometheus: PrometheusServer,
    unique: str,
) -> None:
    error_rate(prometheus, unique, 2, 0.31)
    now = datetime.now(UTC)
    span = (now - timedelta(hours=1), now + timedelta(hours=1))
    freeze = (
        "freezes:\n  - name: incident\n"
        f"    from: {span[0]:%Y-%m-%dT%H:%M}\n    to: {span[1]:%Y-%m-%dT%H:%M}\n"
    )
    spec = verified_at_1_then_promoted_to_2(capsys, tmp_path, sqlite_uri, prometheus, unique)
    spec.write_text(spec_text(unique, 2, prometheus.address, freeze=freeze))

    code, report, _ = analyze(capsys, spec, sqlite_uri)

    (outcome,) = report["analyses"]
    assert code == 1
    assert outcome["problem"].startswith("rollback refused (the alias stays held)")
    assert "incident" in outcome["problem"]
    assert live_aliases(sqlite_uri, unique)["champion"] == 2  # the freeze holds
    hold = json.loads(tags(sqlite_uri, unique)[hold_tag("champion")])
    assert (hold["version"], hold["held_at"]) == (2, 1)
    # Once the freeze is gone, the next apply carries the rollback out.
    spec.write_text(spec_text(unique, 2, prometheus.address))
    assert run(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)[0] == 0
    assert live_aliases(sqlite_uri, unique)["champion"] == 1


def test_a_result_is_not_acted_on_when_the_alias_moved_while_it_was_measured(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_uri: str,
    prometheus: PrometheusServer,
    unique: str,
) -> None:
    error_rate(prometheus, unique, 2, 0.31)
    spec = verified_at_1_then_promoted_to_2(
        capsys, tmp_path, sqlite_uri, prometheus, unique, count=1
    )
    spec.write_text(
        spec_text(unique, 2, prometheus.address, count=1).replace("_limit: 1", "_limit: 0")
    )
    registry = open_registry(sqlite_uri, None, "auto", "default")

    def measure_then_move(
        metric: AnalysisMetric, target: Target, since: datetime, registry: Registry
    ) -> Reading:
        reading = provider_measure(metric, target, since, registry)
        client_for(sqlite_uri).set_registered_model_alias(unique, "champion", "3")  # by hand
        return reading

    report = run_pass(
        load_spec(spec),
        registry,
        Settings(revert_branch=False),
        datetime.now(UTC),
        measure_then_move,
    )

    (outcome,) = report.outcomes
    assert outcome.acted is False
    assert outcome.problem is not None
    assert outcome.problem.startswith("not acted on: ")
    assert "points at version 3 now, not at the measured version 2" in outcome.problem
    assert live_aliases(sqlite_uri, unique)["champion"] == 3
    assert hold_tag("champion") not in tags(sqlite_uri, unique)


def test_a_rollback_prepares_the_revert_and_pushes_it_to_the_remote(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sqlite_uri: str,
    prometheus: PrometheusServer,
    unique: str,
    repo: GitRepo,
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--bare", "-q", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    error_rate(prometheus, unique, 2, 0.31)
    spec = verified_at_1_then_promoted_to_2(capsys, repo.root, sqlite_uri, prometheus, unique)
    repo.commit("Promote version 2")

    code, report, _ = analyze(capsys, spec, sqlite_uri, "--revert-branch", "--push")

    (outcome,) = report["analyses"]
    assert code == 1
    branch = f"aliasctl/rollback/{unique}-champion-v1"
    assert outcome["revert"].startswith(f"revert pushed on branch {branch}")
    shown = subprocess.run(
        ["git", "--git-dir", str(remote), "show", f"refs/heads/{branch}:aliases.yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "      champion: 1\n" in shown
    message = subprocess.run(
        ["git", "--git-dir", str(remote), "log", "-1", "--format=%B", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert message.startswith(f"Roll back {unique}@champion to version 1")
    assert "0.31" in message
    assert repo.path("aliases.yaml").read_text() == spec.read_text()  # checkout untouched


def reconciles(serve: ServeProcess) -> float:
    text = serve.metrics()
    return sum(
        metric(text, "aliasctl_reconciles_total", result=r) or 0
        for r in ("success", "blocked", "failed")
    )


def test_serve_rolls_back_and_holds_and_does_not_promote_the_held_version_again(
    tmp_path: Path,
    sqlite_uri: str,
    prometheus: PrometheusServer,
    unique: str,
) -> None:
    seed(sqlite_uri, {unique: 3})
    error_rate(prometheus, unique, 1, 0.01)
    error_rate(prometheus, unique, 2, 0.31)
    spec = tmp_path / "aliases.yaml"
    spec.write_text(spec_text(unique, 1, prometheus.address))
    serve = ServeProcess(
        tmp_path,
        [str(spec), "--registry-uri", sqlite_uri, "--interval", "1", "--no-revert-branch"],
        {"ALIASCTL_WEBHOOK_SECRET": "analysis-test-secret"},
    )
    try:
        wait_for(lambda: verified_tag("champion") in tags(sqlite_uri, unique), 60, "verified v1")
        spec.write_text(spec_text(unique, 2, prometheus.address))  # the promotion lands

        def held() -> dict[str, Any] | None:
            text = tags(sqlite_uri, unique).get(hold_tag("champion"))
            return json.loads(text) if text else None

        hold = wait_for(held, 60, "the rollback and hold")
        assert (hold["version"], hold["held_at"], hold["phase"]) == (2, 1, "Failed")
        wait_for(lambda: live_aliases(sqlite_uri, unique)["champion"] == 1, 30, "back at 1")

        def event_kinds() -> list[str] | None:
            status, body = get(f"{serve.url}/status.json")
            assert status == 200
            kinds = [event["kind"] for event in json.loads(body)["events"]]
            return kinds if "rolled_back" in kinds else None

        # The pass ends (and its events reach the status) just after the rollback's write.
        kinds = wait_for(event_kinds, 30, "the rolled_back event")
        assert "analysis_passed" in kinds
        # Later cycles see the file still naming version 2 and keep the alias at 1.
        after = reconciles(serve)
        wait_for(lambda: reconciles(serve) >= after + 2, 60, "two more cycles")
        assert live_aliases(sqlite_uri, unique)["champion"] == 1
    finally:
        code = serve.stop()
    assert code == 0, serve.log()
