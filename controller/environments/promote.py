"""`aliasctl promote`: one reviewed line that promotes a version from one environment to the next.

The target environment's file is edited in place, like `rollback` does: only the alias's
value changes, to `{from: staging, version: 7}`, naming the version by where it came from
(the number the source environment's file names for the alias now). The target registry
assigns its own number when `apply` copies the version; the line stays traceable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.desired.environment import FromSource
from controller.desired.yamlsource import read_text, write_text
from controller.gitops.history import open_repo
from controller.gitops.rollback import RollbackError, replace_value

if TYPE_CHECKING:
    from pathlib import Path

    from controller.environments.files import Environments


class PromoteError(RollbackError):
    """The promotion cannot be written."""


@dataclass(frozen=True)
class Promote:
    model: str
    alias: str
    source: str  # environment
    target: str  # environment
    value: FromSource
    file: Path

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"

    def describe(self) -> str:
        return f"{self.key} in {self.target}: {self.value.describe(self.model)}"


def prepare_promote(
    environments: Environments,
    model: str,
    alias: str,
    source: str,
    target: str,
    *,
    from_alias: str | None = None,
    version: int | None = None,
) -> Promote:
    """What to write: the source's declared version of the alias (or `version`)."""
    for name in (source, target):
        if name not in environments.files:
            known = ", ".join(sorted(environments.files))
            raise PromoteError(f"no file describes environment {name!r} ({known})")
    target_file = environments.files[target]
    if model not in target_file.loaded.spec.models:
        raise PromoteError(
            f"{target_file.path}: model {model!r} is not declared: declare it (and the alias) "
            "in the file first, then promote into it"
        )
    if alias not in target_file.loaded.spec.models[model].aliases:
        raise PromoteError(f"{target_file.path}: {model}@{alias} is not declared: declare it first")
    source_model = model
    previous = target_file.loaded.spec.models[model].aliases[alias]
    if isinstance(previous, FromSource) and previous.model:
        source_model = previous.model  # keep naming the source model the line named
    if version is None:
        version = _source_version(environments, source, source_model, from_alias or alias)
    value = FromSource.model_validate(
        {
            "from": source,
            "version": version,
            "model": None if source_model == model else source_model,
        }
    )
    from pathlib import Path  # noqa: PLC0415

    return Promote(model, alias, source, target, value, Path(target_file.path))


def _source_version(environments: Environments, source: str, model: str, alias: str) -> int:
    file = environments.files[source]
    aliases = file.loaded.spec.models.get(model)
    value = aliases.aliases.get(alias) if aliases else None
    if value is None:
        raise PromoteError(f"{file.path}: environment {source!r} declares no {model}@{alias}")
    if not isinstance(value, int):
        raise PromoteError(
            f"{file.path}: {model}@{alias} in {source} is itself promoted "
            f"({value.describe(model)}): promote with --version N, the number in {source}'s "
            "registry"
        )
    return value


def edit_file(promote: Promote) -> str:
    """Rewrite only the alias's value; return the new text (already written)."""
    label = str(promote.file)
    text = replace_value(
        read_text(promote.file), label, promote.model, promote.alias, promote.value
    )
    write_text(promote.file, text)
    return text


def commit_message(promote: Promote) -> str:
    return f"Promote {promote.key} to {promote.target}: {promote.value.describe(promote.model)}\n"


def commit(promote: Promote) -> str:
    repo, relative = open_repo(promote.file)
    repo.git.commit("-m", commit_message(promote), "--only", "--", relative)
    return str(repo.head.commit.hexsha)
