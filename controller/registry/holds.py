"""Holds in the registry: list them, find one, release one (`aliasctl hold`).

A hold is a registered-model tag, `aliasctl.hold.<alias>` (core/holds.py), written by
analysis after a version failed. Releasing one deletes it and leaves a
`aliasctl.released.<alias>` tag saying who released which version, when and why, so the
audit trail outlives the hold. Only the seam's tag primitives are used; call
`release_hold` under the registry lock, as apply writes, so that no apply plans against
a hold that is going away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.core.holds import HOLD_TAG, Hold, Released, hold_tag, released_tag
from controller.core.times import utc_text
from controller.errors import NoHoldError

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from controller.registry.seam import Registry

# A reason is for people reading the tag; MLflow bounds tag values (5,000 characters on SQL).
MAX_REASON = 1000


@dataclass(frozen=True, order=True)
class FoundHold:
    """A hold tag on a model; `hold` is None where the tag cannot be read."""

    model: str
    alias: str
    hold: Hold | None

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"


def list_holds(registry: Registry, models: Collection[str]) -> list[FoundHold]:
    """The holds on `models` (those that exist), sorted by model and alias."""
    observed = registry.read_models(models, exact=True)
    found = []
    for name, model in sorted(observed.models.items()):
        found += [FoundHold(name, alias, hold) for alias, hold in model.holds.items()]
        found += [FoundHold(name, alias, None) for alias in model.unreadable_holds]
    return sorted(found, key=lambda f: (f.model, f.alias))


def find_hold(registry: Registry, model: str, alias: str) -> FoundHold:
    """The hold on `model@alias`; NoHoldError (naming the holds there are) when none."""
    tags = registry.model_tags(model)
    if tags is None:
        raise NoHoldError(registry.display_uri, model, alias, exists=False)
    text = tags.get(hold_tag(alias))
    if text is None:
        others = tuple(sorted(k[len(HOLD_TAG) :] for k in tags if k.startswith(HOLD_TAG)))
        raise NoHoldError(registry.display_uri, model, alias, exists=True, others=others)
    return FoundHold(model, alias, Hold.decode(alias, text))


def release_hold(
    registry: Registry, model: str, alias: str, *, by: str, reason: str, now: datetime
) -> tuple[FoundHold, Released]:
    """Release the hold on `model@alias`: the record of the release first, then the hold.

    Written in that order, a run that dies between the two leaves the hold in place (run
    it again), never a hold gone without its record. Nothing is written when there is no
    hold. An unreadable hold can be released too (its version is then unknown)."""
    found = find_hold(registry, model, alias)
    hold = found.hold
    released = Released(
        alias=alias,
        version=hold.version if hold else None,
        by=by,
        at=utc_text(now),
        reason=reason[:MAX_REASON],
        held_at=hold.held_at if hold else None,
        phase=hold.phase if hold else "",
    )
    registry.set_model_tag(model, released_tag(alias), released.encode())
    registry.delete_model_tag(model, hold_tag(alias))
    return found, released
