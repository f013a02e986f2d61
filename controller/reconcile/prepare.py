"""Wiring of one reconcile: read the registry in bulk, plan, then pre-flight everything
(the gates' reads and verdicts are in gates.py, their evidence from git in gate_history.py).

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
    Gated,
    check_deletes,
    gate_notes,
    gated_changes,
)
from controller.core.problem import Problem
from controller.core.state import DEFAULT_INSTANCE, Observed, VersionInfo
from controller.core.windows import promotions, verdicts
from controller.errors import ControllerError, RegistryError
from controller.reconcile.gates import Sources, gate_problems, gate_reads
from controller.registry.seam import READ_PARALLELISM

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from controller.core.change import Declared
    from controller.core.evidence import SignatureFacts
    from controller.core.soak import Stretch
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
            found, rollbacks = gate_problems(
                gated,
                versions,
                sources,
                registry,
                spec_file=options.spec_file,
                source_soak=options.source_soak,
                now=options.now,
                verify_timeout=options.verify_timeout,
            )
            problems += found
            notes = [n for g in gated for n in gate_notes(g.change, g.policy)]
            plan = replace(plan, notes=(*plan.notes, *notes, *rollbacks))
        if options.evidence:
            plan = _gather_evidence(plan, versions, sources, options)
    return replace(plan, problems=tuple(problems))


def _only_heals(plan: Plan) -> bool:
    """Every alias the plan sets goes back to what aliasctl last set (deletes aside)."""
    return all(c.key in plan.heals for c in plan.changes if c.after is not None)


def _read_sources(
    plan: Plan,
    gated: list[Gated],
    versions: list[VersionInfo],
    registry: Registry,
    options: Options,
) -> Sources:
    """One read of the runs (in parallel, by the registry) and of each distinct MLmodel: one
    per source shared by versions, one per version otherwise."""
    info = {(v.model, v.version): v for v in versions}
    run_keys, model_keys = gate_reads(gated)
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
    return Sources(runs, models)


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
    plan: Plan, versions: list[VersionInfo], sources: Sources, options: Options
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
