"""Saved plans: `plan --out plan.json`, then `apply plan.json` applies exactly that plan.

A saved plan records a digest of the file and of the live state it was computed
from; apply recomputes both and refuses a stale plan, changing nothing, as
Terraform refuses a saved plan whose state moved on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.errors import ControllerError
from controller.reconcile import DriftMode, Options

if TYPE_CHECKING:
    from datetime import datetime

    from controller.core.plan import Plan
    from controller.desired.spec import LoadedSpec

SAVED_PLAN_FORMAT = 1
_MARKER = "aliasctl_saved_plan"


class StalePlanError(ControllerError):
    """The saved plan no longer describes the file or the registry: nothing was written."""

    def __init__(self, path: Path, why: str):
        super().__init__(
            f"{path}: stale plan, nothing was written: {why}. Run `aliasctl plan --out` again."
        )


@dataclass(frozen=True)
class SavedPlan:
    path: Path
    spec_file: Path
    spec_sha256: str
    registry: str
    fingerprint: str
    options: Options
    changes: list[dict[str, Any]]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_saved_plan(path: Path) -> bool:
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        return _MARKER in json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False


def save(
    path: Path, plan: Plan, plan_body: dict[str, Any], spec_file: Path, options: Options
) -> None:
    body = {
        _MARKER: SAVED_PLAN_FORMAT,
        "spec_file": str(spec_file.resolve()),
        "spec_sha256": file_digest(spec_file),
        "fingerprint": plan.fingerprint,
        "options": {
            "instance": options.instance,
            "drift": options.drift.value,
            "allow_delete": options.allow_delete,
            "max_deletes": options.max_deletes,
            "verify_timeout": options.verify_timeout,
            "break_glass": options.break_glass,
        },
        "plan": plan_body,
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> SavedPlan:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get(_MARKER) != SAVED_PLAN_FORMAT:
            raise ControllerError(f"{path}: not a saved plan of format {SAVED_PLAN_FORMAT}")
        opts = body["options"]
        options = Options(
            instance=str(opts["instance"]),
            drift=DriftMode(opts["drift"]),
            allow_delete=bool(opts["allow_delete"]),
            max_deletes=int(opts["max_deletes"]),
            verify_timeout=float(opts["verify_timeout"]),
            break_glass=_reason(opts.get("break_glass")),
        )
        return SavedPlan(
            path=path,
            spec_file=Path(body["spec_file"]),
            spec_sha256=str(body["spec_sha256"]),
            registry=str(body["plan"]["registry"]),
            fingerprint=str(body["fingerprint"]),
            options=options,
            changes=list(body["plan"]["changes"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ControllerError(f"{path}: unreadable saved plan ({error})") from None


def _reason(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("break_glass is not a string")
    return value


def apply_options(
    saved: SavedPlan, loaded: LoadedSpec, now: datetime, break_glass: str | None
) -> Options:
    """The saved plan's options, with the file's policies and the time of this apply.

    A plan saved with --break-glass applies with its reason (the one reviewed with the
    plan); another reason given to apply is refused, not silently swapped.
    """
    if break_glass is not None and break_glass != saved.options.break_glass:
        raise ControllerError(
            f"{saved.path}: the saved plan carries --break-glass "
            f"{saved.options.break_glass!r}; apply it without --break-glass, or plan again "
            "with the new reason"
        )
    return replace(
        saved.options,
        spec_file=saved.spec_file,
        policies=dict(loaded.spec.policies),
        removals=tuple(loaded.spec.removals),
        freezes=tuple(loaded.spec.freezes),
        now=now,
        evidence=False,  # reviewed with the plan; apply checks what it writes, not this
    )


def check_file(saved: SavedPlan) -> None:
    if not saved.spec_file.is_file():
        raise StalePlanError(saved.path, f"{saved.spec_file} no longer exists")
    if file_digest(saved.spec_file) != saved.spec_sha256:
        raise StalePlanError(saved.path, f"{saved.spec_file} changed since the plan was made")


def check_live(saved: SavedPlan, plan: Plan, registry: str, plan_body: dict[str, Any]) -> None:
    if registry != saved.registry:
        raise StalePlanError(saved.path, f"it was made for {saved.registry}, not {registry}")
    if plan.fingerprint != saved.fingerprint:
        raise StalePlanError(saved.path, "the registry changed since the plan was made")
    if _decisions(plan_body["changes"]) != _decisions(saved.changes):
        raise StalePlanError(saved.path, "the recomputed plan differs from the saved one")


def _decisions(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Changes without their evidence: it is for people, and may be read differently later."""
    return [{k: v for k, v in change.items() if k != "evidence"} for change in changes]
