"""promote_from across environments: how long the source version held the alias there.

Measured from the git history of the source environment's file, as a soak within one
file is (core/soak.py): the version must have held the alias in that file, without a
break, for the policy's `for`. Judged before apply copies anything, and again by the
gates once the copy is the alias's target.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from controller.core.problem import Problem
from controller.core.soak import Stretch, latest_stretch, soak_failure
from controller.desired.timespec import duration
from controller.errors import ControllerError
from controller.gitops.history import read_timeline

if TYPE_CHECKING:
    from datetime import datetime

    from controller.desired.spec import PromoteFrom
    from controller.environments.files import EnvironmentFile, Environments
    from controller.environments.resolve import Promotion

# Not an alias: nothing in the source file holds it, so every revision counts.
_NO_TARGET = ""


def _rule(file: EnvironmentFile, promotion: Promotion) -> PromoteFrom | None:
    policy = file.loaded.spec.policies.get(promotion.alias)
    rule = policy.promote_from if policy else None
    return rule if rule is not None and rule.environment is not None else None


def source_stretches(
    environments: Environments, file: EnvironmentFile, promotions: list[Promotion]
) -> tuple[dict[tuple[str, str], Stretch], dict[tuple[str, str], str]]:
    """Per promoted (model, alias) whose policy names another environment: the stretch in
    which its source held the alias there; or why it cannot be told."""
    found: dict[tuple[str, str], Stretch] = {}
    errors: dict[tuple[str, str], str] = {}
    for promotion in promotions:
        rule = _rule(file, promotion)
        if rule is None or promotion.source is None:
            continue
        key = (promotion.model, promotion.alias)
        source = promotion.source
        if rule.environment != source.environment:
            errors[key] = (
                f"{promotion.key} is promoted from {source.environment}, but its policy's "
                f"promote_from names {rule.environment}"
            )
            continue
        path = Path(environments.files[source.environment].path)
        try:
            timeline = read_timeline(path)
        except ControllerError as error:
            errors[key] = f"cannot read {source.environment}'s history: {error}"
            continue
        revisions = [(e.revision.time, e.state.get(source.model, {})) for e in timeline.entries]
        stretch = latest_stretch(revisions, rule.alias, source.version, _NO_TARGET)
        if stretch is None:
            errors[key] = (
                f"{source.describe()} never held {rule.alias!r} in {source.environment}'s "
                f"file ({path})"
            )
        else:
            found[key] = stretch
    return found, errors


def soak_problems(
    file: EnvironmentFile,
    promotions: list[Promotion],
    stretches: dict[tuple[str, str], Stretch],
    errors: dict[tuple[str, str], str],
    now: datetime | None,
) -> list[Problem]:
    """What stops a pending promotion before anything is copied."""
    problems = []
    for promotion in promotions:
        rule = _rule(file, promotion)
        if rule is None or not promotion.pending:
            continue
        key = (promotion.model, promotion.alias)
        where = f"{promotion.key} <- {promotion.source.describe() if promotion.source else '?'}"
        if key in errors:
            problems.append(Problem(*key, f"{where}: promote_from: {errors[key]}"))
        elif rule.soak is not None and now is not None and key in stretches:
            short = soak_failure(stretches[key], duration(rule.soak), rule.soak, rule.alias, now)
            if short:
                problems.append(Problem(*key, f"{where}: in {rule.environment}, {short}"))
    return problems
