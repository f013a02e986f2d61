"""Observed state: what the registry holds, normalized, and the controller's inventory record.

The record is a registered-model tag (like Flux's inventory) that says which
aliases the controller manages on that model, the version it last set each to,
and where that apply came from. It is what makes pruning safe (only what we set
is ever deleted) and drift visible (live differs from what we set).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

RECORD_TAG = "aliasctl.managed"
RECORD_FORMAT = 1
DEFAULT_INSTANCE = "default"


@dataclass(frozen=True)
class Record:
    """What the controller last wrote on one registered model."""

    # alias -> version last set; None while a first set is in flight (not yet confirmed).
    aliases: Mapping[str, int | None]
    instance: str = DEFAULT_INSTANCE
    commit: str | None = None
    applied_at: str | None = None
    source: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        body: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "instance": self.instance,
            "aliases": dict(sorted(self.aliases.items())),
            "commit": self.commit,
            "applied_at": self.applied_at,
        }
        if self.source:
            body["source"] = dict(sorted(self.source.items()))
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> Record | None:
        """Parse a record tag; an unreadable one counts as absent (never trusted for deletes)."""
        try:
            body = json.loads(text)
            aliases = body["aliases"]
            if not isinstance(aliases, dict):
                return None
            clean = {
                str(k): (v if isinstance(v, int) and not isinstance(v, bool) else None)
                for k, v in aliases.items()
            }
            source = body.get("source") or {}
            return cls(
                aliases=clean,
                instance=str(body.get("instance") or DEFAULT_INSTANCE),
                commit=body.get("commit"),
                applied_at=body.get("applied_at"),
                source={str(k): str(v) for k, v in source.items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class ObservedModel:
    name: str
    aliases: Mapping[str, int]
    record: Record | None = None


@dataclass(frozen=True)
class Observed:
    """Declared models that exist, plus every model that carries this instance's record."""

    models: Mapping[str, ObservedModel]


@dataclass(frozen=True)
class VersionInfo:
    model: str
    version: int
    status: str  # READY, PENDING_REGISTRATION, FAILED_REGISTRATION
    tags: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None


def normalize_aliases(raw: Mapping[str, Any]) -> dict[str, int]:
    """MLflow's REST API gives alias versions as strings, the SQL store as ints."""
    return {str(alias): int(version) for alias, version in raw.items()}
