"""Observed state: what the registry holds, normalized, and the controller's inventory record.

The record is a registered-model tag (like Flux's inventory) that says which
aliases the controller manages on that model, the version it last set each to,
and where that apply came from. It is what makes pruning safe (only what we set
is ever deleted) and drift visible (live differs from what we set).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.core.holds import Hold, Verified, read_holds, read_verified
from controller.core.progress import PROGRESS_TAG, Progress
from controller.core.times import UTC_FORMAT, utc_text

__all__ = ["UTC_FORMAT", "utc_text"]  # re-exported: where the rest of the code finds them

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

RECORD_TAG = "aliasctl.managed"
RECORD_FORMAT = 1
DEFAULT_INSTANCE = "default"
# PostgreSQL and MySQL store registered-model tag values in VARCHAR(5000) (SQLite
# ignores the length, and MLflow's own check allows more): a longer record is split.
MAX_TAG_VALUE = 5000
PART_SIZE = 4000


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

    def to_tags(self) -> dict[str, str]:
        """The record as tags: one when it fits, else a head and generation-named parts.

        Parts are named by a digest of the whole, so a writer puts the new parts
        first, switches the head (one atomic tag write), then drops the old
        parts: a reader never sees half of one record and half of another.
        """
        body = self.encode()
        if len(body) <= MAX_TAG_VALUE:
            return {RECORD_TAG: body}
        generation = hashlib.sha256(body.encode()).hexdigest()[:16]
        parts = [body[i : i + PART_SIZE] for i in range(0, len(body), PART_SIZE)]
        head = {
            "format": RECORD_FORMAT,
            "instance": self.instance,
            "generation": generation,
            "parts": len(parts),
        }
        tags = {part_tag(generation, i): part for i, part in enumerate(parts)}
        tags[RECORD_TAG] = json.dumps(head, separators=(",", ":"))
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Record | None:
        """Read a record from a model's tags; a torn or unreadable one counts as absent."""
        head = tags.get(RECORD_TAG)
        if head is None:
            return None
        try:
            body = json.loads(head)
            generation, count = str(body["generation"]), int(body["parts"])
        except (ValueError, KeyError, TypeError):
            return cls.decode(head)
        try:
            whole = "".join(tags[part_tag(generation, i)] for i in range(count))
        except KeyError:
            return None
        if hashlib.sha256(whole.encode()).hexdigest()[:16] != generation:
            return None
        return cls.decode(whole)

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


def part_tag(generation: str, index: int) -> str:
    return f"{RECORD_TAG}.{generation}.{index}"


def record_part_tags(tags: Mapping[str, str]) -> set[str]:
    """Names of every record part tag on a model, current or left over."""
    return {key for key in tags if key.startswith(RECORD_TAG + ".")}


@dataclass(frozen=True)
class ObservedModel:
    name: str
    aliases: Mapping[str, int]
    record: Record | None = None
    # The record tag is there but cannot be read (torn, corrupt, edited by hand): what
    # aliasctl owns on this model is unknown, which is never the same as "nothing".
    record_unreadable: bool = False
    # Stage -> the latest version in it (deprecated stages; "None" left out), from the same read.
    stages: Mapping[str, int] = field(default_factory=dict)
    # What analysis after a promotion left on it, per alias (core/holds.py, core/analysis.py).
    holds: Mapping[str, Hold] = field(default_factory=dict)
    unreadable_holds: tuple[str, ...] = ()
    verified: Mapping[str, Verified] = field(default_factory=dict)
    progress: Mapping[str, Progress] = field(default_factory=dict)
    # Every tag as read, for what reads a model for its tags alone (the registry lock's
    # release checks its token in the read a serve cycle makes anyway).
    tags: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def read(
        cls,
        name: str,
        aliases: Mapping[str, int],
        tags: Mapping[str, str],
        stages: Mapping[str, int] | None = None,
    ) -> ObservedModel:
        """A model as read from the registry: its record from its tags, or why not."""
        record = Record.from_tags(tags)
        unreadable = record is None and RECORD_TAG in tags
        holds, unreadable_holds = read_holds(tags)
        progress = {
            key[len(PROGRESS_TAG) :]: found
            for key, text in tags.items()
            if key.startswith(PROGRESS_TAG) and (found := Progress.decode(text)) is not None
        }
        return cls(
            name,
            aliases,
            record,
            unreadable,
            stages or {},
            holds,
            unreadable_holds,
            read_verified(tags),
            progress,
            dict(tags),
        )


@dataclass(frozen=True)
class Observed:
    """Declared models that exist, plus every model that carries this instance's record."""

    models: Mapping[str, ObservedModel]
    # Models aliasctl's inventory lists as managed that the registry did not return (deleted
    # by hand, or not readable by this identity): their aliases cannot be released.
    unaccounted: tuple[str, ...] = ()
    # Names asked for but absent, each mapped to the registered name equal to it but for
    # case, where the reads met one (for "did you mean"; MySQL answers such a lookup).
    near_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    model: str
    version: int
    status: str  # READY, PENDING_REGISTRATION, FAILED_REGISTRATION
    tags: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None
    # For the plan's evidence: registration time (ISO 8601, UTC), who registered it, and why.
    created_at: str | None = None
    user: str | None = None
    description: str | None = None
    # Where its files are read from, when that is the same for every version registered from
    # it (open-source MLflow reads a version's files at its source; Databricks copies each
    # version's files, and leaves this None): versions that share it share an MLmodel read.
    shared_source: str | None = None


def case_twin(name: str, names: Iterable[str]) -> str | None:
    """The first of `names` equal to `name` but for case (never `name` itself)."""
    folded = name.casefold()
    return min((n for n in names if n != name and n.casefold() == folded), default=None)


def normalize_aliases(raw: Mapping[str, Any]) -> dict[str, int]:
    """MLflow's REST API gives alias versions as strings, the SQL store as ints."""
    return {str(alias): int(version) for alias, version in raw.items()}


@dataclass(frozen=True)
class Stamp:
    """Where an apply came from: written into each changed model's record."""

    commit: str | None = None
    applied_at: str | None = None
    source: Mapping[str, str] = field(default_factory=dict)
