"""The revert of an automatic rollback, on a branch for review: git stays the truth.

After analysis rolls an alias back in the registry, the file still names the failed
version (in an environment's file, the promotion that brought it: the revert names the
version already in that environment's registry instead, as `rollback --to` does). This
writes the one-line `rollback` edit as a commit on its own branch, built with git's
plumbing from HEAD, so the working tree, the index and the checked-out branch of the
checkout `serve` or CI runs in are never touched. Where a remote is reachable the branch
is pushed, for a pull request.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.desired.environment import FromSource
from controller.gitops.history import GitError, open_repo
from controller.gitops.rollback import RollbackError, replace_value

BRANCH_PREFIX = "aliasctl/rollback/"
# Used only where git has no identity configured (a bare CI runner or a container).
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "aliasctl",
    "GIT_AUTHOR_EMAIL": "aliasctl@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "aliasctl",
    "GIT_COMMITTER_EMAIL": "aliasctl@users.noreply.github.com",
}


@dataclass(frozen=True)
class RevertBranch:
    branch: str
    sha: str
    pushed: bool
    # Why the push did not happen, when it was asked for (no remote, refused, timed out).
    push_error: str | None = None
    # False when the branch already held this very revert (a re-run, a second pass).
    created: bool = True


def branch_name(model: str, alias: str, to_version: int, environment: str | None = None) -> str:
    """A ref name git accepts for any model name (Unity Catalog's dots, spaces, slashes);
    an environment's own folder, since staging and prod may both hold bikes@champion."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model}-{alias}").strip(".-")
    safe = re.sub(r"\.{2,}", ".", safe).removesuffix(".lock")
    folder = f"{environment}/" if environment else ""  # a name of [a-z0-9_-]: a valid ref
    return f"{BRANCH_PREFIX}{folder}{safe or 'model'}-v{to_version}"


def prepare_revert_branch(
    file: Path,
    model: str,
    alias: str,
    to_version: int,
    message: str,
    *,
    push: bool = True,
    remote: str = "origin",
    timeout: float = 30,
    environment: str | None = None,
    copied_from: str | None = None,
) -> RevertBranch:
    """Commit `model@alias: to_version` in `file` on a branch off HEAD; push it if asked.

    `copied_from`: the `aliasctl.copied_from` tag of the version gone back to. When the
    file promotes the alias and that version is a copy from the same source, the revert
    names it as the promotion it was (`{from: staging, version: 7}`), as `git revert`
    of the promotion would, so reviewers still see where it came from."""
    import git  # noqa: PLC0415 - gitpython is only needed by git-aware commands

    repo, relative = open_repo(file)
    try:
        head = repo.head.commit
        text = head.tree[relative].data_stream.read().decode("utf-8-sig")
    except (ValueError, KeyError):
        raise GitError(f"{file}: not committed at HEAD; nothing to revert") from None
    label = f"{relative} at HEAD"
    current = _declared(text, label, model, alias)
    if current == to_version:  # (a promotion never is: it is replaced by the version)
        raise RollbackError(f"{label} already declares {model}@{alias}: {to_version}")
    value = _as_promoted(current, model, copied_from) or to_version
    new_text = replace_value(text, label, model, alias, value)
    branch = branch_name(model, alias, to_version, environment)
    try:
        sha, created = _commit_on_branch(repo, relative, new_text, branch, message, head)
    except git.GitCommandError as error:
        raise GitError(f"could not write the revert branch {branch}: {_last_line(error)}") from None
    if not push:
        return RevertBranch(branch, sha, pushed=False, created=created)
    if remote not in [r.name for r in repo.remotes]:
        return RevertBranch(branch, sha, False, f"no remote named {remote!r}", created)
    try:
        repo.git.push(
            remote,
            f"refs/heads/{branch}:refs/heads/{branch}",
            "--force",
            kill_after_timeout=timeout,
        )
    except git.GitCommandError as error:
        return RevertBranch(branch, sha, False, f"git push failed: {_last_line(error)}", created)
    return RevertBranch(branch, sha, pushed=True, created=created)


def _declared(text: str, label: str, model: str, alias: str) -> int | FromSource:
    """The version the file names, or (an environment's file) where it is promoted from:
    the revert then replaces that promotion with the version already in this registry."""
    from controller.desired.spec import parse_spec  # noqa: PLC0415

    declared = parse_spec(text, label).spec.models.get(model)
    value = declared.aliases.get(alias) if declared else None
    if value is None:
        raise RollbackError(f"{label}: {model}@{alias} is not declared")
    return value


def _as_promoted(
    current: int | FromSource, model: str, copied_from: str | None
) -> FromSource | None:
    """The promotion the version gone back to was copied by (`staging#bikes/7`), when the
    file promotes the alias from that same environment and model; else None."""
    if not isinstance(current, FromSource) or not copied_from:
        return None
    source, _, number = copied_from.rpartition("/")
    environment, _, source_model = source.partition("#")
    if not number.isdigit() or environment != current.from_:
        return None
    if source_model != (current.model or model):
        return None
    return FromSource.model_validate(
        {"from": environment, "version": int(number), "model": current.model}
    )


def _commit_on_branch(
    repo: Any, relative: str, new_text: str, branch: str, message: str, head: Any
) -> tuple[str, bool]:
    """Write the commit with a private index; return its sha and whether it is new."""
    env = _identity(repo)
    with tempfile.TemporaryDirectory(prefix="aliasctl-revert-") as scratch:
        content = Path(scratch, "file")
        content.write_bytes(new_text.encode("utf-8"))
        blob = repo.git.hash_object("-w", "--path", relative, str(content))
        index = {"GIT_INDEX_FILE": str(Path(scratch, "index"))}
        repo.git.read_tree(head.hexsha, env=index)
        mode = f"{head.tree[relative].mode:o}"
        repo.git.update_index("--cacheinfo", f"{mode},{blob},{relative}", env=index)
        tree = repo.git.write_tree(env=index)
    existing = _branch_commit(repo, branch)
    if existing is not None and existing.tree.hexsha == tree and head in existing.parents:
        return str(existing.hexsha), False
    sha = str(repo.git.commit_tree(tree, "-p", head.hexsha, "-m", message, env=env))
    repo.git.update_ref(f"refs/heads/{branch}", sha)
    return sha, True


def _branch_commit(repo: Any, branch: str) -> Any:
    try:
        return repo.commit(f"refs/heads/{branch}")
    except Exception:  # noqa: BLE001 - gitpython raises several kinds for a missing ref
        return None


def _identity(repo: Any) -> dict[str, str]:
    """Git's own identity where configured, else aliasctl's (never a failed commit)."""
    reader = repo.config_reader()
    configured = reader.has_option("user", "email") and reader.has_option("user", "name")
    if configured or os.environ.get("GIT_AUTHOR_EMAIL"):
        return {}
    return FALLBACK_IDENTITY


def _last_line(error: Any) -> str:
    lines = str(error.stderr or error).strip().splitlines()
    last = lines[-1].strip().removeprefix("stderr: ").strip("'") if lines else "failed"
    return re.sub(r"://[^/@\s]+@", "://***@", last)  # a remote URL may carry a token
