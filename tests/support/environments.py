"""A version worth promoting: a real scikit-learn model logged to a staging registry.

The copy tests run it across two `mlflow server`s (staging and production, conftest.py),
each with its own database and an artifact store reached only through that server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODEL = "bikes"
RUN_PARAMS = {"alpha": "0.5", "features": "3"}
RUN_METRICS = {"rmse": 0.5, "r2": 0.95}
RUN_TAGS = {"team": "mobility", "mlflow.source.git.commit": "abc123"}
VERSION_TAGS = {"validation_status": "approved"}
DESCRIPTION = "linear baseline, trained on March"


@dataclass(frozen=True)
class Staged:
    """The logged version: where it is, its run, and rows to predict on."""

    model: str
    version: int
    run_id: str
    features: Any


def stage_model(uri: str, model: str = MODEL) -> Staged:
    import mlflow  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415
    from sklearn.linear_model import LinearRegression  # noqa: PLC0415

    client = mlflow.MlflowClient(uri, uri)
    experiment = client.create_experiment("training")
    rng = np.random.default_rng(1)
    features = rng.normal(size=(30, 3))
    estimator = LinearRegression().fit(features, features @ np.array([2.0, -1.0, 0.25]) + 3)
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_params(RUN_PARAMS)
            mlflow.log_metrics(RUN_METRICS)
            mlflow.set_tags(RUN_TAGS)
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=infer_signature(features, estimator.predict(features)),
                input_example=features[:2],
                pip_requirements=["scikit-learn"],  # skip slow environment inference
            )
    finally:
        mlflow.set_tracking_uri("")
    client.create_registered_model(model)
    version = client.create_model_version(
        model,
        info.model_uri,
        run_id=run.info.run_id,
        tags=VERSION_TAGS,
        description=DESCRIPTION,
        model_id=info.model_id,
    )
    return Staged(model, int(version.version), run.info.run_id, features[5:15])


def load(uri: str, model: str, version: int) -> Any:
    """The version as `mlflow.pyfunc` loads it from the registry at `uri`."""
    import mlflow  # noqa: PLC0415

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        return mlflow.pyfunc.load_model(f"models:/{model}/{version}")
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
