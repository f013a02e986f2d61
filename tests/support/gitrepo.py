"""Real git repositories in tmp_path, isolated from the user's and the system's git config.

Every git command here runs with the same environment as the controller's own
git commands (which inherit os.environ), so call `isolate_git` first, from a
fixture: it points HOME at the test's directory, ignores the system config and
drops any GIT_* variable leaked in from outside (a pre-commit hook sets
GIT_INDEX_FILE, for one). Commit times come from the repository's clock, one
hour apart from 2024-01-01 09:00 UTC unless a commit says `when=`, so shas and
timelines are the same on every run.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    import pytest


class Person(NamedTuple):
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


ALICE = Person("Alice Example", "alice@example.com")
BOB = Person("Bob Example", "bob@example.com")
CAROL = Person("Carol Example", "carol@example.com")
# Whoever the controller commits as (rollback --commit) when a test does not say.
RUNNER = Person("Test Runner", "runner@example.com")

START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
STEP = timedelta(hours=1)


def hermetic_env(home: Path) -> dict[str, str | None]:
    """Environment changes (None: unset) that make git ignore everything outside `home`."""
    changes: dict[str, str | None] = {name: None for name in os.environ if name.startswith("GIT_")}
    changes |= {"XDG_CONFIG_HOME": None, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    for role in ("AUTHOR", "COMMITTER"):
        changes[f"GIT_{role}_NAME"], changes[f"GIT_{role}_EMAIL"] = RUNNER
    return changes


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Make every git command of the test, and of the controller in-process, hermetic."""
    for name, value in hermetic_env(home).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def spec_text(declared: Mapping[str, Mapping[str, int]]) -> str:
    """A minimal valid aliases.yaml declaring exactly `declared`."""
    lines = ["models:"]
    for model, aliases in declared.items():
        lines += [f"  {model}:", "    aliases:" + ("" if aliases else " {}")]
        lines += [f"      {alias}: {version}" for alias, version in aliases.items()]
    return "\n".join(lines) + "\n"


class GitFailedError(AssertionError):
    def __init__(self, args: tuple[str, ...], stderr: bytes):
        super().__init__(f"git {' '.join(args)} failed: {stderr.decode(errors='replace')}")


@dataclass(frozen=True)
class Snapshot:
    """One commit for `GitRepo.fast_import`: the files it writes, whole."""

    message: str
    files: Mapping[str, str]
    author: Person = ALICE


class GitRepo:
    def __init__(self, root: Path, clock: datetime = START):
        self.root = root
        self.clock = clock

    @classmethod
    def init(cls, root: Path) -> GitRepo:
        root.mkdir(parents=True, exist_ok=True)
        repo = cls(root)
        repo.git("init", "--quiet", "--initial-branch=main")
        return repo

    def git(
        self,
        *args: str,
        stdin: bytes | None = None,
        when: datetime | None = None,
        person: Person | None = None,
        check: bool = True,
    ) -> str:
        """Run git in the repository; its output, stripped. Fails the test if git fails."""
        env = dict(os.environ)
        if person is not None:
            for role in ("AUTHOR", "COMMITTER"):
                env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = person
        if when is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
        done = subprocess.run(
            ["git", *args], cwd=self.root, input=stdin, capture_output=True, env=env, check=False
        )
        if check and done.returncode != 0:
            raise GitFailedError(args, done.stderr)
        return done.stdout.decode().strip()

    def tick(self, when: datetime | None = None) -> datetime:
        """The time of the next commit: `when`, or the clock's next hour."""
        self.clock = when or self.clock + STEP
        return self.clock

    def path(self, relative: str) -> Path:
        return self.root / relative

    def write(self, relative: str, content: str | bytes) -> Path:
        """Write a file byte for byte (str is UTF-8, line endings untouched)."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
        return target

    def commit(
        self,
        message: str,
        *,
        author: Person = ALICE,
        when: datetime | None = None,
        stage_all: bool = True,
    ) -> str:
        """Commit (by default everything in the worktree); the new commit's sha."""
        if stage_all:
            self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message, person=author, when=self.tick(when))
        return self.head()

    def head(self) -> str:
        return self.rev_parse("HEAD")

    def rev_parse(self, rev: str) -> str:
        return self.git("rev-parse", "--verify", f"{rev}^{{commit}}")

    def branch(self, name: str) -> None:
        """Create branch `name` at HEAD and switch to it."""
        self.git("switch", "--quiet", "--create", name)

    def checkout(self, name: str) -> None:
        self.git("switch", "--quiet", name)

    def merge(
        self, branch: str, message: str, *, author: Person = ALICE, when: datetime | None = None
    ) -> str:
        """Merge `branch` with a merge commit (--no-ff), as GitHub's merge button does."""
        when = self.tick(when)
        self.git("merge", "--quiet", "--no-ff", "-m", message, branch, person=author, when=when)
        return self.head()

    def revert(self, sha: str, *, author: Person = ALICE, when: datetime | None = None) -> str:
        self.git("revert", "--no-edit", sha, person=author, when=self.tick(when))
        return self.head()

    def mv(self, source: str, destination: str) -> None:
        (self.root / destination).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", source, destination)

    def clone(self, destination: Path, *, depth: int | None = None) -> GitRepo:
        """Clone over file:// (so --depth really makes a shallow clone)."""
        shallow = [f"--depth={depth}"] if depth is not None else []
        self.git("clone", "--quiet", *shallow, self.root.as_uri(), str(destination))
        return GitRepo(destination, self.clock)

    def fast_import(self, snapshots: Iterable[Snapshot], branch: str = "main") -> int:
        """Append commits to `branch` in one `git fast-import`; check them out; how many."""
        tip = self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        chunks: list[bytes] = []
        count = 0
        for count, snapshot in enumerate(snapshots, start=1):
            stamp = f"{int(self.tick().timestamp())} +0000"
            chunks += [
                f"commit refs/heads/{branch}\n".encode(),
                f"author {snapshot.author} {stamp}\n".encode(),
                f"committer {snapshot.author} {stamp}\n".encode(),
                _data(snapshot.message.encode()),
            ]
            if count == 1 and tip:
                chunks.append(f"from {tip}\n".encode())
            for relative, content in snapshot.files.items():
                chunks += [f"M 100644 inline {relative}\n".encode(), _data(content.encode())]
            chunks.append(b"\n")
        self.git("fast-import", "--quiet", "--done", stdin=b"".join([*chunks, b"done\n"]))
        self.git("reset", "--quiet", "--hard", branch)
        return count


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


def commit_spec(
    repo: GitRepo, declared: dict[str, dict[str, int]], message: str, file: str = "aliases.yaml"
) -> str:
    """Write `declared` as the repository's alias file and commit it."""
    repo.write(file, spec_text(declared))
    return repo.commit(message)
