"""The pure centre: (desired, observed) -> Plan. No I/O, no mlflow, no git.

The same diff serves `plan` (file vs registry), `history` (revision vs
revision) and drift (registry vs what the controller last set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from controller.core.change import Action, Change, Declared
from controller.core.holds import Hold, hold_tag
from controller.core.problem import Problem
from controller.core.stages import stage_note
from controller.core.state import (
    RECORD_TAG,
    Observed,
    ObservedModel,
    Record,
    VersionInfo,
    case_twin,
)
from controller.desired.names import split_target

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from controller.core.evidence import ChangeEvidence


@dataclass(frozen=True, order=True)
class AliasRef:
    """An alias seen in the registry: unmanaged ones are listed, never touched."""

    model: str
    alias: str
    version: int


@dataclass(frozen=True, order=True)
class Drift:
    """A managed alias moved outside the controller since it last set it."""

    model: str
    alias: str
    recorded: int | None
    live: int | None

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"


def heal_keys(changes: Iterable[Change], drift: Iterable[Drift]) -> frozenset[str]:
    """The changes that only put a hand-moved alias back to what aliasctl last set.

    Only these are exempt from gates, windows and freezes. A change on a drifted alias
    to anything else (the file has moved on meanwhile) is a promotion, whoever noticed.
    """
    restored = {(d.model, d.alias, d.recorded) for d in drift}
    return frozenset(c.key for c in changes if (c.model, c.alias, c.after) in restored)


@dataclass(frozen=True, order=True)
class HeldAlias:
    """An alias kept where a hold says while the file names the version that was held."""

    model: str
    alias: str
    hold: Hold

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"

    def describe(self) -> str:
        hold = self.hold
        if hold.rolled_back:
            kept = f"held at version {hold.held_at}: version {hold.version} failed analysis"
        else:
            kept = f"held at version {hold.held_at}: analysis was {hold.phase.lower()}"
        return (
            f"{self.key} is {kept} ({hold.since}; {hold.reason}). The file names version "
            f"{hold.version}: naming another (the fix, or the revert) lifts the hold, and so "
            f"does `aliasctl hold release {self.key} --reason TEXT`"
        )


def with_holds(declared: Declared, holds: Iterable[HeldAlias]) -> Declared:
    """The file's aliases with each held one kept where its hold says."""
    kept = {(h.model, h.alias): h.hold.held_at for h in holds}
    if not kept:
        return declared
    return {
        model: {alias: kept.get((model, alias), version) for alias, version in aliases.items()}
        for model, aliases in declared.items()
    }


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    unmanaged: tuple[AliasRef, ...] = ()
    drift: tuple[Drift, ...] = ()
    problems: tuple[Problem, ...] = ()
    # Models whose inventory record must be (re)written even when no alias moves.
    stale_records: tuple[str, ...] = ()
    # Models no longer in the file: their record is removed once their aliases are gone.
    released: tuple[str, ...] = ()
    last_applied: Mapping[str, Record] = field(default_factory=dict)
    # Digest of the live state this plan was computed from (for saved plans).
    fingerprint: str = ""
    # Changes left out on purpose (drifted aliases under --drift warn): not done, not recorded.
    held_back: tuple[Change, ...] = ()
    # The file's `removals:` entries (MODEL or MODEL@ALIAS): deletes it declares on purpose.
    removals: tuple[str, ...] = ()
    # --break-glass: its reason, and the window and freeze problems it let through.
    break_glass: str | None = None
    overridden: tuple[Problem, ...] = ()
    # What a reviewer should know that is not a problem (a relative gate with nothing to compare).
    notes: tuple[str, ...] = ()
    # For each create and update: the target version beside the one it replaces (for review).
    evidence: tuple[ChangeEvidence, ...] = ()
    # Creates and updates listed without evidence: past the plan's evidence limit.
    evidence_omitted: int = 0
    # Aliases kept where a hold says (core/holds.py), and holds the file lifts by naming
    # another version (or dropping the alias): (model, alias).
    holds: tuple[HeldAlias, ...] = ()
    lifted: tuple[tuple[str, str], ...] = ()

    @property
    def used_break_glass(self) -> str | None:
        """The --break-glass reason when it let something through (for the audit record)."""
        return self.break_glass if self.overridden else None

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @cached_property
    def heals(self) -> frozenset[str]:
        """Keys of the changes that restore what aliasctl last set (see `heal_keys`)."""
        return heal_keys(self.changes, self.drift)

    def targets(self) -> set[tuple[str, int]]:
        """(model, version) pairs the plan points aliases at: the only versions to check."""
        return {(c.model, c.after) for c in self.changes if c.after is not None}

    def evidence_for(self, change: Change) -> ChangeEvidence | None:
        return self._evidence_by_key.get(change.key)

    @cached_property
    def _evidence_by_key(self) -> dict[str, ChangeEvidence]:
        """Looked up once per change when rendering: a dict, not a scan of the list."""
        return {f"{e.model}@{e.alias}": e for e in self.evidence}

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    def declared_removal(self, change: Change) -> bool:
        """Whether `change` is a delete that a `removals:` entry of the file asks for."""
        return change.action is Action.DELETE and any(
            _covers(entry, change) for entry in self.removals
        )

    def unmatched_removals(self) -> tuple[str, ...]:
        """Entries with nothing to delete (already done, or a typo): a note, not an error."""
        deletes = [c for c in self.changes if c.action is Action.DELETE]
        return tuple(e for e in self.removals if not any(_covers(e, c) for c in deletes))


def _covers(entry: str, change: Change) -> bool:
    model, alias = split_target(entry)
    return change.model == model and alias in (None, change.alias)


def diff_aliases(model: str, before: Mapping[str, int], after: Mapping[str, int]) -> list[Change]:
    """Alias changes that turn `before` into `after` for one model (both complete maps)."""
    changes = []
    for alias in sorted(before.keys() | after.keys()):
        old, new = before.get(alias), after.get(alias)
        if old == new:
            continue
        action = Action.CREATE if old is None else Action.DELETE if new is None else Action.UPDATE
        changes.append(Change(model, alias, action, old, new))
    return changes


def compute_plan(declared: Declared, observed: Observed, instance: str = "default") -> Plan:
    changes: list[Change] = []
    unmanaged: list[AliasRef] = []
    drift: list[Drift] = []
    problems: list[Problem] = []
    stale: list[str] = []
    released: list[str] = []
    last_applied: dict[str, Record] = {}
    notes: list[str] = []
    holds: list[HeldAlias] = []
    lifted: list[tuple[str, str]] = []

    for name in sorted(declared):
        model = observed.models.get(name)
        blocked = _blocked(name, model, observed, instance)
        problems += blocked
        if model is None or blocked:
            continue
        record = model.record
        managed = dict(record.aliases) if record else {}
        if record is not None:
            last_applied[name] = record
        wanted, kept = _held(name, model, declared[name])
        holds += kept
        lifted += [(name, a) for a in sorted(model.holds.keys() - {h.alias for h in kept})]
        # Only aliases we declare or manage take part in the diff.
        current = {a: v for a, v in model.aliases.items() if a in wanted or a in managed}
        model_changes = diff_aliases(name, current, wanted)
        changes += model_changes
        unmanaged += [
            AliasRef(name, a, v)
            for a, v in model.aliases.items()
            if a not in wanted and a not in managed
        ]
        drift += _drift(model, managed, wanted)
        problems += _case_twins(name, model.aliases, wanted, managed)
        if _record_stale(record, wanted) and not model_changes:
            stale.append(name)
        if (note := stage_note(name, model.stages)) is not None:
            notes.append(note)

    for name in sorted(observed.models.keys() - declared.keys()):
        model = observed.models[name]
        if model.record_unreadable:  # it may be ours: its aliases cannot be released blindly
            problems.append(_unreadable(name))
        elif model.record is not None and model.record.instance == instance:
            last_applied[name] = model.record
            lifted += [(name, alias) for alias in sorted(model.holds)]
            changes += _release(model, model.record)
            released.append(name)

    notes += [
        f"{name}: aliasctl's inventory lists it as managed, but the registry did not return it "
        "(deleted, or not readable by this identity); its aliases, if any, were not released"
        for name in observed.unaccounted
    ]
    return Plan(
        changes=tuple(changes),
        unmanaged=tuple(sorted(unmanaged)),
        drift=tuple(sorted(drift)),
        problems=tuple(problems),
        stale_records=tuple(stale),
        released=tuple(released),
        last_applied=last_applied,
        notes=tuple(notes),
        holds=tuple(holds),
        lifted=tuple(lifted),
    )


def _blocked(
    name: str, model: ObservedModel | None, observed: Observed, instance: str
) -> list[Problem]:
    """Why nothing on a declared model may move: it is missing, or whose it is (or what
    failed on it) cannot be read, or another instance manages it."""
    if model is None:
        hint = _did_you_mean(name, observed)
        return [Problem(name, None, f"{name}: registered model does not exist{hint}")]
    if model.record_unreadable:
        return [_unreadable(name)]
    record = model.record
    if record is not None and record.instance != instance:
        text = f"{name}: managed by aliasctl instance {record.instance!r}, not {instance!r}"
        return [Problem(name, None, text)]
    return [_unreadable_hold(name, alias) for alias in model.unreadable_holds]


def _release(model: ObservedModel, record: Record) -> list[Change]:
    """Deletes of the aliases aliasctl owns on a model that left the file."""
    owned = {a: v for a, v in model.aliases.items() if a in record.aliases}
    return diff_aliases(model.name, owned, {})


def _held(
    name: str, model: ObservedModel, declared: Mapping[str, int]
) -> tuple[dict[str, int], list[HeldAlias]]:
    """The aliases to aim at: the file's, but a held alias stays where its hold keeps it."""
    wanted = dict(declared)
    kept = []
    for alias, hold in sorted(model.holds.items()):
        if wanted.get(alias) == hold.version:
            kept.append(HeldAlias(name, alias, hold))
            wanted[alias] = hold.held_at
    return wanted, kept


def _unreadable_hold(name: str, alias: str) -> Problem:
    return Problem(
        name,
        alias,
        f"{name}@{alias}: its hold (tag {hold_tag(alias)}) cannot be read, so which version "
        "failed analysis is unknown; restore the tag, or release the hold with "
        f"`aliasctl hold release {name}@{alias} --reason TEXT`",
    )


def _unreadable(name: str) -> Problem:
    return Problem(
        name,
        None,
        f"{name}: aliasctl's record (tag {RECORD_TAG}) cannot be read, so which of its aliases "
        f"aliasctl owns is unknown; restore the tag, or delete it and its {RECORD_TAG}.* parts "
        "so that the next apply adopts what the file declares",
    )


def _did_you_mean(name: str, observed: Observed) -> str:
    """The registered model equal to `name` but for case, when the reads came across one."""
    match = case_twin(name, observed.models) or observed.near_names.get(name)
    return f"; did you mean {match!r}?" if match else ""


def _case_twins(
    model: str, live: Mapping[str, int], wanted: Mapping[str, int], managed: Mapping[str, object]
) -> list[Problem]:
    """Aliases to set that equal a live one but for case. A database that folds case (MySQL's
    default collation) holds one row for both, so setting the new one would silently replace
    the other; refused on every backend, since the file may move to such a registry. An
    alias aliasctl already manages under that exact name is its own, not a newcomer."""
    return [
        Problem(
            model,
            alias,
            f"{model}@{alias} would replace {model}@{other} on a registry whose database "
            "folds case (MySQL)",
        )
        for alias in sorted(wanted)
        if alias not in managed
        for other in sorted(live)
        if other != alias and other.casefold() == alias.casefold()
    ]


def _drift(
    model: ObservedModel, managed: Mapping[str, int | None], wanted: Mapping[str, int]
) -> list[Drift]:
    """Managed aliases whose live value is neither what we last set nor what we want now.

    A live value equal to the desired one is not drift, even if our record lags
    (an apply that died before rewriting its record): nothing needs healing.
    """
    found = []
    for alias, recorded in managed.items():
        if recorded is None:
            continue  # a first set still in flight: nothing confirmed to compare with
        live = model.aliases.get(alias)
        if live != recorded and live != wanted.get(alias):
            found.append(Drift(model.name, alias, recorded, live))
    return found


def _record_stale(record: Record | None, wanted: Mapping[str, int]) -> bool:
    if record is None:
        return bool(wanted)
    return dict(record.aliases) != dict(wanted)


def check_targets(plan: Plan, versions: Iterable[VersionInfo]) -> tuple[Problem, ...]:
    """Pre-flight: every version the plan points an alias at exists and is READY."""
    found = {(v.model, v.version): v.status for v in versions}
    problems = []
    for change in plan.changes:
        if change.after is None:
            continue
        status = found.get((change.model, change.after))
        if status is None:
            problems.append(
                Problem.of(change, f"{change.key}: version {change.after} does not exist")
            )
        elif status != "READY":
            text = f"{change.key}: version {change.after} is {status}, not READY"
            problems.append(Problem.of(change, text))
    return tuple(problems)


def pending_record(record: Record | None, plan_changes: Iterable[Change], instance: str) -> Record:
    """The record to write before creating aliases: new names marked in flight.

    Written first so that an apply killed after a set still knows it owns the alias.
    """
    aliases: dict[str, int | None] = dict(record.aliases) if record else {}
    for change in plan_changes:
        if change.action is Action.CREATE and change.alias not in aliases:
            aliases[change.alias] = None
    base = record or Record(aliases={}, instance=instance)
    return Record(aliases, base.instance, base.commit, base.applied_at, base.source)


def settled_aliases(
    record: Record | None, wanted: Mapping[str, int], failed: Iterable[Change]
) -> dict[str, int | None]:
    """The aliases a record should hold after an apply in which `failed` did not happen."""
    settled: dict[str, int | None] = dict(wanted)
    previous = dict(record.aliases) if record else {}
    for change in failed:
        if change.action is Action.DELETE:
            settled[change.alias] = previous.get(change.alias, change.before)
        else:
            settled[change.alias] = previous.get(change.alias)
    return settled
