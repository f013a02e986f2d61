"""Rollback: point one alias back to its previous value by editing aliases.yaml in place.

Only the version number's characters change: every comment, blank line, quote
style and key order stays byte for byte, so the diff a reviewer sees is one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.desired.spec import LoadedSpec, Spec, load_spec, parse_spec
from controller.desired.yamlsource import write_text
from controller.errors import ControllerError
from controller.gitops.history import (
    Revision,
    changed_paths,
    entry_at_revision,
    open_repo,
    read_timeline,
)

if TYPE_CHECKING:
    from pathlib import Path

    from controller.desired.environment import FromSource


class RollbackError(ControllerError):
    """The rollback cannot be prepared."""


@dataclass(frozen=True)
class Rollback:
    model: str
    alias: str
    current: int | str  # a version, or where a promoted version came from ("staging v7")
    target: int
    # The revision that moved the alias to its current value, when history says so.
    changed_in: Revision | None = None
    # True when that revision changed nothing but this alias: `git revert` is equivalent.
    revert_equivalent: bool = False

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"


def prepare_rollback(file: Path, model: str, alias: str, to: str | None = None) -> Rollback:
    loaded = load_spec(file)
    current = _declared_version(loaded, model, alias)
    if to is not None and to.isdigit():
        target = int(to)
        if target < 1:
            raise RollbackError("--to VERSION must be a positive integer")
        return Rollback(model, alias, current, target)
    if isinstance(current, str):
        raise RollbackError(
            f"{model}@{alias} is promoted from {current}: roll it back to a version already "
            "in this environment's registry with --to VERSION (nothing is copied)"
        )
    timeline = read_timeline(file)
    if to is not None:
        entry = entry_at_revision(file, timeline, to)
        if entry is None:
            raise RollbackError(f"{file} has no revision at {to}")
        target_or_none = entry.state.get(model, {}).get(alias)
        if target_or_none is None:
            raise RollbackError(f"{model}@{alias} is not declared at {to}")
        return Rollback(model, alias, current, target_or_none)
    for entry in reversed(timeline.entries):
        for change in entry.changes:
            if (change.model, change.alias) != (model, alias) or change.after != current:
                continue
            if change.before is None:
                raise RollbackError(
                    f"{model}@{alias} was created by {entry.revision.short} "
                    f"({entry.revision.subject}): there is no previous version to roll back to; "
                    f"remove the alias from the file, or `{revert_command(entry.revision)}`"
                )
            # `git revert` is only equivalent when the commit did nothing else at all.
            alone = len(entry.changes) == 1 and len(changed_paths(file, entry.revision.sha)) == 1
            return Rollback(model, alias, current, change.before, entry.revision, alone)
    note = f" ({'; '.join(timeline.notes)})" if timeline.notes else ""
    raise RollbackError(
        f"no earlier version of {model}@{alias} in the history of {file}{note}; pass --to VERSION"
    )


def _declared_version(loaded: LoadedSpec, model: str, alias: str) -> int | str:
    """The version the file names, or (promoted from another environment) where from."""
    models = loaded.spec.models
    if model not in models:
        raise RollbackError(f"{loaded.source.path}: model {model!r} is not declared")
    value = models[model].aliases.get(alias)
    if value is None:
        raise RollbackError(f"{loaded.source.path}: {model}@{alias} is not declared")
    return value if isinstance(value, int) else value.describe(model)


def edit_file(file: Path, rollback: Rollback) -> str:
    """Rewrite only the version's characters; return the new text (already written)."""
    new_text = edited_text(file.read_bytes().decode("utf-8-sig"), str(file), rollback)
    write_text(file, new_text)
    return new_text


def edited_text(text: str, label: str, rollback: Rollback) -> str:
    """The file's text with only the version's characters changed (nothing written)."""
    return replace_value(text, label, rollback.model, rollback.alias, rollback.target)


def replace_value(text: str, label: str, model: str, alias: str, value: int | FromSource) -> str:
    """`text` with only model@alias's value rewritten, checked to change nothing else."""
    loaded = parse_spec(text, label)
    span = loaded.source.values.get(("models", model, "aliases", alias))
    if span is None:
        raise RollbackError(f"{label}: {model}@{alias} is not declared")
    # A node's span starts at its tag or anchor (`!!int 3`, `&v 3`): keep those, swap the value.
    start = span.start + _value_offset(text[span.start : span.end])
    new_text = text[:start] + _written(value) + text[span.end :]
    # Re-validate before writing: the edit must give exactly the intended file.
    after = _as_written(parse_spec(new_text, label).spec)
    expected = _as_written(loaded.spec)
    expected[model][alias] = value
    if after != expected:
        raise RollbackError(
            f"{label}: changing {model}@{alias} in place would change other aliases too "
            "(a shared YAML anchor?); edit the file by hand"
        )
    return new_text


def _written(value: int | FromSource) -> str:
    """A version as the file writes it; a promotion as one flow mapping, on one line."""
    if isinstance(value, int):
        return str(value)
    fields = {"from": value.from_, "model": value.model, "version": value.version}
    fields["alias"] = value.alias
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items() if v is not None) + "}"


def _as_written(spec: Spec) -> dict[str, dict[str, object]]:
    """Every alias's value as the file writes it (a version, or where it is promoted from)."""
    return {name: dict(model.aliases) for name, model in spec.models.items()}


def revert_command(revision: Revision) -> str:
    """The `git revert` that undoes `revision`; a merge commit needs its mainline named."""
    mainline = "-m 1 " if len(revision.parents) > 1 else ""
    return f"git revert {mainline}{revision.short}"


def _value_offset(node_text: str) -> int:
    """Where the scalar itself starts in a node's text, after any tag and anchor."""
    offset = 0
    for token in node_text.split(" ")[:-1]:
        if not token.startswith(("!", "&")):
            break
        offset += len(token) + 1
    return offset


def commit_message(rollback: Rollback) -> str:
    subject = f"Roll back {rollback.key} from {rollback.current} to {rollback.target}"
    if rollback.changed_in is None:
        return subject + "\n"
    source = rollback.changed_in
    return (
        f"{subject}\n\nUndoes the change of {rollback.key} made in {source.short} "
        f"({source.subject}).\n"
    )


def commit(file: Path, rollback: Rollback) -> str:
    repo, relative = open_repo(file)
    # Only this file goes into the commit, whatever else is staged.
    repo.git.commit("-m", commit_message(rollback), "--only", "--", relative)
    return str(repo.head.commit.hexsha)
