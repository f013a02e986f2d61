"""`aliasctl import` into an environment's file: its registry, and where versions came from.

An environment's file is read against its own registry (its `registry_uri` or
`registry_uri_env`, else the command's), under its own instance, as `plan` reads it: an
import then plans to nothing over the same files. A live alias whose version is a copy
made from another environment given with `--source` (its `aliasctl.copied_from` tag,
`staging#bikes/7`; or, within one registry, MLflow's `copy_model_version` source
`models:/bikes-staging/7`) is written as that promotion, `{from: staging, version: 7}`,
so that a reviewer can trace it, but only where `plan` would resolve the promotion to
that very version (the oldest copy): otherwise the number, with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.desired.spec import parse_spec
from controller.environments.files import EnvironmentFile
from controller.environments.registries import resolve_file
from controller.environments.resolve import Source
from controller.errors import ControllerError
from controller.gitops.importer import key
from controller.registry.seam import COPIED_FROM_TAG

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from controller.environments.files import Environments
    from controller.environments.registries import Registries
    from controller.registry.seam import Registry

Key = tuple[str, str]  # (model, alias)
# `models:/NAME/VERSION`, the source MLflow's copy_model_version records (a logged model's
# `models:/m-...` has no version and is not a copy).
_MODEL_URI = re.compile(r"^models:/(?P<model>.+)/(?P<version>[0-9]+)$")


class ImportEnvironmentError(ControllerError):
    """An import into an environment cannot be done as asked."""


def new_environment(
    name: str, path: str, variable: str | None, instance: str | None
) -> EnvironmentFile:
    """The `environment:` block a new file opens with, checked as the file will be (a bad
    name or variable is refused, located in the options that gave it)."""
    lines = environment_lines(name, variable, instance)
    return EnvironmentFile(parse_spec("\n".join([*lines, "models: {}", ""]), path))


def environment_lines(name: str, variable: str | None, instance: str | None) -> list[str]:
    """Never a URI: a host name (or worse, a password) does not belong in git."""
    lines = ["environment:", f"  name: {name}"]
    if variable is not None:
        lines.append(f"  registry_uri_env: {variable}")
    if instance is not None and instance != name:
        lines.append(f"  instance: {instance}")
    return lines


def check_sources(environments: Environments, target: str) -> None:
    if target in environments.files:
        other = environments.files[target].path
        raise ImportEnvironmentError(
            f"--source {other} describes environment {target!r}, the one imported into: "
            "give the other environments' files"
        )


def promoted_versions(
    file: EnvironmentFile, registries: Registries
) -> tuple[dict[Key, int], list[str]]:
    """What each promotion the file declares stands for in its registry, as `plan` reads
    it (its copy; before the copy, the alias's live version), and a note per pending one."""
    resolved = resolve_file(file, registries)
    aliases = {n: m.aliases for n, m in resolved.loaded.spec.models.items()}
    versions: dict[Key, int] = {}
    for model, alias, _ in file.loaded.spec.promotions():
        version = aliases.get(model, {}).get(alias)
        if isinstance(version, int):
            versions[model, alias] = version
    notes = [
        f"{p.key}: promoted from {p.source.describe() if p.source else 'another environment'}, "
        "not copied here yet: the next apply copies it and moves the alias"
        for p in resolved.pending
    ]
    return versions, notes


@dataclass
class Lineage:
    """The aliases written as promotions, and why others were not."""

    values: dict[Key, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def lineage(
    live: Mapping[str, Mapping[str, int]],
    target: EnvironmentFile,
    registry: Registry,
    sources: Registries | None,
    skip: Collection[Key] = (),
) -> Lineage:
    """Which of the `live` aliases (but `skip`) are at a copy from a source environment
    (`sources`: the environments given, and, merging, the target's file itself)."""
    result = Lineage()
    wanted = [(m, a, v) for m, aliases in live.items() for a, v in aliases.items()]
    wanted = [(m, a, v) for m, a, v in wanted if (m, a) not in skip]
    if not wanted:
        return result
    read = registry.read_versions({(m, v) for m, _, v in wanted})
    infos = {(i.model, i.version): i for i in read}
    names = set(sources.environments.files) - {target.name} if sources else set()
    found: dict[tuple[str, Source], int | None] = {}
    for model, alias, version in wanted:
        info = infos.get((model, version))
        if info is None:
            continue
        tag = info.tags.get(COPIED_FROM_TAG)
        source = (
            _tagged(tag) if tag else _copied_within(info.shared_source, registry, names, sources)
        )
        if tag and (source is None or source.environment not in names):
            given = ", ".join(sorted(names)) or "none"
            result.notes.append(
                f"{model}@{alias}: version {version} is a copy of {tag!r}, not an environment "
                f"given with --source ({given}): written as the number"
            )
            continue
        if source is None or sources is None:
            continue
        if (model, source) not in found:
            found[model, source] = registry.find_copy(model, sources.copy_source(source))
        copy = found[model, source]
        if copy != version:
            result.notes.append(
                f"{model}@{alias}: version {version} is a copy of {source.describe()}, but so "
                f"is the older version {copy}, which a promotion resolves to: written as the "
                "number"
            )
            continue
        result.values[model, alias] = promotion_text(model, source)
    return result


def promotion_text(model: str, source: Source) -> str:
    """`{from: staging, version: 7}`; with `model:` where the source's name differs."""
    named = "" if source.model == model else f", model: {key(source.model)}"
    return f"{{from: {source.environment}{named}, version: {source.version}}}"


def _tagged(tag: str) -> Source | None:
    """`staging#bikes/7` (an environment's name, else the source registry's URI, `#`)."""
    label, hash_, rest = tag.rpartition("#")
    model, slash, number = rest.rpartition("/")
    if not (hash_ and slash and model and number.isdigit()):
        return None
    return Source(label, model, int(number))


def _copied_within(
    shared_source: str | None, target: Registry, names: set[str], sources: Registries | None
) -> Source | None:
    """A copy made by hand with `copy_model_version` in a registry it shares with exactly
    one source environment that declares the model it came from."""
    match = _MODEL_URI.match(shared_source or "")
    if match is None or sources is None:
        return None
    model = match["model"]
    owners = [
        name
        for name, file in sources.environments.files.items()
        if name in names
        and model in file.loaded.spec.models
        and sources.of(name).display_uri == target.display_uri
    ]
    if len(owners) != 1:
        return None
    return Source(owners[0], model, int(match["version"]))
