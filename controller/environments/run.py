"""Plan and apply across environments: each environment is an ordinary plan on its registry.

An environment's file, once its promotions are resolved to version numbers in its own
registry, is an ordinary spec: the same plan, gates, windows, freezes, lock and
inventory as a one-file apply. What environments add is the copy: apply copies a
promoted version into the target registry once (under the target's lock, found again
by its tag on any later run, so a crash or a re-run never copies twice), then moves the
alias to the copy. Sources are applied before the environments they feed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from controller.apply import ApplyResult, apply_plan
from controller.core.change import Action, Change
from controller.core.problem import Problem, messages
from controller.core.windows import verdicts
from controller.environments.evidence import PromotionEvidence, promotion_evidence
from controller.environments.registries import Registries, resolve_file
from controller.environments.soak import soak_problems, source_stretches
from controller.errors import ControllerError, PreflightError
from controller.gitops.provenance import make_stamp
from controller.reconcile import prepare_plan
from controller.registry.lock import held, lock_name

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from controller.core.plan import Plan
    from controller.core.soak import Stretch
    from controller.desired.spec import LoadedSpec
    from controller.environments.files import EnvironmentFile, Environments
    from controller.environments.resolve import Promotion, Source
    from controller.reconcile import Options

    OptionsFor = Callable[[LoadedSpec, str], Options]


@dataclass(frozen=True)
class Copied:
    """A copy apply made (or found) before moving the alias to it."""

    model: str
    alias: str
    source: Source
    version: int
    created: bool


@dataclass(frozen=True)
class EnvironmentPlan:
    name: str
    file: str
    registry: str  # the display URI
    plan: Plan
    promotions: tuple[Promotion, ...] = ()
    copied: tuple[Copied, ...] = ()
    result: ApplyResult | None = None  # after apply
    # A pending promotion's metrics beside the alias's version now (plan only).
    evidence: Mapping[tuple[str, str], PromotionEvidence] = field(default_factory=dict)

    @property
    def pending(self) -> tuple[Promotion, ...]:
        return tuple(p for p in self.promotions if p.pending)

    @property
    def has_changes(self) -> bool:
        return self.plan.has_changes or bool(self.pending)


def plan_environment(
    file: EnvironmentFile, registries: Registries, options_for: OptionsFor
) -> EnvironmentPlan:
    registry = registries.of(file.name)
    current = resolve_file(file, registries)
    loaded, live, promotions = current.loaded, current.live, list(current.promotions)
    options = options_for(loaded, file.spec.instance_name)
    stretches, blocked = before_copy(registries.environments, file, promotions, options)
    plan = prepare_plan(loaded.spec.declared(), registry, replace(options, source_soak=stretches))
    plan = replace(plan, problems=(*plan.problems, *blocked))
    evidence = {}
    if options.evidence:
        sources = {p.source.environment: registries.of(p.source.environment)
                   for p in promotions if p.pending and p.source is not None}  # fmt: skip
        evidence = promotion_evidence(file, registry, sources, promotions, live)
    return EnvironmentPlan(
        file.name, file.path, registry.display_uri, plan, tuple(promotions), evidence=evidence
    )


def before_copy(
    environments: Environments, file: EnvironmentFile, promotions: list[Promotion], options: Options
) -> tuple[dict[tuple[str, str], Stretch], list[Problem]]:
    """What a pending promotion must pass before anything is copied for it: its source is
    there, its soak in the source environment, and the target's windows and freezes (the
    copy is a write to production, and the move after it would be refused anyway)."""
    pending = [p for p in promotions if p.pending]
    problems = [
        Problem(p.model, p.alias, f"{p.key}: {p.waits_for}") for p in pending if p.waits_for
    ]
    stretches, errors = source_stretches(environments, file, promotions)
    problems += soak_problems(file, promotions, stretches, errors, options.now)
    moving = [Change(p.model, p.alias, Action.UPDATE, None, None) for p in pending]
    if moving and options.break_glass is None:
        if options.now is None:  # fail closed, as apply does
            problems.append(Problem.of_plan("windows and freezes: no current time given"))
        else:
            problems += [
                Problem.of(change, f"{message} (nothing is copied)")
                for change in moving
                for message in verdicts(options.policies, options.freezes, [change], options.now)
            ]
    return stretches, problems


def apply_environment(
    file: EnvironmentFile,
    registries: Registries,
    options_for: OptionsFor,
    *,
    lock_timeout: float,
    lock_lease: float,
    parallelism: int,
    say: Callable[[str], None],
) -> EnvironmentPlan:
    """Copy what is pending, then plan and apply as one apply does, all under the lock."""
    registry = registries.of(file.name)
    instance = file.spec.instance_name
    name = lock_name(registry, instance, file.loaded.spec.models)
    with held(
        registry, name, timeout_seconds=lock_timeout, lease_seconds=lock_lease, say=say
    ) as lock:
        promotions = registries.promotions(file.name)
        stretches, blocked = before_copy(
            registries.environments, file, promotions, options_for(file.loaded, instance)
        )
        if blocked:
            raise PreflightError(messages(blocked))
        copied = tuple(copy_promotion(registries, file.name, p) for p in promotions if p.pending)
        made = {(c.model, c.alias): c.version for c in copied}
        promotions = [
            replace(p, copy=made.get((p.model, p.alias), p.copy)) for p in promotions
        ]  # the copies are known: no second search for them
        loaded = resolve_file(file, registries, promotions).loaded
        options = replace(options_for(loaded, instance), source_soak=stretches)
        declared = loaded.spec.declared()
        plan = prepare_plan(declared, registry, options)
        if plan.problems:
            raise PreflightError(messages(plan.problems))
        stamp = make_stamp(Path(file.path), os.environ, options.now, plan.used_break_glass)
        source = {**stamp.source, "environment": file.name}
        result = apply_plan(
            plan,
            declared,
            registry,
            instance=instance,
            stamp=replace(stamp, source=source),
            parallelism=parallelism,
            must_stop=lock.lost,
        )
    return EnvironmentPlan(
        file.name, file.path, registry.display_uri, plan, tuple(promotions), copied, result
    )


def copy_promotion(registries: Registries, target: str, promotion: Promotion) -> Copied:
    source = promotion.source
    if source is None:  # waits_for said why; apply_environment refused those already
        raise ControllerError(f"{promotion.key}: nothing to copy yet")
    copy = registries.of(target).copy_version(
        registries.of(source.environment), registries.copy_source(source), promotion.model
    )
    return Copied(promotion.model, promotion.alias, source, copy.version, copy.created)
