"""The demo's analysis step: the serving side's error rate, and the file's `analysis:` block.

The serving side logs each version's error rate to an MLflow experiment (here, the
demo itself stands in for it), and the champion's policy judges that metric after
every promotion: the registry the aliases live in is the source of truth.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import mlflow
from demo_shell import MODEL, REPO, SPEC, aliasctl, git, promote, registry_says
from mlflow.tracking import MlflowClient

if TYPE_CHECKING:
    from pathlib import Path

if TYPE_CHECKING:
    from pathlib import Path

SERVING_EXPERIMENT = "bikes-serving"
ERROR_RATE = "error_rate"
# Inserted under `policies: champion:` (the gate stays; analysis comes after the move).
ANALYSIS = """\
    # After each move of champion: the error rate the serving side logs for the new
    # version; a failure rolls back to the last verified version and holds it there.
    analysis:
      metrics:
        - name: error-rate
          mlflow:
            experiment: bikes-serving
            metric: error_rate
            filter: "tags.model_version = '{{version}}'"
          success: result < 0.05
"""
FREEZE_BLOCK = re.compile(r"^freezes:\n(?:[ #].*\n)*", re.MULTILINE)


def end_freeze_and_analyse(path: Path) -> None:
    """The release weekend is over (its freeze goes) and champion gains an analysis."""
    text = FREEZE_BLOCK.sub("", path.read_text(encoding="utf-8"))
    policy = '    require_metrics: {rmse: "<= current"}\n'
    if policy not in text:
        raise ValueError(f"{path}: expected champion's policy line {policy.strip()!r}")
    path.write_text(text.replace(policy, policy + ANALYSIS), encoding="utf-8")


def log_error_rate(model: str, version: int, rate: float) -> None:
    """What a serving job would log: one run per version, tagged with the version."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(SERVING_EXPERIMENT)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(SERVING_EXPERIMENT)
    )
    tags = {"model_version": str(version), "model": model}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{model}-v{version}", tags=tags):
        mlflow.log_metric(ERROR_RATE, rate)
    print(f"(serving side: {model} version {version} logs {ERROR_RATE} {rate})")


def after_a_promotion(client: MlflowClient, wanted: dict[str, int]) -> None:
    """The champion is verified; the challenger's error rate climbs; it is rolled back."""
    champion, challenger = wanted["champion"], wanted["challenger"]
    end_freeze_and_analyse(REPO / "aliases.yaml")
    print("(edit repo/aliases.yaml: the freeze ends; champion gains an analysis)")
    git("--no-pager", "diff", "--unified=0")
    git("commit", "--quiet", "-am", "Analyse champion after each promotion; the freeze ends")
    log_error_rate(MODEL, champion, 0.012)
    aliasctl("analyze", "--wait", SPEC)
    promote(challenger)
    aliasctl("apply", SPEC)
    log_error_rate(MODEL, challenger, 0.31)
    aliasctl("analyze", "--wait", "--no-push", SPEC, expect=1)
    print("(exit code 1: a version failed its analysis)")
    registry_says(client, champion, "rolled back and held by analysis")
    aliasctl("plan", SPEC)
    aliasctl("apply", SPEC)
    registry_says(client, champion, "held: apply does not promote the failed version again")
    aliasctl("hold", "list", SPEC)
    git(
        "--no-pager",
        "log",
        "-1",
        "--format=%h %s%n%n%b",
        f"aliasctl/rollback/{MODEL}-champion-v{champion}",
    )
