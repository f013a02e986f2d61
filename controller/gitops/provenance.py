"""Where an apply came from: git commit of the file and CI context, for the audit stamp."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from controller.core.ci import ci_context
from controller.core.state import Stamp, utc_text
from controller.gitops.history import GitError, open_repo

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


def make_stamp(
    file: Path, env: Mapping[str, str], now: datetime | None = None, break_glass: str | None = None
) -> Stamp:
    moment = utc_text(now or datetime.now(UTC))
    commit, git_note = _commit_of(file)
    source = {"file": file.name}
    if git_note:
        source["git"] = git_note
    source.update(ci_context(env))
    if break_glass is not None:  # why production moved outside its windows or in a freeze
        source["break_glass"] = break_glass
    return Stamp(commit=commit, applied_at=moment, source=source)


def actor(env: Mapping[str, str]) -> str:
    """Who runs aliasctl, for a hand-made record (a released hold): the GitHub actor in
    Actions, else the OS user."""
    if name := env.get("GITHUB_ACTOR", "").strip():
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a uid with no passwd entry (some containers)
        return "unknown"


def _commit_of(file: Path) -> tuple[str | None, str | None]:
    """HEAD's SHA, and a note when the applied file is not exactly what HEAD holds."""
    try:
        repo, relative = open_repo(file)
    except GitError:
        return None, "not a git repository: no commit to record"
    if not repo.head.is_valid():
        return None, "no commits yet"
    sha = str(repo.head.commit.hexsha)
    dirty = repo.git.status("--porcelain", "--", relative).strip()
    if dirty:
        return sha, f"{relative} has uncommitted changes: applied content is not {sha[:7]}"
    return sha, None
