"""Acting on a finished analysis, under the registry lock: verify, roll back and hold, or hold.

Everything is re-read under the lock first, so a result never acts on a move it did
not measure: if the alias moved on (a new apply, a hand move) or someone else already
decided, the result is stale and dropped. A rollback is written as a hold first and
then applied as a plan, so it passes the same gates, windows and freezes as any
apply; if it is refused the hold stays and says so, and the next apply (or serve)
carries it out once it may. A run killed between the two converges the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from controller.apply import apply_plan
from controller.core.analysis import Act, Decision, Pending
from controller.core.holds import Verified, hold_tag, verified_tag
from controller.core.progress import progress_tag
from controller.core.state import DEFAULT_INSTANCE, Stamp, utc_text
from controller.errors import ControllerError
from controller.gitops.provenance import make_stamp
from controller.reconcile import Options, prepare_plan
from controller.registry.lock import held, lock_name
from controller.registry.seam import COPIED_FROM_TAG

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from controller.core.analysis import Target
    from controller.core.soak import Stretch
    from controller.core.state import Observed
    from controller.desired.spec import LoadedSpec
    from controller.registry.seam import Registry


@dataclass(frozen=True)
class Settings:
    instance: str = DEFAULT_INSTANCE
    lock_timeout: float = 30.0
    lock_lease: float = 60.0
    # After a rollback: prepare the file's revert on a branch, and push it where it can.
    revert_branch: bool = True
    push: bool = True
    # The environment whose file and registry these are (recorded in a rollback's stamp).
    environment: str | None = None
    # A promotion's stretch holding the alias in its source environment, for promote_from
    # across environments: the rollback is judged with it, as apply judges that alias.
    source_soak: Mapping[tuple[str, str], Stretch] = field(default_factory=dict)
    # The models the lock is named from, as apply names it (an environment's whole file,
    # models waiting for their first copy included); empty: the file's declared models.
    lock_models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    target: Target
    decision: Decision
    acted: bool = False
    # Why the act was not (fully) done: stale, a gate refused the rollback, a write failed.
    problem: str | None = None
    next_due: datetime | None = None
    # What became of the revert branch (after a rollback).
    revert: str | None = None

    @property
    def message(self) -> str:
        return self.decision.message


def carry_out(
    loaded: LoadedSpec,
    registry: Registry,
    settings: Settings,
    decided: list[tuple[Pending, Decision]],
    now: datetime,
    say: Callable[[str], None],
) -> list[Outcome]:
    declared = loaded.spec.declared()
    name = lock_name(registry, settings.instance, settings.lock_models or declared)
    with held(
        registry,
        name,
        timeout_seconds=settings.lock_timeout,
        lease_seconds=settings.lock_lease,
        say=say,
    ) as lock:
        fresh = registry.read_models({p.target.model for p, _ in decided}, exact=True)
        outcomes = []
        for pending, decision in decided:
            if lock.lost():
                outcomes.append(Outcome(pending.target, decision, problem=lock.lost()))
                continue
            stale = _stale(pending, fresh)
            if stale is not None:
                problem = f"not acted on: {stale}"
                outcomes.append(Outcome(pending.target, decision, problem=problem))
                continue
            try:
                outcomes.append(_act(loaded, registry, settings, pending, decision, now, lock.lost))
            except ControllerError as error:
                outcomes.append(Outcome(pending.target, decision, problem=str(error)))
    return outcomes


def _stale(pending: Pending, fresh: Observed) -> str | None:
    """Why a result no longer applies: the alias moved on, or someone decided already."""
    target = pending.target
    model = fresh.models.get(target.model)
    live = model.aliases.get(target.alias) if model else None
    if live != target.version:
        now_at = "is gone" if live is None else f"points at version {live} now"
        return f"{target.key} {now_at}, not at the measured version {target.version}"
    if model is not None and target.alias in model.holds:
        return f"{target.key} is held already"
    verified = model.verified.get(target.alias) if model else None
    if verified is not None and verified.version != target.previous:
        return f"{target.key}: its verified version changed meanwhile (now {verified.version})"
    return None


def _act(
    loaded: LoadedSpec,
    registry: Registry,
    settings: Settings,
    pending: Pending,
    decision: Decision,
    now: datetime,
    lost: Callable[[], str | None],
) -> Outcome:
    target = pending.target
    stamp = make_stamp(Path(loaded.source.path), os.environ, now)
    if decision.act is Act.VERIFY:
        verified = Verified(
            target.alias, target.version, utc_text(now), decision.message, stamp.commit
        )
        registry.set_model_tag(target.model, verified_tag(target.alias), verified.encode())
        registry.delete_model_tag(target.model, progress_tag(target.alias))
        return Outcome(target, decision, acted=True)
    hold = decision.hold
    if hold is None:  # decide() gives every hold and rollback one
        raise AssertionError(f"{decision.act} without a hold")
    hold = replace(hold, commit=stamp.commit)
    # The hold first: from here every apply keeps the alias off the failed version.
    registry.set_model_tag(target.model, hold_tag(target.alias), hold.encode())
    registry.delete_model_tag(target.model, progress_tag(target.alias))
    if decision.act is Act.HOLD:
        return Outcome(target, decision, acted=True)
    return _roll_back(loaded, registry, settings, target, decision, stamp, now, lost)


def _roll_back(
    loaded: LoadedSpec,
    registry: Registry,
    settings: Settings,
    target: Target,
    decision: Decision,
    stamp: Stamp,
    now: datetime,
    lost: Callable[[], str | None],
) -> Outcome:
    """Move the alias back as a plan of one change, through every gate, window and freeze."""
    options = replace(
        Options.for_spec(loaded),
        instance=settings.instance,
        now=now,
        evidence=False,
        scope=frozenset({target.model}),
        source_soak=settings.source_soak,
    )
    declared = loaded.spec.declared()
    plan = prepare_plan(declared, registry, options)
    mine = tuple(c for c in plan.changes if (c.model, c.alias) == (target.model, target.alias))
    others = tuple(c for c in plan.changes if c not in mine)
    blocking = [
        p.text
        for p in plan.problems
        if p.model in (None, target.model) and p.alias in (None, target.alias)
    ]
    if blocking:
        why = "; ".join(blocking)
        return Outcome(target, decision, problem=f"rollback refused (the alias stays held): {why}")
    # Only the rollback: other pending changes of the model wait for a reviewed apply.
    plan = replace(plan, changes=mine, held_back=(*plan.held_back, *others), stale_records=())
    reason = (
        f"rollback of version {target.version}: {decision.hold.reason if decision.hold else ''}"
    )
    source = {**stamp.source, "rollback": reason[:500]}
    if settings.environment is not None:
        source["environment"] = settings.environment
    result = apply_plan(
        plan,
        declared,
        registry,
        instance=settings.instance,
        stamp=replace(stamp, source=source),
        must_stop=lost,
    )
    if not result.ok:
        errors = [r.error for r in result.failed if r.error] + list(result.record_errors)
        problem = f"rollback not completed (the hold stays; the next apply retries): {errors}"
        return Outcome(target, decision, problem=problem)
    revert = None
    if settings.revert_branch:
        revert = _revert(loaded, target, decision, settings, _copied_from(registry, target))
    return Outcome(target, decision, acted=True, revert=revert)


def _copied_from(registry: Registry, target: Target) -> str | None:
    """The lineage tag of the version rolled back to, if it is a copy (environments)."""
    if target.previous is None:
        return None
    try:
        [info] = registry.read_versions([(target.model, target.previous)])
    except (ControllerError, ValueError):
        return None  # the revert then names the version by its number
    return info.tags.get(COPIED_FROM_TAG)


def _revert(
    loaded: LoadedSpec,
    target: Target,
    decision: Decision,
    settings: Settings,
    copied_from: str | None = None,
) -> str:
    """The file's revert, on a branch for review (git stays the truth)."""
    from controller.gitops.revert import prepare_revert_branch  # noqa: PLC0415 - git when needed

    previous = target.previous
    if previous is None:  # a rollback always has one
        return "no revert branch: no version to go back to"
    message = (
        f"Roll back {target.key} to version {previous}\n\n"
        f"aliasctl rolled {target.key} back from version {target.version} to version "
        f"{previous}, the last version that passed analysis, and holds it there.\n\n"
        f"{decision.message}\n"
    )
    try:
        branch = prepare_revert_branch(
            Path(loaded.source.path),
            target.model,
            target.alias,
            previous,
            message,
            push=settings.push,
            environment=settings.environment,
            copied_from=copied_from,
        )
    except ControllerError as error:
        return f"no revert branch: {error}"
    if branch.pushed:
        return f"revert pushed on branch {branch.branch} ({branch.sha[:7]}): open a pull request"
    why = f" (not pushed: {branch.push_error})" if branch.push_error else ""
    return f"revert prepared on branch {branch.branch} ({branch.sha[:7]}){why}"
