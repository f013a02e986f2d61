"""Evidence read from a real SQLite registry of logged scikit-learn models, through the CLI.

Versions of `bikes` (built once per session; logging takes seconds):
  1  run train-1: rmse 0.9, r2 0.8, git commit aaaa..., tensor signature; champion
  2  run train-2: rmse 0.5, r2 0.85, git commit bbbb..., a logged dataset, a column signature
  3  registered with a run id whose run does not exist: the run is gone
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from typing import TYPE_CHECKING

import pytest

from controller.desired.spec import Policy
from controller.reconcile import Options, prepare_plan
from controller.registry.mlflow.adapter import MlflowRegistry
from tests.conftest import invoke

if TYPE_CHECKING:
    from pathlib import Path

MODEL = "bikes"
COMMIT_1, COMMIT_2 = "a" * 40, "b" * 40
GONE_RUN = "0" * 32


def build(root: Path) -> Path:
    import mlflow  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # type: ignore[import-untyped]  # noqa: PLC0415
    from mlflow.data.pandas_dataset import from_pandas  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415
    from sklearn.linear_model import LinearRegression  # noqa: PLC0415

    db = root / "mlflow.db"
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(uri, uri)
    experiment = client.create_experiment("bikes", artifact_location=(root / "mlruns").as_uri())
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    frame = pd.DataFrame(features, columns=["temp", "hour", "rain"])
    target = features @ np.array([1.0, -2.0, 0.5])
    client.create_registered_model(MODEL)

    def log(name: str, commit: str, metrics: dict[str, float], data: object) -> tuple[str, str]:
        estimator = LinearRegression().fit(data, target)
        with mlflow.start_run(experiment_id=experiment, run_name=name) as run:
            mlflow.set_tag("mlflow.source.git.commit", commit)
            mlflow.log_metrics({**metrics, "noise": 1.0})
            if isinstance(data, pd.DataFrame):
                dataset = from_pandas(data, name="bikes-november")
                mlflow.log_input(dataset, context="training")
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=infer_signature(data, estimator.predict(data)),
                pip_requirements=["scikit-learn"],  # skip slow environment inference
            )
        return str(info.model_uri), str(run.info.run_id)

    uri_1, run_1 = log("train-1", COMMIT_1, {"rmse": 0.9, "r2": 0.8}, features)
    client.create_model_version(MODEL, uri_1, run_id=run_1)
    uri_2, run_2 = log("train-2", COMMIT_2, {"rmse": 0.5, "r2": 0.85}, frame)
    client.create_model_version(MODEL, uri_2, run_id=run_2, description="retrained on November")
    client.create_model_version(MODEL, uri_2, run_id=GONE_RUN)
    client.set_registered_model_alias(MODEL, "champion", "1")
    mlflow.set_tracking_uri("")
    return db


@pytest.fixture(scope="session")
def bikes_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # mlflow's logging API warns about its own type hints: not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(tmp_path_factory.mktemp("bikes"))


@pytest.fixture
def bikes_uri(bikes_db: Path, tmp_path: Path) -> str:
    shutil.copy(bikes_db, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def spec(path: Path, champion: int) -> Path:
    path.write_text(
        f"models:\n  {MODEL}:\n    aliases:\n      champion: {champion}\n"
        "show_metrics: [r2]\n"
        'policies:\n  champion:\n    require_metrics: {rmse: "<= 1"}\n'
    )
    return path


def plan(capsys: pytest.CaptureFixture[str], path: Path, uri: str, output: str) -> str:
    code, out, err = invoke(
        capsys, "plan", str(path), "--registry-uri", uri, "-o", output, "--detailed-exitcode"
    )
    assert code == 2, out + err
    return out


def test_json_evidence_from_a_real_registry(
    capsys: pytest.CaptureFixture[str], bikes_uri: str, tmp_path: Path
) -> None:
    out = plan(capsys, spec(tmp_path / "a.yaml", 2), bikes_uri, "json")
    (change,) = json.loads(out)["changes"]
    before, after = change["evidence"]["before"], change["evidence"]["after"]
    assert (before["version"], before["run_name"], before["source_commit"]) == (
        1,
        "train-1",
        COMMIT_1,
    )
    assert (after["version"], after["run_name"], after["source_commit"]) == (2, "train-2", COMMIT_2)
    assert before["metrics"] == {"rmse": 0.9, "r2": 0.8}
    assert after["metrics"] == {"rmse": 0.5, "r2": 0.85}  # `noise` is in neither list
    assert after["description"] == "retrained on November"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", after["created_at"])
    assert len(after["datasets"]) == 1
    assert after["datasets"][0].startswith("bikes-november@")
    assert before["datasets"] == []
    assert "Tensor('float64'" in before["signature"]["inputs"]
    assert "'temp': double" in after["signature"]["inputs"]
    assert change["evidence"]["signature_changed"] is True
    verdicts = {m["name"]: m["verdict"] for m in change["evidence"]["metrics"]}
    assert verdicts == {"rmse": "better", "r2": None}  # r2 is shown, but no policy bounds it


def test_text_and_markdown_evidence_from_a_real_registry(
    capsys: pytest.CaptureFixture[str], bikes_uri: str, tmp_path: Path
) -> None:
    path = spec(tmp_path / "a.yaml", 2)
    text = plan(capsys, path, bikes_uri, "text")
    assert "run 'train-2'" in text
    assert f"commit {COMMIT_2[:7]}" in text
    assert "(was 1: run 'train-1'" in text
    assert "rmse 0.9 -> 0.5 (-0.4, better); r2 0.8 -> 0.85 (+0.05); signature CHANGED" in text
    markdown = plan(capsys, path, bikes_uri, "markdown")
    assert "| `rmse` | 0.9 | 0.5 | -0.4 ✅ better |" in markdown
    assert "| signature | present | present | ⚠️ changed |" in markdown
    assert "retrained on November" in markdown.split("<details>", 1)[1]


def test_a_version_whose_run_is_gone_is_shown_as_gone(
    capsys: pytest.CaptureFixture[str], bikes_uri: str, tmp_path: Path
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(f"models:\n  {MODEL}:\n    aliases:\n      champion: 3\n")
    text = plan(capsys, path, bikes_uri, "text")
    assert f"3: run {GONE_RUN[:8]} (gone)" in text
    after = json.loads(plan(capsys, path, bikes_uri, "json"))["changes"][0]["evidence"]["after"]
    assert (after["run_id"], after["run_gone"], after["metrics"]) == (GONE_RUN, True, {})


def test_each_run_and_each_model_is_read_once_however_many_aliases_and_gates(
    bikes_uri: str,
) -> None:
    registry = MlflowRegistry(bikes_uri)
    calls: list[str] = []
    get_run = registry._sources._tracking.get_run

    def counted(run_id: str) -> object:
        calls.append(run_id)
        return get_run(run_id)

    registry._sources._tracking.get_run = counted
    search_runs = registry._sources._tracking.search_runs
    searches: list[str] = []

    def searched(experiments: list[str], filter_string: str, **kwargs: object) -> object:
        searches.append(filter_string)
        return search_runs(experiments, filter_string, **kwargs)

    registry._sources._tracking.search_runs = searched
    declared = {MODEL: {"champion": 2, "challenger": 2, "shadow": 1}}
    gate = Policy(require_metrics={"rmse": "<= 1"}, require_signature=True)
    options = Options(policies={"champion": gate, "challenger": gate})
    plan = prepare_plan(declared, registry, options)
    assert plan.problems == ()
    assert len(plan.evidence) == 3
    # Both runs in one search (the gone run of version 3 is not asked for here).
    assert len(searches) == 1
    assert calls == []
    assert set(registry._sources._model_infos) == {(MODEL, 1), (MODEL, 2)}


def test_a_saved_plan_with_evidence_applies(
    capsys: pytest.CaptureFixture[str], bikes_uri: str, tmp_path: Path
) -> None:
    # The recomputed plan is compared on its decisions, not on the evidence shown to people.
    saved = tmp_path / "plan.json"
    path = spec(tmp_path / "a.yaml", 2)
    code, out, err = invoke(
        capsys, "plan", str(path), "--registry-uri", bikes_uri, "--out", str(saved)
    )
    assert code == 0, out + err
    assert json.loads(saved.read_text())["plan"]["changes"][0]["evidence"]["after"]["version"] == 2
    code, out, err = invoke(capsys, "apply", str(saved), "--registry-uri", bikes_uri)
    assert code == 0, out + err
    registry = MlflowRegistry(bikes_uri)
    assert registry.read_models([MODEL]).models[MODEL].aliases == {"champion": 2}


def test_evidence_limit_and_modes_from_the_cli(
    capsys: pytest.CaptureFixture[str], bikes_uri: str, tmp_path: Path
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(f"models:\n  {MODEL}:\n    aliases:\n      champion: 2\n      challenger: 2\n")
    args = ("plan", str(path), "--registry-uri", bikes_uri, "-o", "json")
    code, out, err = invoke(capsys, *args, "--evidence-limit", "1")
    assert code == 0, out + err
    body = json.loads(out)
    shown = {c["alias"]: "evidence" in c for c in body["changes"]}
    assert shown == {"champion": True, "challenger": False}  # the promotion comes first
    assert body["evidence_omitted"] == 1
    assert any("--evidence all" in n for n in body["notes"])
    code, out, err = invoke(capsys, *args, "--evidence-limit", "1", "--evidence", "all")
    assert code == 0, out + err
    assert json.loads(out)["evidence_omitted"] == 0
    assert all("evidence" in c for c in json.loads(out)["changes"])
    code, out, err = invoke(capsys, *args, "--evidence", "none")
    assert code == 0, out + err
    assert not any("evidence" in c for c in json.loads(out)["changes"])
