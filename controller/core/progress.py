"""An analysis in progress, as kept on the model (pure): each metric's measurements so far.

Kept in the `aliasctl.analysis.<alias>` tag so that `aliasctl analyze` in CI can take one
measurement a run and `serve` can pick an analysis up after a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from controller.core.times import parse_utc, utc_text

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from controller.desired.analysis import AnalysisMetric


class Phase(StrEnum):
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"  # the provider could not answer
    INCONCLUSIVE = "Inconclusive"  # it answered, and no condition decided

    @property
    def done(self) -> bool:
        return self is not Phase.RUNNING


_LETTER = {
    Phase.SUCCESSFUL: "S",
    Phase.FAILED: "F",
    Phase.ERROR: "E",
    Phase.INCONCLUSIVE: "I",
}
_PHASE = {letter: phase for phase, letter in _LETTER.items()}
PROGRESS_TAG = "aliasctl.analysis."


def progress_tag(alias: str) -> str:
    return PROGRESS_TAG + alias


@dataclass(frozen=True)
class MetricState:
    """A metric's measurements so far: one letter each (S, F, E, I), and the last one."""

    taken: str = ""
    last_at: datetime | None = None
    last_detail: str = ""

    def phase(self, metric: AnalysisMetric) -> Phase:
        """Argo's assessment. Errors do not count toward `count`: a measurement that could
        not be taken is retried, up to `consecutive_error_limit` in a row."""
        if self.taken.count("F") > metric.failure_limit:
            return Phase.FAILED
        if self.taken.count("I") > metric.inconclusive_limit:
            return Phase.INCONCLUSIVE
        errors_in_row = len(self.taken) - len(self.taken.rstrip("E"))
        if errors_in_row > metric.consecutive_error_limit:
            return Phase.ERROR
        if len(self.taken) - self.taken.count("E") >= metric.count:
            return Phase.SUCCESSFUL
        return Phase.RUNNING


@dataclass(frozen=True)
class Progress:
    """An analysis of one alias at one version, as kept in the `aliasctl.analysis.<alias>` tag
    (so `aliasctl analyze` in CI can take one measurement a run)."""

    version: int
    since: datetime  # when the alias moved there: no measurement before counts
    metrics: Mapping[str, MetricState] = field(default_factory=dict)

    def state(self, name: str) -> MetricState:
        return self.metrics.get(name, MetricState())

    def measured(self, name: str, phase: Phase, at: datetime, detail: str) -> Progress:
        before = self.state(name)
        after = MetricState(before.taken + _LETTER[phase], at, detail)
        return replace(self, metrics={**self.metrics, name: after})

    def encode(self) -> str:
        body: dict[str, Any] = {
            "version": self.version,
            "since": utc_text(self.since),
            "metrics": {
                name: {
                    "taken": state.taken,
                    "last": utc_text(state.last_at) if state.last_at else None,
                    "detail": state.last_detail[:300],
                }
                for name, state in sorted(self.metrics.items())
            },
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Progress | None:
        """An unreadable progress tag counts as none: the analysis starts again."""
        try:
            body = json.loads(text)
            metrics = {
                str(name): MetricState(
                    "".join(c for c in str(m["taken"]) if c in _PHASE),
                    parse_utc(m.get("last")),
                    str(m.get("detail") or ""),
                )
                for name, m in dict(body.get("metrics") or {}).items()
            }
            since = parse_utc(body["since"])
            if since is None or not isinstance(body["version"], int):
                return None
            return cls(int(body["version"]), since, metrics)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
