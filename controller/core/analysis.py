"""Analysis after a promotion, judged (pure): measurements, phases and what to do next.

Argo Rollouts' rules, for model aliases: a measurement is Successful, Failed,
Inconclusive (the provider answered, no condition decided) or Error (the
provider could not answer). A metric fails when its failed measurements pass
`failure_limit`, is inconclusive past `inconclusive_limit`, errs past
`consecutive_error_limit` errors in a row, and succeeds once `count`
measurements are in within those limits.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from controller.core.holds import Hold
from controller.core.progress import Phase, Progress
from controller.core.times import parse_utc, utc_text
from controller.desired.analysis import as_timedelta
from controller.desired.conditions import ConditionError, evaluate

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from controller.core.change import Declared
    from controller.core.state import Observed
    from controller.desired.analysis import Analysis, AnalysisMetric
    from controller.desired.spec import Policy


@dataclass(frozen=True)
class Target:
    """One alias just moved to `version`, to be analysed; `previous` is its last verified
    version (None: none yet)."""

    model: str
    alias: str
    version: int
    previous: int | None = None

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model}/{self.version}"

    def template_values(self) -> dict[str, str]:
        """What `{{name}}` in a query, URL, filter or argv is replaced by."""
        return {
            "model": self.model,
            "alias": self.alias,
            "version": str(self.version),
            "previous_version": "" if self.previous is None else str(self.previous),
            "model_uri": self.model_uri,
        }


def show_result(result: object) -> str:
    """A result as a reviewer reads it: `0.031`, `[0.01, 0.02]`, `{...}` cut short."""
    if isinstance(result, float):
        return f"{result:g}"
    text = json.dumps(result, default=str) if isinstance(result, list | dict) else str(result)
    return text if len(text) <= 80 else text[:77] + "..."


def _no_data(result: object) -> str | None:
    """Why a result holds nothing to judge: an empty answer, or NaN (0/0 over no traffic)."""
    if result is None or result in ([], {}):
        return "no data"
    if isinstance(result, float) and math.isnan(result):
        return "NaN"
    if isinstance(result, list) and all(isinstance(v, float) and math.isnan(v) for v in result):
        return "NaN"
    return None


def judge(metric: AnalysisMetric, result: object) -> tuple[Phase, str]:
    """One measurement's phase and why, by Argo Rollouts' rules.

    A command passes on exit code 0. Otherwise: with both conditions, failure
    decides Failed, success decides Successful, neither is Inconclusive; with one,
    its opposite is the other outcome. No data (empty, NaN) is Inconclusive, never
    a pass; a condition that cannot be evaluated on the result is an Error.
    """
    if metric.command is not None:
        code = result if isinstance(result, int) else -1
        return (Phase.SUCCESSFUL if code == 0 else Phase.FAILED), f"exit code {code}"
    shown = show_result(result)
    if (empty := _no_data(result)) is not None:
        return Phase.INCONCLUSIVE, f"{empty} ({shown})"
    return _by_conditions(metric, result, shown)


def _by_conditions(metric: AnalysisMetric, result: object, shown: str) -> tuple[Phase, str]:
    try:
        failed = evaluate(metric.failure, result) if metric.failure else None
        passed = evaluate(metric.success, result) if metric.success else None
    except ConditionError as error:
        return Phase.ERROR, f"result {shown}: {error}"
    if failed:
        return Phase.FAILED, f"result {shown}: failure condition {metric.failure!r} holds"
    if passed:
        return Phase.SUCCESSFUL, f"result {shown}: {metric.success!r}"
    if passed is None:  # only a failure condition, and it does not hold
        return Phase.SUCCESSFUL, f"result {shown}: not {metric.failure!r}"
    if failed is None:  # only a success condition, and it does not hold
        return Phase.FAILED, f"result {shown}: success condition {metric.success!r} does not hold"
    return Phase.INCONCLUSIVE, f"result {shown}: neither condition holds"


_ORDER = (Phase.FAILED, Phase.RUNNING, Phase.ERROR, Phase.INCONCLUSIVE)


def analysis_phase(analysis: Analysis, progress: Progress) -> Phase:
    """The whole analysis: any failed metric fails it at once (Argo aborts on the first);
    otherwise it runs while any metric runs, then Error, Inconclusive, or Successful."""
    phases = {progress.state(m.name).phase(m) for m in analysis.metrics}
    return next((p for p in _ORDER if p in phases), Phase.SUCCESSFUL)


def due_at(metric: AnalysisMetric, progress: Progress) -> datetime | None:
    """When `metric` is next measured (None: it is decided, or the analysis is)."""
    state = progress.state(metric.name)
    if state.phase(metric).done:
        return None
    if state.last_at is None:
        return progress.since + as_timedelta(metric.initial_delay)
    return state.last_at + as_timedelta(metric.interval)


def next_due(analysis: Analysis, progress: Progress) -> datetime | None:
    """The earliest next measurement of a running analysis (None once it is decided)."""
    if analysis_phase(analysis, progress).done:
        return None
    moments = [d for m in analysis.metrics if (d := due_at(m, progress)) is not None]
    return min(moments, default=None)


def summary(analysis: Analysis, progress: Progress) -> str:
    """One line: each metric's phase, measurements and last reading."""
    parts = []
    for metric in analysis.metrics:
        state = progress.state(metric.name)
        taken = len(state.taken) - state.taken.count("E")
        counts = f"{taken}/{metric.count}"
        if errors := state.taken.count("E"):
            counts += f", {errors} error{'s' if errors > 1 else ''}"
        detail = f"; {state.last_detail}" if state.last_detail else ""
        parts.append(f"{metric.name} {state.phase(metric)} ({counts}{detail})")
    return "; ".join(parts)


@dataclass(frozen=True)
class Pending:
    """An alias whose live version awaits (or is in) analysis."""

    target: Target
    analysis: Analysis
    # The analysis so far of this very version (None: it starts now).
    progress: Progress | None
    # When aliasctl moved the alias there, from its record (None: moved by someone else).
    moved_at: datetime | None = None


def pending_analyses(
    declared: Declared,
    observed: Observed,
    policies: Mapping[str, Policy],
) -> list[Pending]:
    """Aliases with an analysis policy whose live version is neither verified nor held.

    Only aliases the file declares and the registry shows at the declared version: an
    alias the file is about to move is analysed after the move, not before. A version
    the alias was rolled back to is never analysed (it was verified; never roll back a
    rollback), and a held version waits for a person.
    """
    found = []
    for name in sorted(declared):
        model = observed.models.get(name)
        if model is None:
            continue
        for alias, wanted in sorted(declared[name].items()):
            policy = policies.get(alias)
            if policy is None or policy.analysis is None:
                continue
            live = model.aliases.get(alias)
            hold = model.holds.get(alias)
            if hold is not None and wanted == hold.version:
                continue  # held (kept at the version it was rolled back to, or in place)
            verified = model.verified.get(alias)
            if live != wanted or (verified is not None and verified.version == live):
                continue
            progress = model.progress.get(alias)
            if progress is not None and progress.version != live:
                progress = None  # another version's: stale
            record = model.record
            moved_at = None
            if record is not None and record.aliases.get(alias) == live and record.applied_at:
                moved_at = parse_utc(record.applied_at)
            previous = verified.version if verified is not None else None
            target = Target(name, alias, live, previous)
            found.append(Pending(target, policy.analysis, progress, moved_at))
    return found


class Act(StrEnum):
    NOTHING = "nothing"  # still running
    VERIFY = "verify"  # record the version as verified
    ROLLBACK = "rollback"  # hold the version and move the alias back to the verified one
    HOLD = "hold"  # hold the alias where it is, for a person


@dataclass(frozen=True)
class Decision:
    act: Act
    phase: Phase
    message: str
    hold: Hold | None = None


def decide(pending: Pending, progress: Progress, now: datetime) -> Decision:
    """What a finished analysis leads to (pure: the runner does it, under the lock)."""
    target, analysis = pending.target, pending.analysis
    phase = analysis_phase(analysis, progress)
    said = summary(analysis, progress)
    where = f"{target.key} version {target.version}"
    if not phase.done:
        return Decision(Act.NOTHING, phase, f"{where}: analysis running: {said}")
    if phase is Phase.SUCCESSFUL:
        return Decision(Act.VERIFY, phase, f"{where}: analysis passed: {said}")
    previous = target.previous
    back = phase is Phase.FAILED and analysis.rollback and previous not in (None, target.version)
    if back and previous is not None:
        message = (
            f"{where}: analysis failed: {said}; rolled back to version {previous} "
            f"(last verified) and held"
        )
        hold = Hold(target.alias, target.version, previous, phase, said, utc_text(now), True)
        return Decision(Act.ROLLBACK, phase, message, hold)
    if phase is Phase.FAILED and analysis.rollback:
        why = "no version of this alias has passed analysis, so there is nothing to roll back to"
        message = f"{where}: analysis failed: {said}; NOT rolled back: {why}; held in place"
    elif phase is Phase.FAILED:
        message = f"{where}: analysis failed: {said}; held in place (rollback: false)"
    else:
        message = f"{where}: analysis {phase.value.lower()}: {said}; held for a person"
    hold = Hold(target.alias, target.version, target.version, phase, said, utc_text(now))
    return Decision(Act.HOLD, phase, message, hold)
