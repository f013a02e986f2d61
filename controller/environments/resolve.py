"""From `{from: staging, version: 7}` to a version number in this environment's registry.

A promoted version is known in the target registry by the copy made of it (found by
the tag that names its source); until apply makes that copy, the promotion is pending.
Resolution is pure: it asks `find_copy` for copies and reads the files for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.errors import ControllerError

if TYPE_CHECKING:
    from collections.abc import Callable

    from controller.desired.environment import FromSource
    from controller.environments.files import Environments


@dataclass(frozen=True, order=True)
class Source:
    """A version in an environment's registry: what a copy is a copy of."""

    environment: str
    model: str
    version: int

    def describe(self) -> str:
        return f"{self.environment} {self.model} v{self.version}"


@dataclass(frozen=True)
class Promotion:
    """An alias promoted from another environment: its source and, once made, its copy."""

    model: str
    alias: str
    source: Source | None  # None: the source is itself a promotion not applied yet there
    copy: int | None  # the copy's version in this environment's registry
    waits_for: str | None = None  # why it cannot be resolved yet

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"

    @property
    def pending(self) -> bool:
        return self.copy is None


class ResolveError(ControllerError):
    """A promotion names a version its source environment does not declare."""


def resolve(
    environments: Environments, name: str, find_copy: Callable[[str, str, Source], int | None]
) -> list[Promotion]:
    """Every promotion into environment `name`, with its source and copy where they exist."""
    spec = environments.files[name].loaded.spec
    return [
        _promotion(environments, name, model, alias, promoted, find_copy)
        for model, alias, promoted in spec.promotions()
    ]


def _promotion(
    environments: Environments,
    name: str,
    model: str,
    alias: str,
    promoted: FromSource,
    find_copy: Callable[[str, str, Source], int | None],
) -> Promotion:
    source_model = promoted.model or model
    if promoted.version is not None:
        source = Source(promoted.from_, source_model, promoted.version)
    else:
        found = _declared_in_source(environments, promoted, source_model, find_copy)
        if isinstance(found, str):
            return Promotion(model, alias, None, None, waits_for=found)
        source = Source(promoted.from_, source_model, found)
    return Promotion(model, alias, source, find_copy(name, model, source))


def _declared_in_source(
    environments: Environments,
    promoted: FromSource,
    source_model: str,
    find_copy: Callable[[str, str, Source], int | None],
) -> int | str:
    """The version the source environment's file names for the alias (or why not yet)."""
    file = environments.files[promoted.from_]
    alias = str(promoted.alias)
    value = file.loaded.spec.models.get(source_model)
    if value is None or alias not in value.aliases:
        raise ResolveError(
            f"{file.path}: environment {promoted.from_!r} declares no {source_model}@{alias}"
        )
    version = value.aliases[alias]
    if isinstance(version, int):
        return version
    # The source's alias is itself promoted (dev -> staging -> prod): its copy there.
    upstream = _promotion(environments, promoted.from_, source_model, alias, version, find_copy)
    if upstream.copy is None:
        return (
            f"{promoted.from_}'s {upstream.key} is not applied yet (apply {promoted.from_} first)"
        )
    return upstream.copy
