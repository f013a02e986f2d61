"""Analysis providers: each takes one measurement of a metric for a target, or says why not.

`measure` returns a Reading (the raw value the conditions judge, and a line for people)
or raises ProviderError: the provider could not answer (Argo's Error), which is told
apart from a measurement that fails. Judging is core/analysis.py's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.analysis.providers import command, http, mlflow, prometheus
from controller.analysis.reading import Reading, provider_error
from controller.analysis.template import TemplateError

if TYPE_CHECKING:
    from datetime import datetime

    from controller.core.analysis import Target
    from controller.desired.analysis import AnalysisMetric
    from controller.registry.seam import Registry

__all__ = ["Reading", "measure"]


def measure(metric: AnalysisMetric, target: Target, since: datetime, registry: Registry) -> Reading:
    """One measurement of `metric` for `target`; `since` is when the alias moved (older data is
    stale). ProviderError when the provider could not answer."""
    values = target.template_values()
    try:
        if metric.prometheus is not None:
            return prometheus.query(metric.prometheus, values)
        if metric.http is not None:
            return http.check(metric.http, values)
        if metric.mlflow is not None:
            return mlflow.read(metric.mlflow, values, since, registry)
        if metric.command is not None:
            return command.run(metric.command, values)
    except TemplateError as error:
        raise provider_error(metric.provider, f"metric {metric.name}: {error}") from None
    raise provider_error(metric.provider, f"metric {metric.name} names no provider")
