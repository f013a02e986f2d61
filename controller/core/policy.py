"""Promotion gates and delete guards: pure checks of a plan against the file's policies.

Every unmet requirement becomes one problem naming the model, alias, version
and why; a missing tag, metric or run is a failure, never a pass.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING

from controller.core.change import Action, Change, Declared
from controller.core.problem import Problem
from controller.core.signature import Signature, incompatibilities
from controller.core.soak import Stretch, soak_failure
from controller.desired.spec import BOUND_PATTERN, Policy
from controller.desired.timespec import duration

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from controller.core.plan import Plan
    from controller.desired.spec import PromoteFrom

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
class Current:
    """What the registry knows about the version production runs now."""

    version: int
    metrics: Mapping[str, float] | None = None  # None: no source run
    signature: Signature | None = None
    signature_error: str | None = None


@dataclass(frozen=True)
class Evidence:
    """What the registry (and git) know about one target version."""

    tags: Mapping[str, str] = field(default_factory=dict)
    # The source run's metrics; None when the version has no source run.
    metrics: Mapping[str, float] | None = None
    # The logged model's signature; None when it has none or it could not be read (the error).
    signature: Signature | None = None
    signature_error: str | None = None
    # The version the alias points at now (the change's `before`), for relative gates.
    current: Current | None = None
    # Aliases this version held in an earlier revision of the file (from git history).
    held_before: frozenset[str] = frozenset()
    # The latest unbroken stretch in which it held the policy's promote_from alias
    # (core/soak.py): when it began, and when it ended (None: it holds it still).
    held_since: datetime | None = None
    held_until: datetime | None = None
    history_error: str | None = None
    # When a revision last took this alias away from this version: moving it back is a
    # rollback to an already-approved version (relative bounds and promote_from skipped).
    lost_alias_at: datetime | None = None


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}


@dataclass(frozen=True)
class Bound:
    """A parsed metric bound: `op` against a number, or against `current` (+, -, * operand)."""

    op: str
    number: float | None = None  # None: relative to the current version
    arithmetic: str | None = None
    operand: float = 0.0

    @property
    def relative(self) -> bool:
        return self.number is None

    def limit(self, current: float | None = None) -> float:
        if self.number is not None:
            return self.number
        if current is None:
            raise ValueError("a relative bound needs the current value")
        return _ARITHMETIC[self.arithmetic](current, self.operand) if self.arithmetic else current

    def holds(self, value: float, current: float | None = None) -> bool:
        return _OPERATORS[self.op](value, self.limit(current))


def parse_bound(text: str) -> Bound:
    match = BOUND_PATTERN.match(text)
    if match is None:  # the spec validator already refused it
        raise ValueError(f"not a bound: {text!r}")
    if match["number"] is not None:
        return Bound(match["op"], float(match["number"]))
    operand = float(match["operand"]) if match["operand"] else 0.0
    return Bound(match["op"], None, match["arith"], operand)


def bound_holds(bound: str, value: float, current: float | None = None) -> bool:
    return parse_bound(bound).holds(value, current)


def relative_bounds(policy: Policy) -> list[str]:
    """The metrics whose bounds name `current`, sorted."""
    return sorted(n for n, b in policy.require_metrics.items() if parse_bound(b).relative)


def is_rollback(change: Change, evidence: Evidence) -> bool:
    """An update back to a version that held this alias before (by the file's git history)."""
    return change.before is not None and evidence.lost_alias_at is not None


@dataclass(frozen=True)
class Exemption:
    """The gates a rollback skips: the version was approved for the alias once already."""

    # Relative bounds: it was measured against production when it first took the alias.
    metrics: tuple[str, ...] = ()
    # promote_from (and its soak): it was promoted through the line before.
    promote_from: PromoteFrom | None = None

    def __bool__(self) -> bool:
        return bool(self.metrics) or self.promote_from is not None


def rollback_exemption(policy: Policy) -> Exemption:
    """What a rollback under `policy` skips (the one place that decides it)."""
    return Exemption(tuple(relative_bounds(policy)), policy.promote_from)


def may_be_exempt(change: Change, policy: Policy) -> bool:
    """Whether `change` would skip gates if it were a rollback: the file's history is then
    needed to tell (an update, under a policy a rollback skips part of)."""
    return change.before is not None and bool(rollback_exemption(policy))


def exemption(change: Change, policy: Policy, evidence: Evidence) -> Exemption:
    """The gates `change` skips: a rollback's exemption, nothing for any other change."""
    return rollback_exemption(policy) if is_rollback(change, evidence) else Exemption()


def needs_current(policy: Policy) -> bool:
    """Whether the policy compares with the version the alias points at now."""
    return bool(relative_bounds(policy)) or policy.require_compatible_signature


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
    exempt = exemption(change, policy, evidence)
    for name, text in sorted(policy.require_metrics.items()):
        if name in exempt.metrics:
            continue  # a rollback: it was measured against production when it took the alias
        failures += _metric_failures(where, change, name, text, evidence)
    signature = evidence.signature
    if (policy.require_signature or policy.require_compatible_signature) and signature is None:
        gate = "require_signature" if policy.require_signature else "require_compatible_signature"
        why = evidence.signature_error or "the logged model has no signature"
        failures.append(f"{where}: {gate}: {why}")
    elif policy.require_compatible_signature and change.before is not None and signature:
        failures += _compatibility_failures(where, change, signature, evidence.current)
    if policy.promote_from is not None and exempt.promote_from is None:
        failures += _promote_from(where, change, policy.promote_from, evidence, now)
    return failures


def rollback_notes(change: Change, policy: Policy, evidence: Evidence) -> list[str]:
    """What a rollback skipped, for the plan's notes (nothing when it skipped nothing)."""
    exempt = exemption(change, policy, evidence)
    if not exempt or evidence.lost_alias_at is None:
        return []
    skipped = []
    if exempt.metrics:
        bounds = ", ".join(f"{n} {policy.require_metrics[n].strip()}" for n in exempt.metrics)
        skipped.append(f"relative gates ({bounds})")
    if (rule := exempt.promote_from) is not None:
        soak = f" for {rule.soak}" if rule.soak else ""
        skipped.append(f"promote_from {rule.alias}{soak}")
    until = evidence.lost_alias_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"{change.key} -> version {change.after}: rollback to version {change.after}, which "
        f"held {change.alias} until {until}; {' and '.join(skipped)} skipped"
    ]


def _promote_from(
    where: str, change: Change, rule: PromoteFrom, evidence: Evidence, now: datetime | None
) -> list[str]:
    alias = rule.alias
    if alias not in evidence.held_before and rule.environment is not None:
        why = (
            f"version {change.after} is not promoted from a version that held {alias!r} in "
            f"{rule.environment} (plan and apply it with {rule.environment}'s file)"
        )
        return [f"{where}: promote_from {alias!r} in {rule.environment}: {why}"]
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


def _metric_failures(
    where: str, change: Change, name: str, text: str, evidence: Evidence
) -> list[str]:
    bound = parse_bound(text)
    want = text.strip()
    if evidence.metrics is None:
        return [f"{where}: metric {name!r} {want}: the version has no source run"]
    value = evidence.metrics.get(name)
    if not bound.relative:
        if value is None:
            return [f"{where}: metric {name!r} {want}: not logged on the source run"]
        return [] if bound.holds(value) else [f"{where}: metric {name!r} is {value:g}, want {want}"]
    return _relative_failures(where, change, name, bound, want, value, evidence.current)


def _relative_failures(
    where: str,
    change: Change,
    name: str,
    bound: Bound,
    want: str,
    value: float | None,
    current: Current | None,
) -> list[str]:
    if change.before is None:
        return []  # nothing to compare with: a note (gate_notes), not a failure
    if current is None:  # fail closed: a caller that read nothing passes nothing
        return [
            f"{where}: metric {name!r} {want}: the current version {change.before} was not read"
        ]
    failures = []
    if value is None:
        failures.append(f"{where}: metric {name!r} missing on version {change.after}, want {want}")
    if current.metrics is None or name not in current.metrics:
        why = " (it has no source run)" if current.metrics is None else ""
        failures.append(
            f"{where}: metric {name!r} missing on the current version {current.version}{why}, "
            f"want {want}"
        )
    if failures or value is None or current.metrics is None:
        return failures
    now = current.metrics[name]
    if bound.holds(value, now):
        return []
    relative = want.removeprefix(bound.op).strip()
    return [
        f"{where}: metric {name!r} is {value:g}, want {bound.op} {bound.limit(now):g} "
        f"({relative}; version {current.version} has {now:g})"
    ]


def _compatibility_failures(
    where: str, change: Change, signature: Signature, current: Current | None
) -> list[str]:
    gate = "require_compatible_signature"
    if current is None:  # fail closed, as above
        return [f"{where}: {gate}: the current version {change.before} was not read"]
    if current.signature is None:
        why = current.signature_error or "the logged model has no signature"
        return [f"{where}: {gate}: the current version {current.version}: {why}"]
    reasons = incompatibilities(current.signature, signature, current.version, change.after or 0)
    return [f"{where}: {gate}: {reason}" for reason in reasons]


def gate_notes(change: Change, policy: Policy) -> list[str]:
    """Relative gates on an alias that does not exist yet pass; the plan says so."""
    if change.before is not None:
        return []
    where = f"{change.key} -> version {change.after}"
    relative = relative_bounds(policy)
    notes = [
        f"{where}: metric {n!r} {policy.require_metrics[n].strip()}: passes, nothing to "
        "compare with (the alias does not exist yet)"
        for n in relative
    ]
    if policy.require_compatible_signature:
        notes.append(
            f"{where}: require_compatible_signature: passes, nothing to compare with "
            "(the alias does not exist yet)"
        )
    return notes


def check_deletes(
    plan: Plan,
    declared: Declared,
    policies: Mapping[str, Policy],
    *,
    allow_delete: bool,
    max_deletes: int = DEFAULT_MAX_DELETES,
) -> list[Problem]:
    """Guards against accidental mass or protected deletes (Argo CD's users asked for these).

    A delete the file declares under `removals:` was reviewed as such in the pull request,
    so it passes every guard; only undeclared deletes need --allow-delete.
    """
    if allow_delete:
        return []
    every = [c for c in plan.changes if c.action is Action.DELETE]
    deletes = [c for c in every if not plan.declared_removal(c)]
    problems = [
        Problem.of(c, f"{c.key}: alias is protected; deleting it needs --allow-delete")
        for c in deletes
        if c.alias in policies and policies[c.alias].protected
    ]
    # After the apply a model keeps exactly its declared aliases: none left means wiped.
    wiped = sorted({c.model for c in deletes if not declared.get(c.model)})
    problems += [
        Problem(
            model,
            None,
            f"{model}: the plan deletes every alias aliasctl manages on it; "
            "that needs --allow-delete",
        )
        for model in wiped
    ]
    if len(deletes) > max_deletes:
        which = " not declared under removals" if len(deletes) < len(every) else ""
        problems.append(
            Problem.of_plan(
                f"the plan deletes {len(deletes)} aliases{which}, more than --max-deletes "
                f"{max_deletes}; that needs --allow-delete"
            )
        )
    return problems
