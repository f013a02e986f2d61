"""Git is the audit log: revisions of aliases.yaml, diffed with the same pure diff as plan.

One `git log --first-parent --follow` lists the revisions that landed on the
branch (a merged pull request is one revision, its merge commit); one
persistent `git cat-file --batch` process reads them; identical blobs (a revert
restores an old one) are parsed once. That keeps thousands of revisions to
seconds.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.core.plan import diff_aliases
from controller.desired.spec import parse_spec
from controller.errors import ControllerError, SpecError

if TYPE_CHECKING:
    from controller.core.change import Change

_RECORD = "\x1e"
_FIELD = "\x1f"
_LOG_FORMAT = _RECORD + _FIELD.join(["%H", "%P", "%an", "%ae", "%ct", "%s"])
_MERGE_PR = re.compile(r"^Merge pull request #(\d+)")
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")

State = dict[str, dict[str, int]]
# Aliases promoted from another environment: where from ("staging bikes v7"), by model.
Promoted = dict[str, dict[str, str]]


class GitError(ControllerError):
    """The file's git history cannot be read."""


@dataclass(frozen=True)
class Revision:
    sha: str
    parents: tuple[str, ...]
    author: str
    email: str
    time: datetime
    subject: str
    path: str  # the file's path in this revision (it may have been renamed since)
    deleted: bool = False

    @property
    def short(self) -> str:
        return self.sha[:7]

    @property
    def pull_request(self) -> int | None:
        found = _MERGE_PR.match(self.subject) or _SQUASH_PR.search(self.subject)
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class Promotion:
    """An alias's change where either side is a promotion from another environment: its
    values as people read them (a version number, or where the version came from)."""

    model: str
    alias: str
    before: str | None  # None: not declared before
    after: str | None  # None: no longer declared

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"


@dataclass(frozen=True)
class Entry:
    """One revision of the file and the alias changes it made."""

    revision: Revision
    changes: tuple[Change, ...]
    state: State  # the declared aliases after this revision (the last valid one if invalid)
    invalid: str | None = None  # why this revision's file did not validate
    # Promotions from other environments: their changes (not in `changes`, which are
    # this registry's numbers), and those declared after this revision.
    promotions: tuple[Promotion, ...] = ()
    promoted: Promoted = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    path: str
    entries: tuple[Entry, ...]
    shallow: bool = False
    notes: tuple[str, ...] = field(default=())

    def state_at(self, moment: datetime) -> Entry | None:
        """The revision in force at `moment` (by commit time on the branch)."""
        current = None
        for entry in self.entries:
            if entry.revision.time <= moment:
                current = entry
        return current


def open_repo(file: Path) -> tuple[Any, str]:
    """The git repository holding `file`, and the file's path relative to its top."""
    import git  # noqa: PLC0415 - gitpython is only needed by git-aware commands

    try:
        repo = git.Repo(file.resolve().parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{file}: not inside a git repository") from None
    top = Path(repo.working_tree_dir or ".").resolve()
    try:
        relative = file.resolve().relative_to(top).as_posix()
    except ValueError:
        raise GitError(f"{file}: outside the repository at {top}") from None
    return repo, relative


def read_timeline(file: Path, rev: str = "HEAD") -> Timeline:
    repo, relative = open_repo(file)
    import git  # noqa: PLC0415

    try:
        revisions = _revisions(repo, relative, rev)
        shallow = repo.git.rev_parse("--is-shallow-repository").strip() == "true"
        entries = _entries(repo, revisions)
    except git.GitCommandError as error:
        detail = (error.stderr or str(error)).strip().splitlines()[-1:]
        raise GitError(f"{file}: git failed: {' '.join(detail)}") from None
    notes = []
    if shallow:
        notes.append("history is cut short: this is a shallow clone (fetch with depth 0)")
    if not entries:
        notes.append(f"{relative} has no committed revisions at {rev}")
    return Timeline(relative, tuple(entries), shallow, tuple(notes))


def entry_at_revision(file: Path, timeline: Timeline, rev: str) -> Entry | None:
    """The newest revision of the file that `rev` contains (the file as of that commit)."""
    if rev.startswith("-"):
        # git would read it as an option (`--output=FILE` writes a file): never pass it on.
        raise GitError(f"{rev!r} is not a revision: a revision never starts with '-'")
    repo, _ = open_repo(file)
    import git  # noqa: PLC0415

    try:
        ancestors = set(repo.git.rev_list("--end-of-options", rev, "--").split())
    except git.GitCommandError:
        raise GitError(f"{rev!r} is neither a git revision nor an ISO date/time") from None
    current = None
    for entry in timeline.entries:
        if entry.revision.sha in ancestors:
            current = entry
    return current


def _revisions(repo: Any, relative: str, rev: str) -> list[Revision]:
    out: str = repo.git(c="core.quotePath=false").log(
        rev, "--first-parent", "--follow", "-M", "--name-status", f"--format={_LOG_FORMAT}",
        "--", relative,
    )  # fmt: skip
    revisions = []
    for chunk in out.split(_RECORD)[1:]:
        header, _, files = chunk.partition("\n")
        sha, parents, author, email, stamp, subject = header.split(_FIELD)
        path, deleted = relative, False
        for line in files.strip().splitlines():
            status, *paths = line.split("\t")
            path, deleted = unquote_path(paths[-1]), status.startswith("D")
        when = datetime.fromtimestamp(int(stamp), tz=UTC)
        revisions.append(
            Revision(sha, tuple(parents.split()), author, email, when, subject, path, deleted)
        )
    revisions.reverse()
    return revisions


def unquote_path(path: str) -> str:
    """Undo git's C-style quoting of unusual paths ("te\\"am/aliases.yaml", octal escapes)."""
    if not (path.startswith('"') and path.endswith('"')):
        return path
    raw = codecs.escape_decode(path[1:-1].encode("utf-8"))[0]
    return bytes(raw).decode("utf-8")


def changed_paths(file: Path, sha: str) -> list[str]:
    """Every path a commit changed (against its first parent)."""
    repo, _ = open_repo(file)
    out: str = repo.git(c="core.quotePath=false").show(
        "--first-parent", "--name-only", "--format=", sha
    )
    return [unquote_path(line) for line in out.splitlines() if line.strip()]


_Parsed = tuple[State, Promoted] | str  # the file's aliases, or why it is invalid


def _entries(repo: Any, revisions: list[Revision]) -> list[Entry]:
    parsed: dict[str, _Parsed] = {}
    previous: State = {}
    previous_promoted: Promoted = {}
    entries = []
    for revision in revisions:
        if revision.deleted:
            found: _Parsed = ({}, {})
        else:
            blob, _, _, data = repo.git.get_object_data(f"{revision.sha}:{revision.path}")
            if blob not in parsed:
                parsed[blob] = _parse(data, f"{revision.path}@{revision.short}")
            found = parsed[blob]
        if isinstance(found, str):
            entries.append(Entry(revision, (), previous, found, promoted=previous_promoted))
            continue
        state, promoted = found
        involved = _keys(previous_promoted) | _keys(promoted)
        changes = [c for c in diff_states(previous, state) if (c.model, c.alias) not in involved]
        moves = _promotions(involved, (previous, previous_promoted), (state, promoted))
        entries.append(Entry(revision, tuple(changes), state, None, moves, promoted))
        previous, previous_promoted = state, promoted
    return entries


def _keys(promoted: Promoted) -> set[tuple[str, str]]:
    return {(model, alias) for model, aliases in promoted.items() for alias in aliases}


def _label(side: tuple[State, Promoted], model: str, alias: str) -> str | None:
    state, promoted = side
    if alias in promoted.get(model, {}):
        return promoted[model][alias]
    version = state.get(model, {}).get(alias)
    return None if version is None else str(version)


def _promotions(
    keys: set[tuple[str, str]], before: tuple[State, Promoted], after: tuple[State, Promoted]
) -> tuple[Promotion, ...]:
    found = []
    for model, alias in sorted(keys):
        was, now = _label(before, model, alias), _label(after, model, alias)
        if was != now:
            found.append(Promotion(model, alias, was, now))
    return tuple(found)


def _parse(data: bytes, label: str) -> _Parsed:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return f"{label}: not valid UTF-8"
    try:
        spec = parse_spec(text, label).spec
    except SpecError as error:
        return str(error)
    # Versions in `state`: a promotion from another environment names no number of this
    # registry, so it is kept apart, as where it came from.
    state = {
        name: {alias: v for alias, v in model.aliases.items() if isinstance(v, int)}
        for name, model in spec.models.items()
    }
    promoted: Promoted = {}
    for name, alias, source in spec.promotions():
        promoted.setdefault(name, {})[alias] = source.describe(name)
    return state, promoted


def diff_states(before: State, after: State) -> list[Change]:
    """Alias changes between two declared states: the plan's diff, revision against revision."""
    changes: list[Change] = []
    for model in sorted(before.keys() | after.keys()):
        changes += diff_aliases(model, before.get(model, {}), after.get(model, {}))
    return changes


def select(timeline: Timeline, model: str | None, alias: str | None) -> Timeline:
    """Only the entries (and changes) that concern MODEL or MODEL@ALIAS."""
    if model is None:
        return timeline
    kept = []
    for entry in timeline.entries:
        changes = tuple(
            c for c in entry.changes if c.model == model and (alias is None or c.alias == alias)
        )
        moves = tuple(p for p in entry.promotions if p.model == model and alias in (None, p.alias))
        if changes or moves or entry.invalid:
            kept.append(
                Entry(entry.revision, changes, entry.state, entry.invalid, moves, entry.promoted)
            )
    return Timeline(timeline.path, tuple(kept), timeline.shallow, timeline.notes)


def parse_moment(text: str) -> datetime | None:
    """An ISO date or date-time (naive means UTC), or None if `text` is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pull_fast_forward(file: Path, timeout_seconds: float = 60) -> None:
    """`git pull --ff-only` in the checkout holding `file` (`serve --pull`, on a VM)."""
    import git  # noqa: PLC0415

    repo, _ = open_repo(file)
    try:
        repo.git.pull("--ff-only", "--quiet", kill_after_timeout=timeout_seconds)
    except git.GitCommandError as error:
        lines = str(error.stderr or error).strip().splitlines()
        last = lines[-1].strip().removeprefix("stderr: ").strip("'") if lines else "failed"
        last = re.sub(r"://[^/@\s]+@", "://***@", last)  # a remote URL may carry a token
        raise GitError(f"git pull --ff-only failed: {last}") from None
