"""The demo's shell: each step printed like a prompt, run in .demo/, its exit code checked."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".demo"
REPO = WORKDIR / "repo"
SPEC = "repo/aliases.yaml"  # relative to WORKDIR, where aliasctl runs
MODEL = "bikes"


class DemoError(Exception):
    """A step did not go as the story expects."""


def step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def run(argv: list[str], shown: list[str], expect: int = 0) -> None:
    """Print `shown` like a shell prompt, run `argv` in WORKDIR, insist on the exit code."""
    print(f"$ {shlex.join(shown)}", flush=True)
    code = subprocess.run(argv, cwd=WORKDIR, check=False).returncode
    if code != expect:
        raise DemoError(f"`{shlex.join(shown)}` exited {code}, expected {expect}")


def git(*args: str) -> None:
    run(["git", "-C", "repo", *args], ["git", "-C", "repo", *args])


def aliasctl(*args: str, expect: int = 0) -> None:
    # `-m controller` runs the CLI of this very venv, whatever is on PATH.
    run([sys.executable, "-m", "controller", *args], ["aliasctl", *args], expect)


def promote(version: int) -> None:
    """Point champion at `version` by editing one line, as a person would in a pull request."""
    path = REPO / "aliases.yaml"
    text, count = re.subn(
        r"^(\s*champion:\s*)\d+", rf"\g<1>{version}", path.read_text(encoding="utf-8"), flags=re.M
    )
    if count != 1:
        raise DemoError(f"expected one `champion:` line in {path}, found {count}")
    path.write_text(text, encoding="utf-8")
    print(f"(edit repo/aliases.yaml: champion -> {version})")
    git("--no-pager", "diff", "--unified=0")
    git("commit", "--quiet", "-am", f"Promote {MODEL} v{version} to champion")


def registry_says(client: MlflowClient, version: int, how: str, model: str = MODEL) -> None:
    live = int(client.get_model_version_by_alias(model, "champion").version)
    if live != version:
        raise DemoError(f"{model}@champion is on version {live}, expected {version}")
    print(f"(registry: {model}@champion -> version {live}, {how})")
