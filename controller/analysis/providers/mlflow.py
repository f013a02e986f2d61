"""The `mlflow` provider: the latest value of a metric the serving side logs to MLflow runs.

Read through the Registry seam (only controller/registry/mlflow/ imports MLflow), from
one run or from the runs of an experiment that a filter selects. Points logged before
`since` (the move) are stale and ignored; none at all reads as `[]`, no data, which the
judge counts as Inconclusive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.analysis.reading import Reading, provider_error
from controller.analysis.template import render
from controller.errors import RegistryError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from controller.desired.analysis import MlflowMetric
    from controller.registry.seam import Registry

NAME = "mlflow"


def read(
    spec: MlflowMetric, values: Mapping[str, str], since: datetime, registry: Registry
) -> Reading:
    run_id = None if spec.run_id is None else render(spec.run_id, values)
    filter_string = None if spec.filter is None else render(spec.filter, values)
    source = f"run {run_id}" if run_id is not None else f"experiment {spec.experiment!r}"
    try:
        value = registry.read_metric(
            spec.metric,
            experiment=spec.experiment,
            run_id=run_id,
            filter_string=filter_string,
            since_ms=int(since.timestamp() * 1000),
        )
    except RegistryError as error:
        raise provider_error(NAME, f"reading {spec.metric} from {source}: {error}") from None
    if value is None:
        return Reading([], f"no {spec.metric} logged to {source} since the move")
    return Reading(value, f"{spec.metric} from {source}")
