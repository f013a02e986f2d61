"""Wiring of one reconcile: read the registry in bulk, plan, then pre-flight everything.

Pre-flight is all or nothing: models exist, target versions exist and are
READY, delete guards, promotion gates, and (for `verify: true`) the target
loads and predicts. Any problem fails the whole plan and apply writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from controller.core.evidence import (
    DEFAULT_EVIDENCE_LIMIT,
    build_evidence,
    pick_for_evidence,
    versions_to_read,
)
from controller.core.plan import Plan, check_targets, compute_plan
from controller.core.policy import (
    DEFAULT_MAX_DELETES,
    DEFAULT_VERIFY_TIMEOUT,
    Current,
    Evidence,
    Gated,
    check_deletes,
    check_gates,
    gate_notes,
    gated_changes,
    may_be_exempt,
    needs_current,
    rollback_notes,
)
from controller.core.problem import Problem
from controller.core.soak import Stretch, last_lost, latest_stretch
from controller.core.state import DEFAULT_INSTANCE, Observed, VersionInfo
from controller.core.windows import promotions, verdicts
from controller.errors import ControllerError, RegistryError
from controller.registry.seam import READ_PARALLELISM

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from controller.core.change import Declared
    from controller.core.evidence import RunFacts, SignatureFacts
    from controller.core.signature import Signature
    from controller.desired.spec import LoadedSpec, Policy
    from controller.desired.timespec import Freeze
    from controller.registry.seam import LoggedModel, Registry


class DriftMode(StrEnum):
    HEAL = "heal"  # put drifted aliases back to what the file says
    WARN = "warn"  # report drifted aliases and leave them


@dataclass(frozen=True)
class Options:
    instance: str = DEFAULT_INSTANCE
    drift: DriftMode = DriftMode.HEAL
    allow_delete: bool = False
    max_deletes: int = DEFAULT_MAX_DELETES
    verify_timeout: float = DEFAULT_VERIFY_TIMEOUT
    # The file, for promote_from (which reads its git history).
    spec_file: Path | None = None
    policies: Mapping[str, Policy] = field(default_factory=dict)
    removals: tuple[str, ...] = ()  # the file's `removals:`: deletes that pass the guards
    freezes: tuple[Freeze, ...] = ()
    # The instant windows, freezes and soak times are judged at (aware); the CLI reads the clock.
    now: datetime | None = None
    # Overrides windows and freezes (never other gates); recorded in the audit stamp.
    break_glass: str | None = None
    # The file's `show_metrics:`: shown in the evidence beside the policy's own metrics.
    show_metrics: tuple[str, ...] = ()
    # Plan just these models (a webhook named them); None: the file and every managed model.
    scope: frozenset[str] | None = None
    # Evidence is for the people reviewing a plan; the controller's own cycles skip its reads.
    evidence: bool = True
    # Changes shown with detailed evidence (promotions first, then creates); None: every one.
    # Gates read what they judge for every change whatever this says.
    evidence_limit: int | None = DEFAULT_EVIDENCE_LIMIT
    # promote_from in another environment: the stretch in which the version held the alias
    # there, by that environment's file history (controller/environments), by (model, alias);
    # a gate with no entry here fails, never passes.
    source_soak: Mapping[tuple[str, str], Stretch] = field(default_factory=dict)
    # False (the serve cycle): a plan that only heals reads no versions and judges no gates.
    # A heal puts back a version aliasctl set, checked then, and the cycle applies heals
    # whatever the pre-flight says; a version deleted since fails the write itself.
    preflight_heals: bool = True

    @classmethod
    def for_spec(cls, loaded: LoadedSpec) -> Options:
        """The file's own part of the options; callers `replace()` in the rest."""
        spec = loaded.spec
        return cls(
            spec_file=Path(loaded.source.path),
            policies=dict(spec.policies),
            removals=tuple(spec.removals),
            freezes=tuple(spec.freezes),
            show_metrics=tuple(spec.show_metrics),
        )


def in_scope(declared: Declared, scope: frozenset[str] | None) -> Declared:
    """The declared models a scoped plan covers (all of them without a scope)."""
    if scope is None:
        return declared
    return {name: aliases for name, aliases in declared.items() if name in scope}


def prepare_plan(
    declared: Declared,
    registry: Registry,
    options: Options | None = None,
    observed: Observed | None = None,
) -> Plan:
    """The plan plus every pre-flight problem; versions are read only for changes.

    `observed`: the models, read already (the serve cycle reads its lock beside them).
    """
    options = options or Options()
    if options.scope is not None:
        declared = in_scope(declared, options.scope)
    if observed is None:
        scope = options.scope
        wanted = declared.keys() if scope is None else scope
        observed = registry.read_models(wanted, exact=scope is not None)
    plan = compute_plan(declared, observed, options.instance)
    plan = replace(plan, fingerprint=fingerprint(observed), removals=options.removals)
    if options.drift is DriftMode.WARN:
        drifted = {d.key for d in plan.drift}
        kept = tuple(c for c in plan.changes if c.key not in drifted)
        held = tuple(c for c in plan.changes if c.key in drifted)
        plan = replace(plan, changes=kept, held_back=held)
    problems = list(plan.problems)
    timing = _window_problems(plan, options)
    if options.break_glass is not None:
        plan = replace(plan, break_glass=options.break_glass, overridden=tuple(timing))
    else:
        problems += timing
    problems += check_deletes(
        plan,
        declared,
        options.policies,
        allow_delete=options.allow_delete,
        max_deletes=options.max_deletes,
    )
    targets = plan.targets()
    if targets and (options.preflight_heals or options.evidence or not _only_heals(plan)):
        # The versions replaced come in the same bulk read, for the evidence.
        versions = registry.read_versions(targets | versions_to_read(plan.changes))
        target_problems = check_targets(plan, versions)
        problems += target_problems
        gated = [] if target_problems else gated_changes(plan, options.policies)
        sources = _read_sources(plan, gated, versions, registry, options)
        if not target_problems:
            gate_problems, rollbacks = _gate_problems(gated, versions, sources, registry, options)
            problems += gate_problems
            notes = [n for g in gated for n in gate_notes(g.change, g.policy)]
            plan = replace(plan, notes=(*plan.notes, *notes, *rollbacks))
        if options.evidence:
            plan = _gather_evidence(plan, versions, sources, options)
    return replace(plan, problems=tuple(problems))


def _only_heals(plan: Plan) -> bool:
    """Every alias the plan sets goes back to what aliasctl last set (deletes aside)."""
    return all(c.key in plan.heals for c in plan.changes if c.after is not None)


@dataclass(frozen=True)
class _Sources:
    """What stands behind the versions a plan's gates and evidence look at: each source run
    and each MLmodel read once, for both."""

    runs: Mapping[str, RunFacts]
    # (model, version) -> its MLmodel, or why it could not be read.
    models: Mapping[tuple[str, int], LoggedModel | ControllerError]


def _read_sources(
    plan: Plan,
    gated: list[Gated],
    versions: list[VersionInfo],
    registry: Registry,
    options: Options,
) -> _Sources:
    """One read of the runs (in parallel, by the registry) and of each distinct MLmodel: one
    per source shared by versions, one per version otherwise."""
    info = {(v.model, v.version): v for v in versions}
    run_keys, model_keys = _gate_reads(gated)
    if options.evidence:
        shown = _evidence_keys(plan, versions, options.evidence_limit)
        run_keys, model_keys = run_keys | shown, model_keys | shown
    run_ids = {run for k in run_keys if k in info and (run := info[k].run_id)}
    runs = registry.read_runs(run_ids) if run_ids else {}
    # Versions registered from one source share its MLmodel (a retrain that came out the
    # same, a version registered again): read once, by the first of them.
    by_source: dict[object, list[tuple[str, int]]] = {}
    for pair in sorted(model_keys):
        source = info[pair].shared_source if pair in info else None
        by_source.setdefault(pair if source is None else source, []).append(pair)
    groups = list(by_source.values())
    with ThreadPoolExecutor(max_workers=min(READ_PARALLELISM, max(1, len(groups)))) as pool:
        read = list(pool.map(lambda group: _logged_model(registry, *group[0]), groups))
    models = {pair: found for group, found in zip(groups, read, strict=True) for pair in group}
    return _Sources(runs, models)


def _logged_model(registry: Registry, model: str, version: int) -> LoggedModel | ControllerError:
    try:
        return registry.read_logged_model(model, version)
    except ControllerError as error:
        return error


def _evidence_keys(
    plan: Plan, versions: list[VersionInfo], limit: int | None
) -> set[tuple[str, int]]:
    """The versions a reviewer weighs: each shown change's target and the one it replaces."""
    shown, _ = pick_for_evidence(plan.changes, limit)
    return versions_to_read(shown) & {(v.model, v.version) for v in versions}


def _gather_evidence(
    plan: Plan, versions: list[VersionInfo], sources: _Sources, options: Options
) -> Plan:
    """Evidence for the first `evidence_limit` creates and updates, and a note on the rest."""
    shown, omitted = pick_for_evidence(plan.changes, options.evidence_limit)
    wanted = _evidence_keys(plan, versions, options.evidence_limit)
    run_ids = {v.run_id for v in versions if v.run_id and (v.model, v.version) in wanted}
    runs = {r: sources.runs[r] for r in run_ids if r in sources.runs}
    signatures = {key: _described(sources.models[key]) for key in sorted(wanted)}
    evidence = build_evidence(
        shown, versions, runs, signatures, options.policies, options.show_metrics
    )
    notes = plan.notes
    if omitted:
        notes += (
            f"Evidence is shown for {len(shown)} of {len(shown) + omitted} changes (promotions "
            f"first, then creates); the other {omitted} are listed without it: "
            "`aliasctl plan --evidence all` shows every one.",
        )
    return replace(plan, evidence=evidence, evidence_omitted=omitted, notes=notes)


def _described(read: LoggedModel | ControllerError) -> tuple[SignatureFacts | None, str | None]:
    if isinstance(read, ControllerError):
        detail = read.detail if isinstance(read, RegistryError) else str(read)
        return None, f"cannot read the logged model: {detail}"
    return read.facts, None


def _window_problems(plan: Plan, options: Options) -> list[Problem]:
    """Window and freeze verdicts on the changes that move production (heals excepted)."""
    if not options.freezes and not any(p.windows for p in options.policies.values()):
        return []
    moving = promotions(plan.changes, plan.drift)
    if not moving:
        return []
    if options.now is None:  # fail closed: a caller that forgot the clock moves nothing
        return [
            Problem.of_plan(
                "promotion windows and freezes cannot be checked: no current time given"
            )
        ]
    return [
        Problem.of(change, message)
        for change in moving
        for message in verdicts(options.policies, options.freezes, [change], options.now)
    ]


def fingerprint(observed: Observed) -> str:
    """A digest of the live state a plan depends on: aliases and ownership, not timestamps."""
    body = {
        name: {
            "aliases": dict(sorted(model.aliases.items())),
            "managed": dict(sorted(model.record.aliases.items())) if model.record else None,
            "instance": model.record.instance if model.record else None,
            # A hold changes what the plan aims at (present only where there is one).
            **(
                {"holds": {a: h.encode() for a, h in sorted(model.holds.items())}}
                if model.holds
                else {}
            ),
        }
        for name, model in sorted(observed.models.items())
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _gate_reads(gated: list[Gated]) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
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


def _gate_problems(
    gated: list[Gated],
    versions: list[VersionInfo],
    sources: _Sources,
    registry: Registry,
    options: Options,
) -> tuple[list[Problem], list[str]]:
    """Every gate's problems, and the notes of rollbacks that skipped relative gates."""
    if not gated:
        return [], []
    # `versions` holds the targets and the versions they replace (one bulk read, made for
    # the evidence): the current version of a relative gate is among them unless it is gone.
    info = {(v.model, v.version): v for v in versions}
    run_keys, model_keys = _gate_reads(gated)
    # Only what the gates asked for: the evidence's reads never feed a gate.
    run_ids = {run for k in run_keys if k in info and (run := info[k].run_id)}
    metrics = {r: sources.runs[r].metrics for r in run_ids if r in sources.runs}
    past = _held_before(gated, options.spec_file, options.source_soak)
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
        failures = check_gates(change, policy, evidence, options.now)
        problems += [Problem.of(change, failure) for failure in failures]
        notes += rollback_notes(change, policy, evidence)
        if policy.verify and not failures:
            to_verify.append(gate)
    problems += _verify(to_verify, registry, options.verify_timeout)
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


@dataclass(frozen=True)
class _Past:
    """What the file's git history says about each gated (model, alias) and its target."""

    # The aliases the target held before taking this one (for promote_from).
    held: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # Its latest stretch holding the promote_from alias (for the soak time).
    stretches: dict[tuple[str, str], Stretch] = field(default_factory=dict)
    # When a revision last took this very alias away from it: moving back is a rollback.
    lost: dict[tuple[str, str], datetime] = field(default_factory=dict)
    error: str | None = None


def _held_before(
    gated: list[Gated], spec_file: Path | None, source_soak: Mapping[tuple[str, str], Stretch]
) -> _Past:
    """Read the file's history when a gate depends on it: promote_from, or a relative bound
    or promote_from that a rollback (an update back to a former holder) would skip. A
    promote_from in another environment is judged by that environment's history instead."""
    rollback_matters = any(may_be_exempt(g.change, g.policy) for g in gated)
    if not rollback_matters and not any(g.policy.promote_from for g in gated):
        return _Past()
    if spec_file is None:  # outside git there is no history, so no rollback exemption
        return _Past(error="no file history to check against")
    from controller.gitops.history import read_timeline  # noqa: PLC0415 - git only when needed

    try:
        timeline = read_timeline(spec_file)
    except ControllerError as error:
        return _Past(error=f"cannot read the file's git history: {error}")
    past = _Past()
    for gate in gated:
        model, alias, version = gate.change.model, gate.change.alias, gate.version
        aliases: set[str] = set()
        for entry in timeline.entries:
            state = entry.state.get(model, {})
            # Holding an alias only counts while the version did not already hold the new one.
            if state.get(alias) != version:
                aliases |= {a for a, v in state.items() if v == version}
        past.held[(model, alias)] = frozenset(aliases)
        revisions = [(e.revision.time, e.state.get(model, {})) for e in timeline.entries]
        rule = gate.policy.promote_from
        if rule is not None and rule.environment is not None:
            if (model, alias) in source_soak:
                past.held[(model, alias)] |= {rule.alias}
                past.stretches[(model, alias)] = source_soak[(model, alias)]
        elif rule is not None and (found := latest_stretch(revisions, rule.alias, version, alias)):
            past.stretches[(model, alias)] = found
        if lost := last_lost(revisions, alias, version):
            past.lost[(model, alias)] = lost
    return past


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
