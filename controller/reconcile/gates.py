"""The promotion gates' reads and verdicts in a pre-flight: which source runs and MLmodels
the gates need (read once, with the evidence's, into `Sources`), every gate's problems and
rollback notes, and `verify: true`'s load-and-score of each distinct target.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.core.policy import (
    Current,
    Evidence,
    check_gates,
    needs_current,
    rollback_notes,
)
from controller.core.problem import Problem
from controller.errors import ControllerError
from controller.reconcile.gate_history import read_gate_history

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from pathlib import Path

    from controller.core.evidence import RunFacts
    from controller.core.policy import Gated
    from controller.core.signature import Signature
    from controller.core.soak import Stretch
    from controller.core.state import VersionInfo
    from controller.registry.seam import LoggedModel, Registry


@dataclass(frozen=True)
class Sources:
    """What stands behind the versions a plan's gates and evidence look at: each source run
    and each MLmodel read once, for both."""

    runs: Mapping[str, RunFacts]
    # (model, version) -> its MLmodel, or why it could not be read.
    models: Mapping[tuple[str, int], LoggedModel | ControllerError]


def gate_reads(gated: list[Gated]) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """The versions whose source runs (for metrics) and whose MLmodels (for signatures) the
    gates read: the targets, and the current version where a gate compares with it."""
    currents = {
        (g.change.model, g.change.before)
        for g in gated
        if g.change.before is not None and needs_current(g.policy)
    }
    runs: set[tuple[str, int]] = set()
    if any(g.policy.require_metrics for g in gated):
        runs = {(g.change.model, g.version) for g in gated} | currents
    models = {
        (g.change.model, g.version)
        for g in gated
        if g.policy.require_signature or g.policy.require_compatible_signature
    }
    models |= {
        (g.change.model, g.change.before)
        for g in gated
        if g.change.before is not None and g.policy.require_compatible_signature
    }
    return runs, models


def gate_problems(
    gated: list[Gated],
    versions: list[VersionInfo],
    sources: Sources,
    registry: Registry,
    *,
    spec_file: Path | None,
    source_soak: Mapping[tuple[str, str], Stretch],
    now: datetime | None,
    verify_timeout: float,
) -> tuple[list[Problem], list[str]]:
    """Every gate's problems, and the notes of rollbacks that skipped relative gates."""
    if not gated:
        return [], []
    # `versions` holds the targets and the versions they replace (one bulk read, made for
    # the evidence): the current version of a relative gate is among them unless it is gone.
    info = {(v.model, v.version): v for v in versions}
    run_keys, model_keys = gate_reads(gated)
    # Only what the gates asked for: the evidence's reads never feed a gate.
    run_ids = {run for k in run_keys if k in info and (run := info[k].run_id)}
    metrics = {r: sources.runs[r].metrics for r in run_ids if r in sources.runs}
    past = read_gate_history(gated, spec_file, source_soak)
    # One MLmodel read per distinct version, however many aliases point at it.
    signatures = {key: _signature(sources.models[key]) for key in sorted(model_keys)}

    problems: list[Problem] = []
    notes: list[str] = []
    to_verify: list[Gated] = []
    for gate in gated:
        change, policy = gate.change, gate.policy
        version = info[(change.model, gate.version)]
        signature, signature_error = signatures.get((change.model, gate.version), (None, None))
        stretch = past.stretches.get((change.model, change.alias))
        evidence = Evidence(
            tags=version.tags,
            metrics=metrics.get(version.run_id) if version.run_id else None,
            signature=signature,
            signature_error=signature_error,
            current=_current(gate, info, metrics, signatures),
            held_before=past.held.get((change.model, change.alias), frozenset()),
            held_since=stretch.start if stretch else None,
            held_until=stretch.end if stretch else None,
            history_error=past.error,
            lost_alias_at=past.lost.get((change.model, change.alias)),
        )
        failures = check_gates(change, policy, evidence, now)
        problems += [Problem.of(change, failure) for failure in failures]
        notes += rollback_notes(change, policy, evidence)
        if policy.verify and not failures:
            to_verify.append(gate)
    problems += _verify(to_verify, registry, verify_timeout)
    return problems, notes


def _current(
    gate: Gated,
    info: Mapping[tuple[str, int], VersionInfo],
    metrics: Mapping[str, Mapping[str, float]],
    signatures: Mapping[tuple[str, int], tuple[Signature | None, str | None]],
) -> Current | None:
    before = gate.change.before
    if before is None or not needs_current(gate.policy):
        return None
    key = (gate.change.model, before)
    run_id = info[key].run_id if key in info else None
    signature, error = signatures.get(key, (None, None))
    return Current(before, metrics.get(run_id) if run_id else None, signature, error)


def _signature(read: LoggedModel | ControllerError) -> tuple[Signature | None, str | None]:
    if isinstance(read, ControllerError):
        return None, f"cannot read the logged model: {read}"
    return read.signature, None


def _verify(gated: list[Gated], registry: Registry, timeout: float) -> list[Problem]:
    """Load and score every distinct target in parallel child processes (bounded)."""
    targets = sorted({(g.change.model, g.version) for g in gated})
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=2) as pool:
        errors = list(pool.map(lambda t: registry.verify(t[0], t[1], timeout), targets))
    by_target = dict(zip(targets, errors, strict=True))
    return [
        Problem.of(g.change, f"{g.change.key} -> version {g.version}: verify failed: {error}")
        for g in gated
        if (error := by_target[(g.change.model, g.version)])
    ]
