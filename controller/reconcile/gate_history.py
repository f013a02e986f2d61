"""The gates' evidence from the file's git history: the aliases a target held before
(promote_from), its latest stretch holding the promote_from alias (the soak time), and when
a revision last took the alias away from it (moving back is a rollback). Git is read only
when a gate depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.core.policy import may_be_exempt
from controller.core.soak import Stretch, last_lost, latest_stretch
from controller.errors import ControllerError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from pathlib import Path

    from controller.core.policy import Gated


@dataclass(frozen=True)
class GateHistory:
    """What the file's git history says about each gated (model, alias) and its target."""

    # The aliases the target held before taking this one (for promote_from).
    held: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    # Its latest stretch holding the promote_from alias (for the soak time).
    stretches: dict[tuple[str, str], Stretch] = field(default_factory=dict)
    # When a revision last took this very alias away from it: moving back is a rollback.
    lost: dict[tuple[str, str], datetime] = field(default_factory=dict)
    error: str | None = None


def read_gate_history(
    gated: list[Gated], spec_file: Path | None, source_soak: Mapping[tuple[str, str], Stretch]
) -> GateHistory:
    """Read the file's history when a gate depends on it: promote_from, or a relative bound
    or promote_from that a rollback (an update back to a former holder) would skip. A
    promote_from in another environment is judged by that environment's history instead."""
    rollback_matters = any(may_be_exempt(g.change, g.policy) for g in gated)
    if not rollback_matters and not any(g.policy.promote_from for g in gated):
        return GateHistory()
    if spec_file is None:  # outside git there is no history, so no rollback exemption
        return GateHistory(error="no file history to check against")
    from controller.gitops.history import read_timeline  # noqa: PLC0415 - git only when needed

    try:
        timeline = read_timeline(spec_file)
    except ControllerError as error:
        return GateHistory(error=f"cannot read the file's git history: {error}")
    past = GateHistory()
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
