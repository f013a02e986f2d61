"""One pass of analysis: take the measurements that are due, keep the progress, decide.

A pass measures each running metric at most once (a late pass never backfills
missed intervals), writes the progress onto the model, and hands every finished
analysis to act.py, which re-reads under the lock before doing anything.
`aliasctl analyze` runs one pass (or passes until done, with --wait); `serve`
runs a pass whenever one is due.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.analysis.act import Outcome, Settings, carry_out
from controller.core.analysis import (
    Act,
    Pending,
    decide,
    due_at,
    judge,
    next_due,
    pending_analyses,
)
from controller.core.progress import Phase, Progress, progress_tag
from controller.errors import ControllerError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from datetime import datetime

    from controller.analysis.reading import Reading
    from controller.core.analysis import Target
    from controller.desired.analysis import AnalysisMetric
    from controller.desired.spec import LoadedSpec
    from controller.registry.seam import Registry

    # Takes one measurement: the result the conditions judge (and a detail for people),
    # or a ControllerError (the provider could not answer).
    Measure = Callable[[AnalysisMetric, Target, datetime, Registry], Reading]

# Measurements taken at once (each waits on a provider's network answer or a command).
MEASURE_PARALLELISM = 8


@dataclass(frozen=True)
class Report:
    """What one pass (or a --wait of several) found and did."""

    outcomes: tuple[Outcome, ...] = ()

    @property
    def running(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.decision.act is Act.NOTHING)

    @property
    def next_due(self) -> datetime | None:
        return min((o.next_due for o in self.running if o.next_due), default=None)

    @property
    def exit_code(self) -> int:
        """Like plan: 1 when a version failed or is held (or an act could not be done),
        2 while an analysis is still running, 0 when every one passed (or none is due)."""
        if any(o.decision.act in (Act.ROLLBACK, Act.HOLD) or o.problem for o in self.outcomes):
            return 1
        return 2 if self.running else 0


def run_pass(
    loaded: LoadedSpec,
    registry: Registry,
    settings: Settings,
    now: datetime,
    measure: Measure,
    *,
    scope: Collection[str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> Report:
    """Measure what is due, save the progress, and act on every analysis that is done."""
    declared = loaded.spec.declared()
    if scope is not None:
        declared = {name: aliases for name, aliases in declared.items() if name in scope}
    if not any(p.analysis for p in loaded.spec.policies.values()):
        return Report()
    observed = registry.read_models(declared.keys(), exact=scope is not None)
    pending = pending_analyses(declared, observed, loaded.spec.policies)
    if not pending:
        return Report()
    progressed = _measure_due(pending, registry, now, measure)
    for before, after in zip(pending, progressed, strict=True):
        if after != before.progress:
            registry.set_model_tag(
                before.target.model, progress_tag(before.target.alias), after.encode()
            )
    decided = [
        (p, progress, decide(p, progress, now))
        for p, progress in zip(pending, progressed, strict=True)
    ]
    outcomes = [
        Outcome(p.target, decision, next_due=next_due(p.analysis, progress))
        for p, progress, decision in decided
        if decision.act is Act.NOTHING
    ]
    done = [(p, decision) for p, _, decision in decided if decision.act is not Act.NOTHING]
    if done:
        outcomes += carry_out(loaded, registry, settings, done, now, say)
    return Report(tuple(sorted(outcomes, key=lambda o: o.target.key)))


def _measure_due(
    pending: list[Pending], registry: Registry, now: datetime, measure: Measure
) -> list[Progress]:
    """Each analysis' progress after this pass's measurements (in parallel, bounded)."""
    starts = [p.progress or Progress(p.target.version, p.moved_at or now) for p in pending]
    jobs = [
        (index, metric)
        for index, (p, progress) in enumerate(zip(pending, starts, strict=True))
        for metric in p.analysis.metrics
        if (due := due_at(metric, progress)) is not None and due <= now
    ]
    if not jobs:
        return starts

    def take(job: tuple[int, AnalysisMetric]) -> tuple[Phase, str]:
        index, metric = job
        try:
            reading = measure(metric, pending[index].target, starts[index].since, registry)
        except ControllerError as error:  # ProviderError names its provider
            return Phase.ERROR, str(error)
        phase, why = judge(metric, reading.value)
        return phase, f"{why} ({reading.detail})" if reading.detail else why

    with ThreadPoolExecutor(max_workers=min(MEASURE_PARALLELISM, len(jobs))) as pool:
        taken = list(pool.map(take, jobs))
    after = list(starts)
    for (index, metric), (phase, detail) in zip(jobs, taken, strict=True):
        after[index] = after[index].measured(metric.name, phase, now, detail)
    return after


def provider_measure(
    metric: AnalysisMetric, target: Target, since: datetime, registry: Registry
) -> Reading:
    """A measurement by the metric's provider (controller/analysis/providers/)."""
    from controller.analysis.providers import measure  # noqa: PLC0415 - HTTP, processes

    return measure(metric, target, since, registry)
