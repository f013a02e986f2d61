"""`verify: true` loads registry model code: it must do so without the controller's secrets.

The models here are "models from code": their Python runs when they load and predict, as a
hostile or careless model's would. One reports every variable it can see; one tries to
use more memory than the sandbox allows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.conftest import invoke, live_aliases

SNOOP = """
import os

import mlflow
from mlflow.pyfunc import PythonModel

ALLOWED = {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "HOME", "TMPDIR", "MLFLOW_TRACKING_URI",
           "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MLFLOW_DISABLE_TELEMETRY",
           "_MLFLOW_TELEMETRY_SESSION_ID"}  # the last one MLflow sets itself on import


class Snoop(PythonModel):
    def predict(self, context, model_input, params=None):
        seen = sorted(set(os.environ) - ALLOWED)
        if seen or "://" in os.environ.get("MLFLOW_TRACKING_URI", "file:"):
            raise RuntimeError("the model saw: " + ",".join(seen) + " " + os.environ.get(
                "MLFLOW_TRACKING_URI", ""))
        return model_input


mlflow.models.set_model(Snoop())
"""

BALLOON = """
import mlflow
from mlflow.pyfunc import PythonModel


class Balloon(PythonModel):
    def predict(self, context, model_input, params=None):
        if model_input.shape[0] == 1:  # the input example: grow past the sandbox's bound
            return bytearray(8 << 30)
        return model_input


mlflow.models.set_model(Balloon())
"""

PLANTED = {
    "MLFLOW_TRACKING_PASSWORD": "planted-mlflow-password",
    "MLFLOW_TRACKING_TOKEN": "planted-mlflow-token",
    "DATABRICKS_TOKEN": "planted-databricks-token",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-secret",
    "AWS_SESSION_TOKEN": "planted-aws-session",
    "AZURE_CLIENT_SECRET": "planted-azure-secret",
    "GITHUB_TOKEN": "planted-github-token",
    "ALIASCTL_WEBHOOK_SECRET": "planted-webhook-secret",
}


def register(uri: str, tmp_path: Path, name: str, code: str) -> None:
    """Log `code` as a model from code and register it as version 1 of `name`."""
    import mlflow  # noqa: PLC0415
    import pandas as pd  # type: ignore[import-untyped]  # noqa: PLC0415

    source = tmp_path / f"{name}.py"
    source.write_text(code)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.MlflowClient(uri, uri).create_experiment(
        name, artifact_location=(tmp_path / "mlruns").as_uri()
    )
    # Logging warns about MLflow's own internals (type hints, environment inference).
    with warnings.catch_warnings(), mlflow.start_run(experiment_id=experiment):
        warnings.simplefilter("ignore")
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(source),
            input_example=pd.DataFrame({"x": [1.0]}),
            pip_requirements=[],  # no environment inference: seconds saved
            registered_model_name=name,
        )


def spec(path: Path, model: str) -> Path:
    path.write_text(
        f"models:\n  {model}:\n    aliases:\n      champion: 1\n"
        "policies:\n  champion:\n    verify: true\n"
    )
    return path


def test_a_model_that_loads_sees_no_credential_and_no_registry(
    sqlite_uri: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(sqlite_uri, tmp_path, "snoop", SNOOP)
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)

    code, out, err = invoke(
        capsys, "apply", str(spec(tmp_path / "a.yaml", "snoop")), "--registry-uri", sqlite_uri
    )

    assert code == 0, out + err  # it loaded and predicted, and saw nothing it should not
    assert live_aliases(sqlite_uri, "snoop") == {"champion": 1}


def test_a_model_that_grows_past_the_memory_bound_fails_verify(
    sqlite_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register(sqlite_uri, tmp_path, "balloon", BALLOON)

    code, out, err = invoke(
        capsys, "apply", str(spec(tmp_path / "a.yaml", "balloon")), "--registry-uri", sqlite_uri
    )

    assert code == 1, out + err
    assert "balloon@champion -> version 1: verify failed" in err
    assert "MemoryError" in err
    assert live_aliases(sqlite_uri, "balloon") == {}
