"""Promotion gates and delete guards: pure checks of a plan against the file's policies.

Every unmet requirement becomes one problem naming the model, alias, version
and why; a missing tag, metric or run is a failure, never a pass.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.plan import Action, Change, Declared, Plan
from controller.soak import Stretch, duration, soak_failure
from controller.spec import BOUND_PATTERN, Policy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from controller.spec import PromoteFrom

DEFAULT_MAX_DELETES = 5
DEFAULT_VERIFY_TIMEOUT = 300.0  # seconds; loading a large model can take minutes

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Evidence:
    """What the registry (and git) know about one target version."""

    tags: Mapping[str, str] = field(default_factory=dict)
    # The source run's metrics; None when the version has no source run.
    metrics: Mapping[str, float] | None = None
    # Whether the logged model carries a signature; None when it could not be read.
    has_signature: bool | None = None
    signature_error: str | None = None
    # Aliases this version held in an earlier revision of the file (from git history).
    held_before: frozenset[str] = frozenset()
    # The latest unbroken stretch in which it held the policy's promote_from alias
    # (controller/soak.py): when it began, and when it ended (None: it holds it still).
    held_since: datetime | None = None
    held_until: datetime | None = None
    history_error: str | None = None


def bound_holds(bound: str, value: float) -> bool:
    match = BOUND_PATTERN.match(bound)
    if match is None:  # the spec validator already refused it
        raise ValueError(f"not a bound: {bound!r}")
    return _OPERATORS[match.group(1)](value, float(match.group(2)))


@dataclass(frozen=True)
class Gated:
    """A change that moves an alias with a policy to `version`."""

    change: Change
    version: int
    policy: Policy


def gated_changes(plan: Plan, policies: Mapping[str, Policy]) -> list[Gated]:
    """Changes that move an alias that has a policy (deletes are guarded separately)."""
    return [
        Gated(change, change.after, policies[change.alias])
        for change in plan.changes
        if change.after is not None and change.alias in policies
    ]


def check_gates(
    change: Change, policy: Policy, evidence: Evidence, now: datetime | None = None
) -> list[str]:
    """Every gate `change` fails; `now` is the clock a soak time is measured against."""
    where = f"{change.key} -> version {change.after}"
    failures = []
    for key, wanted in sorted(policy.require_tags.items()):
        found = evidence.tags.get(key)
        if found is None:
            failures.append(f"{where}: tag {key!r} is missing (want {wanted!r})")
        elif found != wanted:
            failures.append(f"{where}: tag {key!r} is {found!r}, want {wanted!r}")
    for name, bound in sorted(policy.require_metrics.items()):
        if evidence.metrics is None:
            failures.append(f"{where}: metric {name!r} {bound}: the version has no source run")
            continue
        value = evidence.metrics.get(name)
        if value is None:
            failures.append(f"{where}: metric {name!r} {bound}: not logged on the source run")
        elif not bound_holds(bound, value):
            failures.append(f"{where}: metric {name!r} is {value:g}, want {bound.strip()}")
    if policy.require_signature and not evidence.has_signature:
        why = evidence.signature_error or "the logged model has no signature"
        failures.append(f"{where}: require_signature: {why}")
    if policy.promote_from is not None:
        failures += _promote_from(where, change, policy.promote_from, evidence, now)
    return failures


def _promote_from(
    where: str, change: Change, rule: PromoteFrom, evidence: Evidence, now: datetime | None
) -> list[str]:
    alias = rule.alias
    if alias not in evidence.held_before:
        why = evidence.history_error or (
            f"version {change.after} never held {alias!r} in an earlier revision"
        )
        return [f"{where}: promote_from {alias!r}: {why}"]
    if rule.soak is None:
        return []
    if evidence.held_since is None:
        why = (
            f"version {change.after} last took {alias!r} while it held {change.alias!r}, "
            f"which does not count toward the {rule.soak} soak"
        )
        return [f"{where}: promote_from {alias!r}: {why}"]
    if now is None:  # a caller's mistake, but never a pass
        return [f"{where}: promote_from {alias!r}: no clock to measure the soak time against"]
    stretch = Stretch(evidence.held_since, evidence.held_until)
    short = soak_failure(stretch, duration(rule.soak), rule.soak, alias, now)
    return [f"{where}: {short}"] if short else []


def check_deletes(
    plan: Plan,
    declared: Declared,
    policies: Mapping[str, Policy],
    *,
    allow_delete: bool,
    max_deletes: int = DEFAULT_MAX_DELETES,
) -> list[str]:
    """Guards against accidental mass or protected deletes (Argo CD's users asked for these).

    A delete the file declares under `removals:` was reviewed as such in the pull request,
    so it passes every guard; only undeclared deletes need --allow-delete.
    """
    if allow_delete:
        return []
    every = [c for c in plan.changes if c.action is Action.DELETE]
    deletes = [c for c in every if not plan.declared_removal(c)]
    problems = [
        f"{c.key}: alias is protected; deleting it needs --allow-delete"
        for c in deletes
        if c.alias in policies and policies[c.alias].protected
    ]
    # After the apply a model keeps exactly its declared aliases: none left means wiped.
    wiped = sorted({c.model for c in deletes if not declared.get(c.model)})
    problems += [
        f"{model}: the plan deletes every alias aliasctl manages on it; that needs --allow-delete"
        for model in wiped
    ]
    if len(deletes) > max_deletes:
        which = " not declared under removals" if len(deletes) < len(every) else ""
        problems.append(
            f"the plan deletes {len(deletes)} aliases{which}, more than --max-deletes "
            f"{max_deletes}; that needs --allow-delete"
        )
    return problems
