"""What a serve cycle reconciles to: the file, or one environment of several files.

With environment files, `serve` keeps one environment (`--environment prod`); the
other files are read to resolve its promotions. Each cycle reads the files again,
resolves every promotion to its copy in the served registry, and judges the pending
ones as `apply` does before copying anything: the source is applied, its soak there
is over, the windows and freezes allow it. A pending promotion that passes is copied
under the cycle's lock, then moved to like any change; one that does not is a
problem of the cycle, which holds back everything but heals, as a refused apply does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from controller.core.problem import Problem
from controller.desired.spec import load_spec
from controller.environments.files import load_environments
from controller.environments.registries import Registries, resolve_file
from controller.environments.run import Copied, before_copy, copy_promotion
from controller.environments.soak import source_stretches
from controller.errors import ControllerError, RegistryError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from controller.core.soak import Stretch
    from controller.desired.spec import LoadedSpec
    from controller.environments.files import EnvironmentFile
    from controller.environments.resolve import Promotion
    from controller.reconcile import Options
    from controller.registry.seam import Registry


class ServedEnvironment:
    """The environment serve keeps, the files that describe it and its sources, and the
    registries they name, opened once for the life of the controller."""

    def __init__(
        self,
        files: tuple[Path, ...],
        name: str,
        open_registry: Callable[[str | None, str], Registry],
    ) -> None:
        self.files = files
        self.name = name
        self._open = open_registry
        self._opened: dict[tuple[str | None, str], Registry] = {}

    def open(self, uri: str | None, instance: str) -> Registry:
        if (uri, instance) not in self._opened:
            self._opened[(uri, instance)] = self._open(uri, instance)
        return self._opened[(uri, instance)]

    def target(self) -> tuple[EnvironmentFile, Registry]:
        """The served environment's file as it is now, and its registry."""
        environments = load_environments(self.files)
        file = _served(environments.files, self.name)
        return file, self.open(file.registry_uri(), file.spec.instance_name)

    def forget_cached_reads(self) -> None:
        for registry in self._opened.values():
            registry.forget_cached_reads()


def _served(files: Mapping[str, EnvironmentFile], name: str) -> EnvironmentFile:
    if name not in files:
        known = ", ".join(sorted(files))
        raise ControllerError(f"--environment {name!r} is none of the files' ({known})")
    return files[name]


@dataclass(frozen=True)
class Desired:
    """A cycle's file, promotions resolved; what its pending promotions need first."""

    loaded: LoadedSpec
    # The models the lock is named from, as apply names it: the whole file's, models
    # waiting for their first copy included (empty: the loaded file's).
    lock_models: tuple[str, ...] = ()
    # Promotions not copied here yet, and why they may not be now (then none is copied).
    pending: tuple[Promotion, ...] = ()
    blocked: tuple[Problem, ...] = ()
    source_soak: Mapping[tuple[str, str], Stretch] = field(default_factory=dict)
    _copy: Callable[[tuple[Promotion, ...]], Copying] | None = None

    def ready_in(self, scope: frozenset[str] | None) -> tuple[Promotion, ...]:
        """The pending promotions to copy under the lock before planning."""
        if self.blocked:
            return ()
        return tuple(p for p in self.pending if scope is None or p.model in scope)

    def copy(self, promotions: tuple[Promotion, ...]) -> tuple[Desired, tuple[Copied, ...]]:
        """Make the copies (the caller holds the lock); the file resolved to them. A copy
        that fails (the source registry down) blocks its promotion, not the cycle: the
        rest, heals above all, goes on."""
        if self._copy is None or not promotions:
            return self, ()
        done = self._copy(promotions)
        made = {(c.model, c.alias) for c in done.copied}
        left = tuple(p for p in self.pending if (p.model, p.alias) not in made)
        blocked = (*self.blocked, *done.failed)
        return replace(self, loaded=done.loaded, pending=left, blocked=blocked), done.copied


@dataclass(frozen=True)
class Copying:
    """What a cycle's copies came to: the file resolved to those made, and those that failed."""

    loaded: LoadedSpec
    copied: tuple[Copied, ...]
    failed: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class ForAnalysis:
    """What an analysis pass reads: the file resolved, whose environment it is, and the
    promotions' soaks in their sources (a rollback passes promote_from as apply would)."""

    loaded: LoadedSpec
    environment: str | None = None
    source_soak: Mapping[tuple[str, str], Stretch] = field(default_factory=dict)
    lock_models: tuple[str, ...] = ()  # the whole file's, as apply names its lock


def for_analysis(file: Path, served: ServedEnvironment | None) -> ForAnalysis:
    """The file, promotions as their copies (pending ones at their live versions)."""
    if served is None:
        return ForAnalysis(load_spec(file))
    environments = load_environments(served.files)
    target = _served(environments.files, served.name)
    current = resolve_file(target, Registries(environments, served.open))
    stretches, _ = source_stretches(environments, target, list(current.promotions))
    return ForAnalysis(current.loaded, target.name, stretches, tuple(target.loaded.spec.models))


def read_desired(
    file: Path,
    served: ServedEnvironment | None,
    options_for: Callable[[LoadedSpec], Options],
) -> Desired:
    """The file (`served` None), or the served environment's file resolved."""
    if served is None:
        return Desired(load_spec(file))
    environments = load_environments(served.files)
    target = _served(environments.files, served.name)
    registries = Registries(environments, served.open)
    current = resolve_file(target, registries)
    promotions = list(current.promotions)
    stretches, blocked = before_copy(environments, target, promotions, options_for(target.loaded))

    def copy(chosen: tuple[Promotion, ...]) -> Copying:
        copied: list[Copied] = []
        failed: list[Problem] = []
        for promotion in chosen:
            try:
                copied.append(copy_promotion(registries, target.name, promotion))
            except RegistryError as error:  # a CopyError names the side and the source
                failed.append(
                    Problem(promotion.model, promotion.alias, f"{promotion.key}: {error}")
                )
        made = {(c.model, c.alias): c.version for c in copied}
        known = [replace(p, copy=made.get((p.model, p.alias), p.copy)) for p in promotions]
        loaded = resolve_file(target, registries, known).loaded
        return Copying(loaded, tuple(copied), tuple(failed))

    models = tuple(target.loaded.spec.models)
    return Desired(current.loaded, models, current.pending, tuple(blocked), stretches, copy)
