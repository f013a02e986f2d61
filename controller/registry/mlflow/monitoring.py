"""Metrics the serving side logs to MLflow runs, read for an analysis' `mlflow` provider.

Only points logged at or after the move count: a value logged before the alias moved
describes the version before, so reading it would judge the wrong model. For a search,
the runs of the experiment that the filter selects are read newest first (at most
MAX_RUNS), and the newest point of all of them wins; a run's `get_metric_history` gives
each point's timestamp, which its summary (`run.data.metrics`) does not.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from controller.errors import Fault, RegistryError

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_RUNS = 50


def read_metric(
    call: Callable[[Callable[[], Any]], Any],
    tracking: Any,
    uri: str,
    metric: str,
    *,
    experiment: str | None,
    run_id: str | None,
    filter_string: str | None,
    since_ms: int,
) -> float | None:
    """`call` runs one MLflow request, turning its errors into RegistryErrors (the adapter's)."""
    if run_id is not None:
        call(partial(tracking.get_run, run_id))  # a history of a run that is not there is empty
        run_ids = [run_id]
    else:
        found = call(lambda: tracking.get_experiment_by_name(experiment))
        if found is None:
            raise RegistryError(uri, f"no experiment named {experiment!r}", fault=Fault.NOT_FOUND)
        runs = call(
            lambda: tracking.search_runs(
                experiment_ids=[found.experiment_id],
                filter_string=filter_string or "",
                order_by=["attributes.start_time DESC"],
                max_results=MAX_RUNS,
            )
        )
        # A run's summary lists the keys it has: only those are worth a history read.
        run_ids = [run.info.run_id for run in runs if metric in (run.data.metrics or {})]
    latest: tuple[int, int, float] | None = None  # (timestamp, step, value)
    for one in run_ids:
        for point in call(partial(tracking.get_metric_history, one, metric)):
            if point.timestamp >= since_ms:
                candidate = (int(point.timestamp), int(point.step), float(point.value))
                latest = candidate if latest is None else max(latest, candidate)
    return None if latest is None else latest[2]
