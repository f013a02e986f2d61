"""Holds and verified versions: what analysis after a promotion leaves on a model (pure).

Both are registered-model tags, one per alias, so they are read with the model at no
extra request and survive any process:
- `aliasctl.verified.<alias>`: the last version that passed the alias's analysis,
  with when and from which commit (the version a failure rolls back to);
- `aliasctl.hold.<alias>`: a version that failed (or could not be judged) and where
  the alias is kept instead. While the file names the held version, every path that
  moves aliases (apply, serve, a heal) keeps the alias where the hold says; the file
  naming any other version (the fix, or the revert) lifts it, and so does
  `aliasctl hold release`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

HOLD_TAG = "aliasctl.hold."
VERIFIED_TAG = "aliasctl.verified."
RELEASED_TAG = "aliasctl.released."


def hold_tag(alias: str) -> str:
    return HOLD_TAG + alias


def verified_tag(alias: str) -> str:
    return VERIFIED_TAG + alias


def released_tag(alias: str) -> str:
    return RELEASED_TAG + alias


@dataclass(frozen=True)
class Hold:
    """`version` may not take the alias back; the alias is kept at `held_at`."""

    alias: str
    version: int
    # Where the alias stays: the last verified version after a rollback, `version` itself
    # when the hold only stops automation (an inconclusive result, or nothing to go back to).
    held_at: int
    phase: str  # Failed, Inconclusive or Error (core/analysis.Phase)
    reason: str
    since: str  # utc_text
    rolled_back: bool = False
    commit: str | None = None

    @property
    def in_place(self) -> bool:
        return self.held_at == self.version

    def encode(self) -> str:
        body: dict[str, Any] = {
            "version": self.version,
            "held_at": self.held_at,
            "phase": self.phase,
            "reason": self.reason,
            "since": self.since,
            "rolled_back": self.rolled_back,
        }
        if self.commit:
            body["commit"] = self.commit
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, alias: str, text: str) -> Hold | None:
        try:
            body = json.loads(text)
            return cls(
                alias=alias,
                version=_version(body["version"]),
                held_at=_version(body["held_at"]),
                phase=str(body["phase"]),
                reason=str(body.get("reason") or ""),
                since=str(body.get("since") or ""),
                rolled_back=bool(body.get("rolled_back", False)),
                commit=body.get("commit"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class Verified:
    """The last version that passed the alias's analysis."""

    alias: str
    version: int
    at: str  # utc_text
    summary: str = ""
    commit: str | None = None

    def encode(self) -> str:
        body: dict[str, Any] = {"version": self.version, "at": self.at, "summary": self.summary}
        if self.commit:
            body["commit"] = self.commit
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, alias: str, text: str) -> Verified | None:
        try:
            body = json.loads(text)
            return cls(
                alias,
                _version(body["version"]),
                str(body.get("at") or ""),
                str(body.get("summary") or ""),
                body.get("commit"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


@dataclass(frozen=True)
class Released:
    """A hold someone released by hand (`aliasctl hold release`): who, when, why, and which
    version the hold had kept the alias off (None: the hold could not be read)."""

    alias: str
    version: int | None
    by: str
    at: str  # utc_text
    reason: str
    held_at: int | None = None
    phase: str = ""

    def encode(self) -> str:
        body: dict[str, Any] = {
            "version": self.version,
            "held_at": self.held_at,
            "phase": self.phase,
            "by": self.by,
            "at": self.at,
            "reason": self.reason,
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def decode(cls, alias: str, text: str) -> Released | None:
        try:
            body = json.loads(text)
            version, held_at = body.get("version"), body.get("held_at")
            return cls(
                alias=alias,
                version=None if version is None else _version(version),
                by=str(body["by"]),
                at=str(body["at"]),
                reason=str(body["reason"]),
                held_at=None if held_at is None else _version(held_at),
                phase=str(body.get("phase") or ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"not a version: {value!r}")
    return value


def read_holds(tags: Mapping[str, str]) -> tuple[dict[str, Hold], tuple[str, ...]]:
    """The holds on a model, and the aliases whose hold tag cannot be read.

    An unreadable hold is a plan problem, never "no hold": a hold only exists because
    a version failed, and dropping it silently would let that version back."""
    holds: dict[str, Hold] = {}
    unreadable = []
    for key, text in tags.items():
        if key.startswith(HOLD_TAG):
            alias = key[len(HOLD_TAG) :]
            hold = Hold.decode(alias, text)
            if hold is None:
                unreadable.append(alias)
            else:
                holds[alias] = hold
    return holds, tuple(sorted(unreadable))


def read_verified(tags: Mapping[str, str]) -> dict[str, Verified]:
    """An unreadable verified tag counts as none: the worst is a hold without a rollback."""
    found = {}
    for key, text in tags.items():
        if key.startswith(VERIFIED_TAG):
            alias = key[len(VERIFIED_TAG) :]
            if (verified := Verified.decode(alias, text)) is not None:
                found[alias] = verified
    return found
