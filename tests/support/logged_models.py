"""A registry of real logged scikit-learn models, built once per session, for the gates.

Versions of the registered model `gated`:
  1  approved, rmse 0.5, r2 0.95, signature and input example: passes every gate
  2  validation_status=pending, rmse 0.9, r2 0.80: fails tags and metrics
  3  approved, good metrics, logged without signature or input example
  4  approved, good metrics, signature, but its model file is corrupted: cannot load
  5  registered from a bare path with no source run: no metrics to check
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

MODEL = "gated"


@dataclass(frozen=True)
class LoggedRegistry:
    db: Path

    def copy_to(self, directory: Path) -> str:
        """A private copy of the registry (artifacts are shared, read-only)."""
        target = directory / "mlflow.db"
        shutil.copy(self.db, target)
        return f"sqlite:///{target}"


def build(root: Path) -> LoggedRegistry:
    import mlflow  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from mlflow.models import infer_signature  # noqa: PLC0415
    from sklearn.linear_model import LinearRegression  # noqa: PLC0415

    db = root / "mlflow.db"
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(uri, uri)
    experiment = client.create_experiment("gates", artifact_location=(root / "mlruns").as_uri())
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    target = features @ np.array([1.0, -2.0, 0.5])
    estimator = LinearRegression().fit(features, target)
    signature = infer_signature(features, estimator.predict(features))
    client.create_registered_model(MODEL)

    def log(tags: dict[str, str], metrics: dict[str, float], *, with_signature: bool) -> Any:
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_metrics(metrics)
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=signature if with_signature else None,
                input_example=features[:2] if with_signature else None,
                pip_requirements=["scikit-learn"],  # skip slow environment inference
            )
        client.create_model_version(MODEL, info.model_uri, run_id=run.info.run_id, tags=tags)
        return info

    approved = {"validation_status": "approved"}
    good = {"rmse": 0.5, "r2": 0.95}
    log(approved, good, with_signature=True)
    log({"validation_status": "pending"}, {"rmse": 0.9, "r2": 0.80}, with_signature=True)
    log(approved, good, with_signature=False)
    broken = log(approved, good, with_signature=True)
    _corrupt(client, broken)
    client.create_model_version(MODEL, str(root / "bare-model"), tags=approved)
    mlflow.set_tracking_uri("")
    return LoggedRegistry(db)


def _corrupt(client: Any, info: Any) -> None:
    """Overwrite the model's pickled weights so that loading it fails."""
    logged = client.get_logged_model(info.model_id)
    directory = Path(urlparse(logged.artifact_location).path)
    weights = [p for p in directory.rglob("*") if p.suffix in {".pkl", ".skops", ".joblib"}]
    assert weights, f"no model file under {directory}"
    for path in weights:
        path.write_bytes(b"this is not a model")
