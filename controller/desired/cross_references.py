"""The checks that look across a validated file, where each part alone is valid: a policy's
promote_from naming an alias no model declares, models or aliases that differ only in case,
promotions in a file with no environment (or from its own), removals still declared or
listed twice. Each takes only the parts of the file it reads (spec.py passes them); each
issue is located in the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.desired.names import split_target
from controller.errors import SpecIssue

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from controller.desired.environment import EnvironmentSpec, FromSource
    from controller.desired.yamlsource import KeyPath, SourceMap


def unknown_promote_from(
    promote_from: Mapping[str, str], aliases: Mapping[str, Collection[str]], source: SourceMap
) -> list[SpecIssue]:
    """promote_from (policy's alias -> the alias it names) must name an alias some model
    declares."""
    declared = {alias for names in aliases.values() for alias in names}
    issues = []
    for alias, wanted in promote_from.items():
        if wanted not in declared:
            path: KeyPath = ("policies", alias, "promote_from")
            if (*path, "alias") in source.values:  # the mapping form: point at its `alias:`
                path = (*path, "alias")
            where = source.locate(path)
            issues.append(
                SpecIssue(where, f"promote_from names alias {wanted!r}, which no model declares")
            )
    return issues


def promotion_issues(
    promotions: Sequence[tuple[str, str, FromSource]],
    environment: EnvironmentSpec | None,
    source: SourceMap,
) -> list[SpecIssue]:
    """A promotion needs the file to say which environment it describes, and another one."""
    issues = []
    for model, alias, promoted in promotions:
        where = source.locate(("models", model, "aliases", alias))
        if environment is None:
            issues.append(
                SpecIssue(
                    where,
                    f"{model}@{alias} is promoted from environment {promoted.from_!r}, but this "
                    "file names no environment of its own: add `environment: {name: ...}`",
                )
            )
        elif promoted.from_ == environment.name:
            issues.append(
                SpecIssue(where, f"{model}@{alias} is promoted from this file's own environment")
            )
    return issues


def case_twins(aliases: Mapping[str, Collection[str]], source: SourceMap) -> list[SpecIssue]:
    """Two models, or two aliases of one model, that differ only in case: a registry whose
    database folds case (MySQL's default collation) holds one row for both, so one would
    silently overwrite the other there."""
    issues = []
    groups: list[tuple[KeyPath, str, list[str]]] = [(("models",), "model", list(aliases))]
    groups += [
        (("models", name, "aliases"), "alias", list(names)) for name, names in aliases.items()
    ]
    for parent, kind, names in groups:
        first: dict[str, str] = {}
        for name in names:
            twin = first.setdefault(name.casefold(), name)
            if twin != name:
                line = source.locate((*parent, twin), at_key=True).line
                issues.append(
                    SpecIssue(
                        source.locate((*parent, name), at_key=True),
                        f"{kind} {name!r} differs from {twin!r} (line {line}) only in case: a "
                        f"registry whose database folds case (MySQL) holds one {kind} for both",
                    )
                )
    return issues


def removal_conflicts(
    removals: Sequence[str], aliases: Mapping[str, Collection[str]], source: SourceMap
) -> list[SpecIssue]:
    """An entry naming what `models:` still declares contradicts it; a repeat is a slip."""
    issues = []
    first: dict[str, int] = {}
    for index, entry in enumerate(removals):
        where = source.locate(("removals", index))
        if entry in first:
            line = source.locate(("removals", first[entry])).line
            issues.append(SpecIssue(where, f"{entry!r} is listed twice (first at line {line})"))
            continue
        first[entry] = index
        model, alias = split_target(entry)
        declared = ("models", model) if alias is None else ("models", model, "aliases", alias)
        if model in aliases and (alias is None or alias in aliases[model]):
            line = source.locate(declared, at_key=True).line
            issues.append(
                SpecIssue(
                    where,
                    f"{entry!r} is still declared under models (line {line}): remove it there, "
                    "or drop this entry",
                )
            )
    return issues
