"""`aliasctl import`'s orchestration: where it reads and writes, and where versions came from.

A plain file's registry is the command's (`--registry-uri`, under `--instance`). An
environment's file is read against its own registry (its `registry_uri` or
`registry_uri_env`, else the command's), under its own instance, as `plan` reads it: an
import then plans to nothing over the same files. A live alias whose version is a copy
made from another environment given with `--source` (its `aliasctl.copied_from` tag,
`staging#bikes/7`; or, within one registry, MLflow's `copy_model_version` source
`models:/bikes-staging/7`) is written as that promotion, `{from: staging, version: 7}`,
so that a reviewer can trace it, but only where `plan` would resolve the promotion to
that very version (the oldest copy): otherwise the number, with a note.

The CLI (controller/cli/importing.py) parses the options, calls `import_into` and
`choose`, and prints; the text is written by controller/gitops/importer.py (a new file)
and controller/gitops/import_merge.py (`--merge`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from controller.desired.environment import check_environment_name
from controller.desired.spec import parse_spec
from controller.environments.files import EnvironmentFile, load_environments
from controller.environments.registries import Registries, resolve_file
from controller.environments.resolve import Source
from controller.errors import ControllerError
from controller.gitops.importer import key, select
from controller.registry.seam import COPIED_FROM_TAG

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping
    from pathlib import Path

    from controller.desired.spec import LoadedSpec
    from controller.environments.files import Environments
    from controller.gitops.importer import Selection
    from controller.registry.seam import Registry

Key = tuple[str, str]  # (model, alias)
# `models:/NAME/VERSION`, the source MLflow's copy_model_version records (a logged model's
# `models:/m-...` has no version and is not a copy).
_MODEL_URI = re.compile(r"^models:/(?P<model>.+)/(?P<version>[0-9]+)$")


class ImportEnvironmentError(ControllerError):
    """An import into an environment cannot be done as asked."""


class ImportOptionsError(ImportEnvironmentError):
    """The options ask for what no import does: a usage error, of `option` where one option
    is at fault (the CLI shows it as click shows its own)."""

    def __init__(self, message: str, option: str | None = None) -> None:
        self.option = option
        super().__init__(message)


@dataclass(frozen=True)
class Wanted:
    """What the options ask of an import into an environment."""

    environment: str | None
    variable: str | None
    sources: tuple[Path, ...]
    instance: str  # the command's --instance (or its default)
    instance_given: bool


@dataclass(frozen=True)
class Into:
    """Where an import reads, and the environment it writes for (None: a plain file)."""

    registry: Registry
    instance: str
    label: str  # the registry, as the new file's first comment names it
    file: EnvironmentFile | None = None
    registries: Registries | None = None  # the sources' (and, merging, the target's)
    lines: tuple[str, ...] = ()  # a new file's `environment:` block


def import_into(
    loaded: LoadedSpec | None,
    target: Path,
    wanted: Wanted,
    opener: Callable[[str | None, str], Registry],
) -> Into:
    """A plain file's registry is --registry-uri under --instance; an environment's is its
    own (as plan reads it), under its own instance. `loaded`: the file merged into (None: a
    new file, at `target`); `opener` opens a registry (None: the command's) as an instance."""
    instance = wanted.instance
    named = loaded.spec.environment if loaded is not None else None
    if named is None:
        _plain_only(loaded, target, wanted)
        if loaded is not None or wanted.environment is None:
            registry = opener(None, instance)
            return Into(registry, instance, registry.display_uri)
    if loaded is not None and named is not None:
        if wanted.environment not in {None, named.name}:
            raise ImportOptionsError(
                f"{target} describes environment {named.name!r}", "--environment"
            )
        if wanted.variable is not None:
            raise ImportOptionsError(
                f"--registry-uri-env writes a new file's environment: {target} already says "
                "where its registry is"
            )
        environments = load_environments([target, *wanted.sources])
        registries = Registries(environments, opener)
        file = environments.files[named.name]
        label = f"environment {file.name}'s registry"
        return Into(registries.of(file.name), file.spec.instance_name, label, file, registries)
    name = str(wanted.environment)
    if wanted.instance_given:
        try:
            check_environment_name(instance)
        except ValueError as error:
            raise ImportOptionsError(str(error), "--instance") from None
    given = instance if wanted.instance_given else None
    file = new_environment(name, str(target), wanted.variable, given)
    sources: Registries | None = None
    if wanted.sources:
        sources = Registries(load_environments(wanted.sources), opener)
        check_sources(sources.environments, name)
    registry = opener(file.registry_uri(), file.spec.instance_name)
    label = f"environment {name}'s registry" + (f" (${wanted.variable})" if wanted.variable else "")
    lines = tuple(environment_lines(name, wanted.variable, given))
    return Into(registry, file.spec.instance_name, label, file, sources, lines)


def _plain_only(loaded: LoadedSpec | None, target: Path, wanted: Wanted) -> None:
    if loaded is not None and (wanted.environment or wanted.sources or wanted.variable):
        raise ImportOptionsError(
            f"{target} names no environment: add its `environment:` block by hand (or import "
            "into a new file with --environment), then merge"
        )
    if wanted.environment is None and (wanted.sources or wanted.variable):
        raise ImportOptionsError(
            "--source and --registry-uri-env are for an environment's file: pass "
            "--environment NAME (a new file) or --merge into an environment's file"
        )


@dataclass(frozen=True)
class Chosen:
    """What an import writes: the selection, and what the environment's lineage adds."""

    selection: Selection
    found: int  # the models a search (--all, --filter) found: 0 without one
    promoted: dict[Key, int] | None  # merging an environment's file: each promotion's version
    values: dict[Key, str]  # the aliases written as promotions
    notes: tuple[str, ...]  # the selection's, then the lineage's


def choose(
    into: Into,
    loaded: LoadedSpec | None,
    models: Collection[str],
    *,
    every: bool,
    filter_string: str | None,
    stage_map: Mapping[str, str] | None,
) -> Chosen:
    """The named models, and those a search finds (`every` model, or a `filter_string`),
    read from `into`'s registry and selected as `into`'s instance; `loaded`: the file merged
    into (None: a new file)."""
    observed = into.registry.read_models(models, exact=True)  # only what was named
    searched = every or filter_string is not None
    found = 0
    if searched:
        search = into.registry.search_models(None if every else filter_string)
        found = len(search.models)
        observed = replace(observed, models={**search.models, **observed.models})
    # Merging into an environment's file, its instance is the file's: --instance is not read.
    other = "its own file imports it" if loaded is not None and into.file is not None else None
    selection = select(
        observed, set(models), into.instance, searched=searched, stage_map=stage_map,
        other_instance=other,
    )  # fmt: skip
    promoted, values, notes = _lineage(into, loaded, selection)
    return Chosen(selection, found, promoted, values, (*selection.notes, *notes))


def _lineage(
    into: Into, loaded: LoadedSpec | None, chosen: Selection
) -> tuple[dict[Key, int] | None, dict[Key, str], list[str]]:
    """Merging: the version each of the file's promotions stands for; for both: the aliases
    to write as promotions, and the notes."""
    if into.file is None:
        return None, {}, []
    promoted: dict[Key, int] | None = None
    notes: list[str] = []
    skip: set[Key] = set(chosen.from_stage)
    if loaded is not None and into.registries is not None:
        promoted, notes = promoted_versions(into.file, into.registries)
        skip |= {(m, a) for m, spec in loaded.spec.models.items() for a in spec.aliases}
    found = lineage(chosen.models, into.file, into.registry, into.registries, skip)
    return promoted, found.values, [*notes, *found.notes]


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
    candidates: list[tuple[str, str, int, Source]] = []
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
        if source is not None and sources is not None:
            candidates.append((model, alias, version, source))
    if not candidates or sources is None:
        return result
    # The copy a promotion resolves to, for every candidate at once (one bulk search).
    asked = {(m, s): (m, sources.copy_source(s)) for m, _, _, s in candidates}
    copies = registry.find_copies(set(asked.values()))
    for model, alias, version, source in candidates:
        copy = copies[asked[model, source]]
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
