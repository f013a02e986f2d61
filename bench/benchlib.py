"""Helpers the benchmarks share. Standard library only: scale_floor.py times its own imports."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

Declared = dict[str, dict[str, int]]


def model_name(index: int) -> str:
    return f"bench-model-{index:05d}"


def declared_state(models: int, challenger: int) -> Declared:
    return {model_name(i): {"champion": 1, "challenger": challenger} for i in range(models)}


def write_spec(path: Path, declared: Mapping[str, Mapping[str, int]]) -> None:
    lines = ["models:"]
    for name, aliases in declared.items():
        lines.append(f"  {name}:")
        lines.append("    aliases:")
        lines += [f"      {alias}: {version}" for alias, version in aliases.items()]
    path.write_text("\n".join(lines) + "\n")


class Failures:
    """Correctness problems of aliasctl: any one makes the benchmark exit 1."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.items.append(message)
            print(f"ERROR: {message}", file=sys.stderr)


def wait_for_workers(server: MlflowServer, workers: int) -> None:
    """MlflowServer returns once one worker answers; the others may still be importing mlflow,
    which would eat the CPU the first measurement runs on."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.log_path.read_text(errors="replace").count("Application startup complete") >= (
            workers
        ):
            return
        time.sleep(0.5)
    raise RuntimeError(f"not all {workers} server workers started")


def load_average() -> str:
    """Other processes on the machine skew every number: say how busy it was."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())
