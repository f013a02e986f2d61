"""A registry of real logged scikit-learn models for the gates relative to the current version.

Four models are logged (seconds each); the other versions are registered from the first one's
source, each pointing at a small run that holds only the metrics it needs (milliseconds).
Versions of the registered model `rel` (inputs: temp double, hour long; output: double):
  1  rmse 0.5, r2 0.90, latency_ms 10     the champion the tests start from
  2  rmse 0.4, r2 0.92, latency_ms 10.5   better
  3  rmse 0.6, r2 0.85, latency_ms 12     worse
  4  rmse 0.5, r2 0.90, latency_ms 10     equal
  5  r2 0.95, latency_ms 9                rmse not logged
  6  good metrics, compatible signature: hour widened to double, a new optional input wind
  7  good metrics, incompatible: temp is string, hour gone, a new required input city
  8  good metrics, logged without a signature
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.logged_models import LoggedRegistry

if TYPE_CHECKING:
    from pathlib import Path

MODEL = "rel"
GOOD = {"rmse": 0.4, "r2": 0.92, "latency_ms": 10.0}


def build(root: Path) -> LoggedRegistry:
    import mlflow  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from mlflow.models import ModelSignature  # noqa: PLC0415
    from mlflow.types import ColSpec, Schema  # noqa: PLC0415
    from sklearn.linear_model import LinearRegression  # noqa: PLC0415

    db = root / "mlflow.db"
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(uri, uri)
    experiment = client.create_experiment("relative", artifact_location=(root / "mlruns").as_uri())
    # Columns temp and hour; the signatures below name them (no input example is logged).
    features = np.array([[10.0, 8], [12.5, 9], [20.0, 17], [7.5, 23]])
    estimator = LinearRegression().fit(features, [100.0, 120.0, 300.0, 40.0])
    out = Schema([ColSpec("double")])
    signatures = {
        "base": ModelSignature(Schema([ColSpec("double", "temp"), ColSpec("long", "hour")]), out),
        "compatible": ModelSignature(
            Schema(
                [
                    ColSpec("double", "temp"),
                    ColSpec("double", "hour"),
                    ColSpec("double", "wind", required=False),
                ]
            ),
            out,
        ),
        "incompatible": ModelSignature(
            Schema([ColSpec("string", "temp"), ColSpec("string", "city")]), out
        ),
        "none": None,
    }
    client.create_registered_model(MODEL)

    def run_with(metrics: dict[str, float], signature: Any = False) -> tuple[str, str | None]:
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_metrics(metrics)
            if signature is False:
                return run.info.run_id, None
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=signature,
                pip_requirements=["scikit-learn"],  # skip slow environment inference
            )
        return run.info.run_id, info.model_uri

    def register(run_id: str, source: str) -> None:
        client.create_model_version(MODEL, source, run_id=run_id)

    base_run, base = run_with({"rmse": 0.5, "r2": 0.90, "latency_ms": 10.0}, signatures["base"])
    assert base is not None
    register(base_run, base)
    for metrics in (
        GOOD | {"latency_ms": 10.5},
        {"rmse": 0.6, "r2": 0.85, "latency_ms": 12.0},
        {"rmse": 0.5, "r2": 0.90, "latency_ms": 10.0},
        {"r2": 0.95, "latency_ms": 9.0},
    ):
        register(run_with(metrics)[0], base)
    for name in ("compatible", "incompatible", "none"):
        run_id, source = run_with(GOOD, signatures[name])
        assert source is not None
        register(run_id, source)
    mlflow.set_tracking_uri("")
    return LoggedRegistry(db)
