"""What a reviewer weighs on a promotion not copied yet: the source version's metrics
beside those of the version the alias points at now in the target environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.errors import ControllerError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from controller.environments.files import EnvironmentFile
    from controller.environments.resolve import Promotion
    from controller.registry.seam import Registry

# Shown when neither show_metrics nor the policy names any.
FIRST_METRICS = 5


@dataclass(frozen=True)
class Side:
    label: str  # "staging v7", "prod version 3 (now)"
    metrics: Mapping[str, float] | None  # None: no source run


@dataclass(frozen=True)
class PromotionEvidence:
    source: Side
    current: Side | None  # None: the alias points nowhere yet
    names: tuple[str, ...]
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"evidence unreadable: {self.error}"
        if self.source.metrics is None:
            return f"{self.source.label}: no source run"
        parts = []
        for name in self.names:
            value = self.source.metrics.get(name)
            shown = "-" if value is None else f"{value:.4g}"
            part = f"{name} {shown}"
            if self.current is not None and self.current.metrics is not None:
                now = self.current.metrics.get(name)
                part += f" vs {'-' if now is None else f'{now:.4g}'}"
            parts.append(part)
        beside = f" vs {self.current.label}" if self.current else ""
        return f"{self.source.label}{beside}: " + ("; ".join(parts) or "no metrics")


def _metrics(registry: Registry, model: str, version: int) -> Mapping[str, float] | None:
    [info] = registry.read_versions([(model, version)])
    if info.run_id is None:
        return None
    runs = registry.read_runs([info.run_id])
    run = runs.get(info.run_id)
    return dict(run.metrics) if run else None


def promotion_evidence(
    file: EnvironmentFile,
    target: Registry,
    sources: Mapping[str, Registry],
    promotions: Sequence[Promotion],
    live: Mapping[tuple[str, str], int],
) -> dict[tuple[str, str], PromotionEvidence]:
    """For each pending promotion with a source: both sides' metrics, read from each side."""
    spec = file.loaded.spec
    found = {}
    for p in promotions:
        if not p.pending or p.source is None:
            continue
        policy = spec.policies.get(p.alias)
        names = tuple(
            dict.fromkeys([*spec.show_metrics, *(policy.require_metrics if policy else {})])
        )
        try:
            source_metrics = _metrics(
                sources[p.source.environment], p.source.model, p.source.version
            )
            current = None
            if (now := live.get((p.model, p.alias))) is not None:
                label = f"{file.name} version {now} (now)"
                current = Side(label, _metrics(target, p.model, now))
        except ControllerError as error:
            side = Side(p.source.describe(), None)
            found[(p.model, p.alias)] = PromotionEvidence(side, None, (), str(error))
            continue
        if not names and source_metrics:
            names = tuple(sorted(source_metrics)[:FIRST_METRICS])
        side = Side(p.source.describe(), source_metrics)
        found[(p.model, p.alias)] = PromotionEvidence(side, current, names)
    return found
