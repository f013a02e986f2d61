"""A policy's `analysis:`: what is measured after an alias moves, and how it is judged.

In the spirit of Argo Rollouts' AnalysisTemplate: each metric names one provider
(prometheus, http, mlflow or command), the conditions its result is judged by,
and how often and how many times it is measured. core/analysis.py judges the
measurements; controller/analysis/ takes them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from controller.desired.conditions import check_condition
from controller.desired.spec_errors import describe_kind

_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smh])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
INTERVAL_HINT = "write a whole number and a unit, s, m or h (30s, 5m, 1h)"
PROVIDERS = ("prometheus", "http", "mlflow", "command")


def check_interval(value: object) -> str:
    """An analysis' time as written (`30s`, `5m`); `seconds()` reads it. Zero is allowed."""
    if isinstance(value, bool) or not isinstance(value, str):
        got = describe_kind(value) if isinstance(value, list | dict) else repr(value)
        raise ValueError(f"expected a duration, got {got}: {INTERVAL_HINT}")
    if _INTERVAL.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a duration: {INTERVAL_HINT}")
    return value.strip()


def seconds(text: str) -> float:
    match = _INTERVAL.fullmatch(text)
    if match is None:  # the validator refused it already
        raise ValueError(f"not a duration: {text!r}")
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def as_timedelta(text: str) -> timedelta:
    return timedelta(seconds=seconds(text))


def _check_url(text: str) -> str:
    if not re.match(r"^https?://[^\s/]+", text):
        raise ValueError(f"{text!r} is not an http:// or https:// address")
    return text


# `{{ name }}` in a query, URL, filter or argv (controller/analysis/template.py fills them in).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
TEMPLATE_NAMES = ("model", "alias", "version", "previous_version", "model_uri")


def check_template(text: str) -> str:
    """Refuse a placeholder typo when the file is read, not at the first measurement."""
    unknown = [name for name in PLACEHOLDER.findall(text) if name not in TEMPLATE_NAMES]
    if unknown:
        known = ", ".join("{{" + name + "}}" for name in TEMPLATE_NAMES)
        raise ValueError(f"unknown placeholder {{{{{unknown[0]}}}}}; known: {known}")
    return text


Interval = Annotated[str, BeforeValidator(check_interval)]
Condition = Annotated[str, AfterValidator(check_condition)]
Url = Annotated[str, AfterValidator(_check_url)]
# `{{model}}`, `{{alias}}`, `{{version}}`, `{{previous_version}}` and `{{model_uri}}` are
# replaced in queries, URLs, filters and argv (controller/analysis/template.py).
Templated = Annotated[str, Field(min_length=1), AfterValidator(check_template)]


class PrometheusQuery(BaseModel):
    """A PromQL query over Prometheus' HTTP API (`GET /api/v1/query`)."""

    model_config = _STRICT
    address: Url = Field(description="Prometheus' base address, like http://prometheus:9090.")
    query: Templated = Field(
        description="PromQL; one sample gives `result` as a number, several as a list."
    )
    timeout: Interval = Field(default="10s", description="How long one query may take.")


class HttpCheck(BaseModel):
    """A GET whose JSON answer is judged (a model-monitoring service, a custom check)."""

    model_config = _STRICT
    url: Templated = Field(description="The address to GET (templated).")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Request headers; `${NAME}` is replaced by the environment variable NAME "
        "(a token), which is then redacted from every output.",
    )
    json_path: str | None = Field(
        default=None,
        description="Dotted path into the answer that becomes `result` (like `data.error_rate` "
        "or `items.0.value`); the whole answer without one.",
    )
    timeout: Interval = Field(default="10s", description="How long one request may take.")


class MlflowMetric(BaseModel):
    """A metric the serving side logs to MLflow runs, read from this registry's tracking server."""

    model_config = _STRICT
    metric: str = Field(min_length=1, description="The metric's key.")
    experiment: str | None = Field(
        default=None, description="The experiment (by name) whose runs are searched."
    )
    run_id: Templated | None = Field(default=None, description="One run, instead of a search.")
    filter: Templated | None = Field(
        default=None,
        description="A search_runs filter selecting the runs (templated), like "
        "\"tags.model_version = '{{version}}'\".",
    )

    @model_validator(mode="after")
    def _one_source(self) -> MlflowMetric:
        if (self.experiment is None) == (self.run_id is None):
            raise ValueError("name exactly one of 'experiment' (a search) or 'run_id'")
        return self


class CommandCheck(BaseModel):
    """An argv whose exit code decides: 0 passes, any other fails (a smoke test, a job)."""

    model_config = _STRICT
    argv: list[Templated] = Field(min_length=1, description="The program and its arguments.")
    timeout: Interval = Field(default="5m", description="Longer counts as an Error.")
    env: list[str] = Field(
        default_factory=list,
        description="Environment variables passed through; every other one that looks secret "
        "is withheld (the command runs with aliasctl's environment minus its credentials).",
    )


PROVIDER_MODELS: dict[str, type[BaseModel]] = {
    "prometheus": PrometheusQuery,
    "http": HttpCheck,
    "mlflow": MlflowMetric,
    "command": CommandCheck,
}


class AnalysisMetric(BaseModel):
    """One measurement, taken `count` times, `interval` apart, after `initial_delay`."""

    model_config = _STRICT
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="Shown in reports.")
    prometheus: PrometheusQuery | None = None
    http: HttpCheck | None = None
    mlflow: MlflowMetric | None = None
    command: CommandCheck | None = None
    success: Condition | None = Field(
        default=None, description="When `result` passes, like 'result < 0.05'."
    )
    failure: Condition | None = Field(
        default=None, description="When `result` fails, like 'result >= 0.05'."
    )
    initial_delay: Interval = Field(default="0s", description="Wait this long after the move.")
    interval: Interval = Field(default="1m", description="Time between two measurements.")
    count: int = Field(default=1, strict=True, ge=1, description="How many measurements.")
    failure_limit: int = Field(
        default=0, strict=True, ge=0, description="Failed measurements tolerated."
    )
    inconclusive_limit: int = Field(
        default=0, strict=True, ge=0, description="Inconclusive measurements tolerated."
    )
    consecutive_error_limit: int = Field(
        default=4,
        strict=True,
        ge=0,
        description="Errors in a row tolerated (the provider could not answer).",
    )

    @model_validator(mode="after")
    def _one_provider(self) -> AnalysisMetric:
        named = [p for p in PROVIDERS if getattr(self, p) is not None]
        if len(named) != 1:
            got = f"got {', '.join(named)}" if named else "got none"
            raise ValueError(f"name exactly one provider ({', '.join(PROVIDERS)}); {got}")
        if self.command is None and self.success is None and self.failure is None:
            raise ValueError("give a 'success' or a 'failure' condition (or both)")
        if self.command is not None and (self.success or self.failure):
            raise ValueError("a command is judged by its exit code: drop success and failure")
        return self

    @property
    def provider(self) -> str:
        """The one provider named: prometheus, http, mlflow or command."""
        return next(name for name in PROVIDERS if getattr(self, name) is not None)


class Analysis(BaseModel):
    """Measured after the alias moves to a new version; on failure, roll back and hold."""

    model_config = _STRICT
    metrics: list[AnalysisMetric] = Field(min_length=1, description="Every metric must pass.")
    rollback: bool = Field(
        default=True,
        description="On failure move the alias back to the last version that passed analysis "
        "(false: only hold it where it is).",
    )

    @model_validator(mode="after")
    def _distinct_names(self) -> Analysis:
        names = [m.name for m in self.metrics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"metric names must differ; listed twice: {', '.join(twice)}")
        return self
