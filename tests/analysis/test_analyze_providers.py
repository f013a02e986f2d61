"""`aliasctl analyze` with the other providers: real MLflow runs, a real command."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from controller.core.holds import hold_tag, verified_tag
from tests.conftest import client_for, invoke, live_aliases, seed

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

MLFLOW_METRIC = """\
        - name: error-rate
          mlflow:
            experiment: serving
            metric: error_rate
            filter: "tags.model_version = '{{version}}'"
          success: result < 0.05
"""
# The version's number decides: version 1 passes its smoke test, any other fails.
COMMAND_METRIC = f"""\
        - name: smoke
          command:
            argv: ["{sys.executable}", "-c", "import sys; sys.exit(int('{{{{version}}}}') != 1)"]
"""


def spec(path: Path, champion: int, metric: str) -> Path:
    path.write_text(
        f"models:\n  bikes:\n    aliases:\n      champion: {champion}\n"
        f"policies:\n  champion:\n    analysis:\n      metrics:\n{metric}"
    )
    return path


def log_error_rate(uri: str, version: int, rate: float) -> None:
    """What a serving job logs: a run per version, tagged with it, in experiment 'serving'."""
    client = client_for(uri)
    found = client.get_experiment_by_name("serving")
    experiment = found.experiment_id if found else client.create_experiment("serving")
    run = client.create_run(experiment, tags={"model_version": str(version)})
    client.log_metric(run.info.run_id, "error_rate", rate, timestamp=int(time.time() * 1000))
    client.set_terminated(run.info.run_id)


def analyze(capsys: pytest.CaptureFixture[str], path: Path, uri: str) -> tuple[int, Any]:
    code, out, _ = invoke(
        capsys, "analyze", str(path), "--registry-uri", uri, "--wait", "--output", "json"
    )
    (outcome,) = json.loads(out)["analyses"]
    return code, outcome


def promote_1_then_2(capsys: pytest.CaptureFixture[str], path: Path, uri: str, metric: str) -> None:
    seed(uri, {"bikes": 2})
    assert invoke(capsys, "apply", str(spec(path, 1, metric)), "--registry-uri", uri)[0] == 0


def test_mlflow_runs_logged_by_the_serving_side_verify_then_roll_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    path = tmp_path / "aliases.yaml"
    promote_1_then_2(capsys, path, sqlite_uri, MLFLOW_METRIC)
    log_error_rate(sqlite_uri, 1, 0.01)
    code, outcome = analyze(capsys, path, sqlite_uri)
    assert (code, outcome["outcome"]) == (0, "verified")

    spec(path, 2, MLFLOW_METRIC)
    assert invoke(capsys, "apply", str(path), "--registry-uri", sqlite_uri)[0] == 0
    log_error_rate(sqlite_uri, 2, 0.31)
    code, outcome = analyze(capsys, path, sqlite_uri)

    assert (code, outcome["phase"], outcome["outcome"]) == (1, "Failed", "rolled back and held")
    assert "error_rate from experiment 'serving'" in outcome["message"]
    assert live_aliases(sqlite_uri, "bikes")["champion"] == 1


def test_a_smoke_command_that_fails_rolls_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    path = tmp_path / "aliases.yaml"
    promote_1_then_2(capsys, path, sqlite_uri, COMMAND_METRIC)
    code, outcome = analyze(capsys, path, sqlite_uri)
    assert (code, outcome["outcome"]) == (0, "verified")

    spec(path, 2, COMMAND_METRIC)
    assert invoke(capsys, "apply", str(path), "--registry-uri", sqlite_uri)[0] == 0
    code, outcome = analyze(capsys, path, sqlite_uri)

    assert (code, outcome["phase"], outcome["outcome"]) == (1, "Failed", "rolled back and held")
    assert "exit code 1" in outcome["message"]
    tags = client_for(sqlite_uri).get_registered_model("bikes").tags
    assert json.loads(tags[verified_tag("champion")])["version"] == 1
    assert json.loads(tags[hold_tag("champion")])["version"] == 2
    assert live_aliases(sqlite_uri, "bikes")["champion"] == 1


def test_a_version_with_nothing_verified_before_it_is_held_in_place_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    path = tmp_path / "aliases.yaml"
    seed(sqlite_uri, {"bikes": 2})
    assert (
        invoke(capsys, "apply", str(spec(path, 2, COMMAND_METRIC)), "--registry-uri", sqlite_uri)[0]
        == 0
    )

    code, outcome = analyze(capsys, path, sqlite_uri)

    assert (code, outcome["phase"], outcome["outcome"]) == (1, "Failed", "held")
    assert "NOT rolled back: no version of this alias has passed analysis" in outcome["message"]
    assert live_aliases(sqlite_uri, "bikes")["champion"] == 2
