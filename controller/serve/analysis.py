"""serve's analysis after a promotion: a pass after each reconcile and whenever one is due.

The pass is `aliasctl analyze`'s (controller/analysis/runner.py): the same
measurements, the same lock, and a rollback through the same gates, windows and
freezes. What it did becomes events (notifications) and the running analyses
become part of the snapshot. Like a cycle, a pass never raises.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from controller.analysis.act import Outcome
from controller.analysis.act import Settings as AnalysisSettings
from controller.analysis.runner import provider_measure, run_pass
from controller.core.analysis import Act
from controller.errors import ControllerError
from controller.serve.desired import for_analysis
from controller.serve.status import Event, EventKind, RunningAnalysis

if TYPE_CHECKING:
    from datetime import datetime

    from controller.analysis.runner import Measure
    from controller.registry.seam import Registry
    from controller.serve.cycle import Settings
    from controller.serve.status import Snapshot

log = logging.getLogger("aliasctl.serve")

_KIND = {
    Act.VERIFY: EventKind.ANALYSIS_PASSED,
    Act.ROLLBACK: EventKind.ROLLED_BACK,
    Act.HOLD: EventKind.ANALYSIS_HELD,
}


@dataclass(frozen=True)
class PassReport:
    snapshot: Snapshot
    events: tuple[Event, ...] = ()
    next_due: datetime | None = None  # wall clock: when the next measurement is due


def analysis_pass(
    settings: Settings,
    registry: Registry,
    previous: Snapshot,
    scope: frozenset[str] | None,
    now: datetime,
    measure: Measure = provider_measure,
) -> PassReport:
    """Measure what is due and act on what is decided; never raises."""
    try:
        read = for_analysis(settings.file, settings.served)
        acts = AnalysisSettings(
            settings.instance,
            settings.lock_timeout,
            settings.lock_lease,
            settings.revert_branch,
            settings.push,
            environment=read.environment,
            source_soak=read.source_soak,
            lock_models=read.lock_models,
        )
        report = run_pass(read.loaded, registry, acts, now, measure, scope=scope, say=log.info)
    except ControllerError as error:
        log.warning("analysis pass failed: %s", error)
        return PassReport(previous)
    except Exception:  # the controller must outlive any one pass
        log.exception("unexpected error in an analysis pass")
        return PassReport(previous)
    events = tuple(e for o in report.outcomes if (e := _event(o, previous.commit, now)))
    for event in events:
        log.info("%s", event.describe())
    running = tuple(
        RunningAnalysis(o.target.model, o.target.alias, o.target.version, o.message, o.next_due)
        for o in report.running
    )
    if scope is not None:
        kept = tuple(a for a in previous.analyses if a.model not in scope)
        running = tuple(sorted(kept + running))
    snapshot = replace(previous, analyses=running, events=previous.recent_events(events))
    return PassReport(snapshot, events, report.next_due)


def _event(outcome: Outcome, commit: str | None, now: datetime) -> Event | None:
    act = outcome.decision.act
    if act is Act.NOTHING:
        return None
    target = outcome.target
    if outcome.problem is not None:
        reason = f"{outcome.message}; {outcome.problem}"
        return Event(
            EventKind.ANALYSIS_STUCK, now, target.model, target.alias, target.version,
            None, commit, reason,
        )  # fmt: skip
    after = outcome.decision.hold.held_at if outcome.decision.hold else target.version
    reason = outcome.message + (f"; {outcome.revert}" if outcome.revert else "")
    return Event(_KIND[act], now, target.model, target.alias, target.version, after, commit, reason)
