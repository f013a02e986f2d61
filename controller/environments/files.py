"""The files a command is given, as environments: each names its own, once (pure)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.desired.spec import load_spec
from controller.errors import ControllerError, SpecError, SpecIssue

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from controller.desired.environment import EnvironmentSpec
    from controller.desired.spec import LoadedSpec


class EnvironmentSetupError(ControllerError):
    """An environment's registry cannot be found (its variable is not set)."""


@dataclass(frozen=True)
class EnvironmentFile:
    loaded: LoadedSpec

    @property
    def spec(self) -> EnvironmentSpec:
        environment = self.loaded.spec.environment
        if environment is None:  # load_environments keeps only files that name one
            raise AssertionError(f"{self.path} names no environment")
        return environment

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def path(self) -> str:
        return self.loaded.source.path

    def registry_uri(self, env: Mapping[str, str] = os.environ) -> str | None:
        """The environment's registry URI; None: the command's own (--registry-uri, ...)."""
        spec = self.spec
        if spec.registry_uri_env is None:
            return spec.registry_uri
        uri = env.get(spec.registry_uri_env, "").strip()
        if not uri:
            raise EnvironmentSetupError(
                f"environment {spec.name!r} ({self.path}): its registry URI is read from "
                f"${spec.registry_uri_env}, which is not set"
            )
        return uri


@dataclass(frozen=True)
class Environments:
    """Environment files by name, in the order a promotion needs them applied."""

    files: dict[str, EnvironmentFile]

    def ordered(self) -> list[EnvironmentFile]:
        """Sources before the environments they promote into (load refused cycles)."""
        done: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            for source in sorted(self.sources_of(name)):
                visit(source)
            done.append(name)

        for name in sorted(self.files):
            visit(name)
        return [self.files[name] for name in done]

    def sources_of(self, name: str) -> set[str]:
        return {p.from_ for _, _, p in self.files[name].loaded.spec.promotions()}

    def select(self, names: Sequence[str]) -> list[EnvironmentFile]:
        unknown = sorted(set(names) - set(self.files))
        if unknown:
            known = ", ".join(sorted(self.files))
            raise ControllerError(f"--environment {unknown[0]!r} is none of the files' ({known})")
        return [f for f in self.ordered() if not names or f.name in names]


def uses_environments(paths: Sequence[Path]) -> bool:
    """Whether the command must go the environments' way: several files, or one naming one."""
    return len(paths) > 1 or load_spec(paths[0]).spec.environment is not None


def load_environments(paths: Sequence[Path]) -> Environments:
    """Every file must name its environment, once; promotions must name one of them."""
    files: dict[str, EnvironmentFile] = {}
    for path in paths:
        loaded = load_spec(path)
        if loaded.spec.environment is None:
            where = loaded.source.locate(())
            raise SpecError(
                loaded.source.path,
                [SpecIssue(where, "given with other files, a file must name its environment "
                 "(`environment: {name: ...}`)")],
            )  # fmt: skip
        file = EnvironmentFile(loaded)
        if file.name in files:
            where = loaded.source.locate(("environment", "name"))
            first = files[file.name].path
            raise SpecError(
                file.path,
                [SpecIssue(where, f"environment {file.name!r} is described by {first} too")],
            )
        files[file.name] = file
    environments = Environments(files)
    _check_sources(environments)
    _check_claims(environments)
    return environments


def _check_claims(environments: Environments) -> None:
    """Two files may not manage one model in one registry: their applies would undo each
    other (and each would count the other's aliases as its own removals)."""
    claimed: dict[tuple[str | None, str], EnvironmentFile] = {}
    for file in environments.files.values():
        try:
            uri = file.registry_uri()
        except EnvironmentSetupError:
            continue  # said when the environment is opened, if it is
        for model in file.loaded.spec.models:
            first = claimed.setdefault((uri, model), file)
            if first is not file:
                where = file.loaded.source.locate(("models", model), at_key=True)
                line = first.loaded.source.locate(("models", model), at_key=True).line
                raise SpecError(
                    file.path,
                    [SpecIssue(where, f"model {model!r} is managed by {first.path}:{line} too, "
                     "in the same registry: one file per model and registry")],
                )  # fmt: skip


def _check_sources(environments: Environments) -> None:
    """Promotions name a given environment, and never come back around to themselves."""
    for file in environments.files.values():
        for model, alias, promoted in file.loaded.spec.promotions():
            if promoted.from_ not in environments.files:
                where = file.loaded.source.locate(("models", model, "aliases", alias))
                known = ", ".join(sorted(environments.files))
                raise SpecError(
                    file.path,
                    [SpecIssue(where, f"{model}@{alias} is promoted from environment "
                     f"{promoted.from_!r}, which none of the files given describes ({known})")],
                )  # fmt: skip
    for file in environments.files.values():
        path = [file.name]
        _no_cycle(environments, path)


def _no_cycle(environments: Environments, path: list[str]) -> None:
    for source in sorted(environments.sources_of(path[-1])):
        if source in path:
            loop = " -> ".join([*path[path.index(source) :], source])
            file = environments.files[path[-1]]
            raise SpecError(file.path, reason=f"promotions go around in a circle: {loop}")
        _no_cycle(environments, [*path, source])
