"""Benchmark `aliasctl history` against a naive per-commit `git show` loop, in the same run.

Builds a throwaway repository with N commits touching aliases.yaml (M models x 3
aliases, one alias moved per commit) plus one unrelated commit every 10, with
`git fast-import`, then times:
- `read_timeline()` in-process (one `git log`, one persistent `git cat-file`),
- the naive approach: `git log --format=%H -- FILE`, then for each commit
  `git show SHA:FILE` as a subprocess, `yaml.safe_load` and a dict diff,
- the whole process `python -m controller history FILE -o json`.

    .venv/bin/python bench/bench_history.py [--commits 2000] [--models 20]

Prints a table and asserts nothing about speed. Exits 1 only when the two
in-process approaches disagree on the revisions or the final state.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

# `tests` is not an installed package: import the git helper from the checkout.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from controller.gitops.history import read_timeline  # noqa: E402
from tests.support.gitrepo import BOB, GitRepo, Snapshot, hermetic_env, spec_text  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

State = dict[str, dict[str, int]]
FILE = "aliases.yaml"
ALIASES = ["champion", "challenger", "canary"]
UNRELATED_EVERY = 10
T = TypeVar("T")


def snapshots(commits: int, models: int) -> Iterator[Snapshot]:
    """`commits` revisions of the alias file, each moving one alias, plus unrelated commits."""
    names = [f"model-{n:03d}" for n in range(models)]
    state: State = {model: dict.fromkeys(ALIASES, 1) for model in names}
    for n in range(1, commits + 1):
        model = names[n % models]
        alias = ALIASES[(n // models) % len(ALIASES)]
        state[model][alias] += 1
        yield Snapshot(
            f"Promote {model}@{alias} to {state[model][alias]}", {FILE: spec_text(state)}
        )
        if n % UNRELATED_EVERY == 0:
            yield Snapshot("Unrelated change", {"README.md": f"revision {n}\n"}, author=BOB)


def build(root: Path, commits: int, models: int) -> GitRepo:
    repo = GitRepo.init(root)
    repo.fast_import(snapshots(commits, models))
    return repo


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def naive(repo: GitRepo) -> tuple[int, int, State]:
    """What a script would do: one `git show` per revision. (revisions, changes, final state)"""
    shas = repo.git("log", "--format=%H", "--", FILE).split()
    previous: State = {}
    changes = 0
    for sha in reversed(shas):
        shown = subprocess.run(
            ["git", "show", f"{sha}:{FILE}"], cwd=repo.root, capture_output=True, check=True
        )
        data: Any = yaml.safe_load(shown.stdout)
        state: State = {m: dict(spec["aliases"]) for m, spec in data["models"].items()}
        for model in previous.keys() | state.keys():
            before, after = previous.get(model, {}), state.get(model, {})
            changes += sum(1 for a in before.keys() | after.keys() if before.get(a) != after.get(a))
        previous = state
    return len(shas), changes, previous


def timed(action: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--commits", type=positive, default=2000, help="revisions of aliases.yaml")
    parser.add_argument("--models", type=positive, default=20, help="models in aliases.yaml")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        for name, value in hermetic_env(Path(tmp)).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        build_seconds, repo = timed(lambda: build(Path(tmp) / "repo", args.commits, args.models))
        file = repo.path(FILE)
        total = int(repo.git("rev-list", "--count", "HEAD"))
        lines = len(file.read_text().splitlines())
        print(f"{args.commits} revisions of a {lines}-line {FILE} ({args.models} models)")
        print(f"{total} commits in all, built with git fast-import in {build_seconds:.2f} s")

        importlib.import_module("git")  # read_timeline imports it lazily: not part of the timing
        ours_seconds, timeline = timed(lambda: read_timeline(file))
        naive_seconds, (naive_revisions, naive_changes, naive_state) = timed(lambda: naive(repo))
        command = [sys.executable, "-m", "controller", "history", str(file), "-o", "json"]
        cli_seconds, cli = timed(
            lambda: subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
        )

    our_changes = sum(len(entry.changes) for entry in timeline.entries)
    cli_entries = len(json.loads(cli.stdout)["entries"]) if cli.returncode == 0 else "error"
    rows = [
        ("aliasctl read_timeline (in-process)", ours_seconds, len(timeline.entries), our_changes),
        ("naive: git show per commit + safe_load", naive_seconds, naive_revisions, naive_changes),
        ("python -m controller history -o json", cli_seconds, cli_entries, "-"),
    ]
    print(f"\n{'approach':<42} {'seconds':>8} {'revisions':>10} {'changes':>8} {'vs ours':>8}")
    for name, seconds, revisions, changes in rows:
        ratio = f"{seconds / ours_seconds:.1f}x"
        print(f"{name:<42} {seconds:>8.3f} {revisions!s:>10} {changes!s:>8} {ratio:>8}")

    agree = (len(timeline.entries), our_changes, timeline.entries[-1].state) == (
        naive_revisions,
        naive_changes,
        naive_state,
    )
    if cli.returncode != 0:
        print(f"\naliasctl history failed: {cli.stderr.strip()}")
    if not agree:
        print("\nthe two approaches disagree on the revisions or the final state")
    return 0 if agree and cli.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
