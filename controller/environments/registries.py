"""The environments' registries, and a file read against its own: promotions as versions.

Every command that reads an environment's file (plan, apply, drift, serve, import,
analyze) sees it the same way: a promotion is the version its copy has in this
environment's registry, or, until apply makes that copy, the alias's live version, so
that a pending promotion never reads as a removal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.desired.spec import LoadedSpec
from controller.environments.resolve import Promotion, Source, resolve
from controller.registry.seam import CopySource

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from controller.environments.files import EnvironmentFile, Environments
    from controller.registry.seam import Registry


# A copy looked for: (the environment it is in, the model there, what it copies).
CopyKey = tuple[str, str, Source]


class Registries:
    """The environments' registries, opened once each (a source serves several targets)."""

    def __init__(
        self, environments: Environments, open_registry: Callable[[str | None, str], Registry]
    ) -> None:
        self.environments = environments
        self._open = open_registry
        self._opened: dict[str, Registry] = {}

    def of(self, name: str) -> Registry:
        if name not in self._opened:
            file = self.environments.files[name]
            self._opened[name] = self._open(file.registry_uri(), file.spec.instance_name)
        return self._opened[name]

    def copy_source(self, source: Source) -> CopySource:
        registry = self.of(source.environment)
        return CopySource.of(registry, source.model, source.version, source.environment)

    def find_copy(self, target: str, model: str, source: Source) -> int | None:
        return self.of(target).find_copy(model, self.copy_source(source))

    def promotions(self, name: str) -> list[Promotion]:
        """Every promotion into environment `name`, with its copy there if one exists.

        The copies are looked for together, a bulk search per registry, not one search per
        promotion: resolution (pure) is run once to learn which copies it asks for, those
        are found in bulk, and it runs again with the answers. A chain (dev -> staging ->
        prod) asks for the next link only once the first is known: another round.
        """
        copies = _Answers()
        while True:
            found = resolve(self.environments, name, copies.answer)
            if not copies.asked:
                return found
            copies.learn(self._find_copies(copies.asked))

    def _find_copies(self, keys: set[CopyKey]) -> dict[CopyKey, int | None]:
        by_target: dict[str, dict[tuple[str, CopySource], CopyKey]] = {}
        for key in keys:
            target, model, source = key
            by_target.setdefault(target, {})[(model, self.copy_source(source))] = key
        found: dict[CopyKey, int | None] = {}
        for target, wanted in by_target.items():
            answers = self.of(target).find_copies(list(wanted))
            found |= {key: answers[asked] for asked, key in wanted.items()}
        return found


@dataclass
class _Answers:
    """The copies known so far, and those a resolution asked for and did not get."""

    known: dict[CopyKey, int | None] = field(default_factory=dict)
    asked: set[CopyKey] = field(default_factory=set)

    def answer(self, target: str, model: str, source: Source) -> int | None:
        key = (target, model, source)
        if key not in self.known:
            self.asked.add(key)
        return self.known.get(key)

    def learn(self, found: dict[CopyKey, int | None]) -> None:
        self.known |= found
        self.asked = set()


@dataclass(frozen=True)
class ResolvedFile:
    """An environment's file as an ordinary spec on its registry."""

    loaded: LoadedSpec
    promotions: tuple[Promotion, ...]
    # A pending promotion's alias and the version it holds now (before the copy).
    live: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def pending(self) -> tuple[Promotion, ...]:
        return tuple(p for p in self.promotions if p.pending)


def resolve_file(
    file: EnvironmentFile, registries: Registries, promotions: Iterable[Promotion] | None = None
) -> ResolvedFile:
    """The file with every promotion as a version number (copies are found, never made)."""
    found = tuple(registries.promotions(file.name) if promotions is None else promotions)
    loaded, live = resolved(file, found, registries.of(file.name))
    return ResolvedFile(loaded, found, live)


def resolved(
    file: EnvironmentFile, promotions: tuple[Promotion, ...], registry: Registry
) -> tuple[LoadedSpec, dict[tuple[str, str], int]]:
    """The file with every promotion as a version: its copy, or (until apply copies it)
    the alias's live version, so that a pending promotion never reads as a removal."""
    versions: dict[tuple[str, str], int | None] = {
        (p.model, p.alias): p.copy for p in promotions if p.copy is not None
    }
    pending = [p for p in promotions if p.copy is None]
    live_now: dict[tuple[str, str], int] = {}
    absent: set[str] = set()
    if pending:
        live = registry.read_models({p.model for p in pending}, exact=True).models
        for p in pending:
            model = live.get(p.model)
            versions[(p.model, p.alias)] = model.aliases.get(p.alias) if model else None
            if model is not None and p.alias in model.aliases:
                live_now[(p.model, p.alias)] = model.aliases[p.alias]
        absent = {p.model for p in pending if p.model not in live}
    spec = file.loaded.spec.with_versions(versions)
    # A model the first copy will create: nothing to plan on it until then.
    waiting = {name for name in absent if not spec.models[name].aliases}
    if waiting:
        models = {n: m for n, m in spec.models.items() if n not in waiting}
        spec = spec.model_copy(update={"models": models})
    return LoadedSpec(spec, file.loaded.source), live_now
