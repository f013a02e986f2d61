"""Evidence for a reviewer: each version a plan points an alias at, beside the one it replaces.

Pure: the facts (versions, source runs, signatures) are read by the caller in
bulk; this module picks the metrics worth showing and judges them. A metric's
direction is known only where a policy bounds it (`<=`/`<`: lower is better,
`>=`/`>`: higher is better); others are shown without a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from controller.core.change import Change
    from controller.core.state import VersionInfo
    from controller.desired.spec import Policy

_DIRECTION = re.compile(r"^\s*(<=|<|>=|>)")
LOWER, HIGHER = "lower", "higher"
# Signature schemas can be long (one column a feature): cut them for a plan.
MAX_SCHEMA_CHARS = 2000
# Changes shown with detailed evidence by default: what a person reviews in one sitting. The
# rest are listed one line each (the change itself), and a note says how many were left out.
DEFAULT_EVIDENCE_LIMIT = 50


@dataclass(frozen=True)
class RunFacts:
    """A source run, as far as a reviewer needs it."""

    run_id: str
    name: str | None = None
    start_time: str | None = None  # ISO 8601, UTC
    source_commit: str | None = None  # the `mlflow.source.git.commit` tag
    datasets: tuple[str, ...] = ()  # "name@digest" of each dataset logged as a run input
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SignatureFacts:
    """A logged model's signature as text; both None when it was logged without one."""

    inputs: str | None = None
    outputs: str | None = None

    @property
    def present(self) -> bool:
        return self.inputs is not None or self.outputs is not None


@dataclass(frozen=True)
class VersionEvidence:
    version: int
    gone: bool = False  # the model version no longer exists
    created_at: str | None = None
    user: str | None = None
    description: str | None = None
    run_id: str | None = None
    run: RunFacts | None = None  # None with a run_id: the run is gone
    metrics: Mapping[str, float] = field(default_factory=dict)  # only the metrics shown
    signature: SignatureFacts | None = None  # None: could not be read (see signature_error)
    signature_error: str | None = None

    @property
    def run_gone(self) -> bool:
        return self.run_id is not None and self.run is None


@dataclass(frozen=True)
class MetricRow:
    name: str
    before: float | None
    after: float | None
    direction: str | None  # LOWER or HIGHER is better; None: no policy bounds it

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def verdict(self) -> str | None:
        """better, worse or same; None without a direction or a value on both sides."""
        delta = self.delta
        if delta is None or self.direction is None:
            return None
        if delta == 0:
            return "same"
        return "better" if (delta < 0) == (self.direction == LOWER) else "worse"


@dataclass(frozen=True)
class ChangeEvidence:
    model: str
    alias: str
    before: VersionEvidence | None  # None for a create
    after: VersionEvidence
    metrics: tuple[MetricRow, ...] = ()

    @property
    def signature_changed(self) -> bool | None:
        """None when there is nothing to compare (a create, or a side unreadable)."""
        if self.before is None or self.before.signature is None or self.after.signature is None:
            return None
        return self.before.signature != self.after.signature


def directions(policy: Policy | None) -> dict[str, str | None]:
    """Metrics a policy bounds, each with the direction its bound implies (None for ==, !=)."""
    if policy is None:
        return {}
    found: dict[str, str | None] = {}
    for name, bound in policy.require_metrics.items():
        match = _DIRECTION.match(bound)
        found[name] = None if match is None else LOWER if match.group(1)[0] == "<" else HIGHER
    return found


def shown_metrics(policy: Policy | None, show_metrics: Sequence[str]) -> list[str]:
    """The policy's metrics, then the file's `show_metrics:`, each once: never every metric."""
    return list(dict.fromkeys([*directions(policy), *show_metrics]))


def version_evidence(
    version: int,
    info: VersionInfo | None,
    runs: Mapping[str, RunFacts],
    signatures: Mapping[tuple[str, int], tuple[SignatureFacts | None, str | None]],
    names: Iterable[str],
) -> VersionEvidence:
    if info is None:
        return VersionEvidence(version=version, gone=True)
    run = runs.get(info.run_id) if info.run_id else None
    metrics = {n: run.metrics[n] for n in names if n in run.metrics} if run else {}
    signature, error = signatures.get((info.model, version), (None, None))
    return VersionEvidence(
        version=version,
        created_at=info.created_at,
        user=info.user,
        description=info.description,
        run_id=info.run_id,
        run=run,
        metrics=metrics,
        signature=signature,
        signature_error=error,
    )


def build_evidence(
    changes: Iterable[Change],
    versions: Iterable[VersionInfo],
    runs: Mapping[str, RunFacts],
    signatures: Mapping[tuple[str, int], tuple[SignatureFacts | None, str | None]],
    policies: Mapping[str, Policy],
    show_metrics: Sequence[str] = (),
) -> tuple[ChangeEvidence, ...]:
    """Evidence for every change that points an alias at a version (create, update)."""
    info = {(v.model, v.version): v for v in versions}
    found = []
    for change in changes:
        if change.after is None:
            continue
        policy = policies.get(change.alias)
        names = shown_metrics(policy, show_metrics)
        after = version_evidence(
            change.after, info.get((change.model, change.after)), runs, signatures, names
        )
        before = None
        if change.before is not None:
            before_info = info.get((change.model, change.before))
            before = version_evidence(change.before, before_info, runs, signatures, names)
        direction = directions(policy)
        rows = tuple(
            MetricRow(
                name,
                before.metrics.get(name) if before else None,
                after.metrics.get(name),
                direction.get(name),
            )
            for name in names
        )
        found.append(ChangeEvidence(change.model, change.alias, before, after, rows))
    return tuple(found)


def versions_to_read(changes: Iterable[Change]) -> set[tuple[str, int]]:
    """Every (model, version) the evidence shows: targets and the versions they replace."""
    return {
        (c.model, v)
        for c in changes
        if c.after is not None
        for v in (c.before, c.after)
        if v is not None
    }


def pick_for_evidence(changes: Iterable[Change], limit: int | None) -> tuple[list[Change], int]:
    """The changes shown with detailed evidence, and how many others point an alias at a
    version: promotions of existing aliases first (they replace what serves), then creates,
    each in plan order; `limit` None: every one."""
    moving = [c for c in changes if c.after is not None]
    ordered = [c for c in moving if c.before is not None] + [c for c in moving if c.before is None]
    if limit is None or len(ordered) <= limit:
        return ordered, 0
    return ordered[:limit], len(ordered) - limit


def clip(text: str, limit: int = MAX_SCHEMA_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
