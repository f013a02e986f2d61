"""What environments cost a plan: production's file with N promotions, beside the same file
with plain version numbers (the floor: one file's plan) and the naive resolution (a search
for each promotion's copy), in the same run.

One SQLite registry, a name per environment: N staging models at version 1 (`champion`),
N production models whose version 1 is a copy of staging's (tagged as apply tags it) and
holds `champion`, with aliasctl's own record, so every plan finds nothing to do. Times, in
one process after a warm-up, the median of --repeat runs:
- floor:    prod.yaml with `champion: 1` for every model, planned as one file;
- aliasctl: staging.yaml and prod.yaml (`champion: {from: staging, ...}`), prod planned
            as `aliasctl plan staging.yaml prod.yaml --environment prod` plans it;
- naive:    the same, each promotion's copy looked for by its own search (find_copy).

The seeded database is cached in bench/.cache/, keyed by N and the MLflow version.

    uv run --frozen python bench/bench_environments.py [--models 500] [--repeat 5]

Prints a table with ratios; asserts nothing about speed. Exits 1 when a plan is not empty
or a promotion does not resolve to its copy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import Failures, load_average  # noqa: E402

from controller.core.state import RECORD_FORMAT, RECORD_TAG, Record  # noqa: E402
from controller.desired.spec import load_spec  # noqa: E402
from controller.environments.files import load_environments  # noqa: E402
from controller.environments.registries import Registries, resolve_file  # noqa: E402
from controller.environments.resolve import resolve  # noqa: E402
from controller.reconcile import Options, prepare_plan  # noqa: E402
from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: E402
from controller.registry.seam import COPIED_FROM_TAG  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

CACHE = REPO / "bench" / ".cache"
INSTANCE = "prod"


def names(count: int) -> list[str]:
    return [f"bench-{i:05d}" for i in range(count)]


def seed(database: Path, count: int) -> None:
    """Staging's versions, their copies in prod (tagged), both champions, prod's record."""
    client = mlflow.MlflowClient(f"sqlite:///{database}")
    for name in names(count):
        staging, prod = f"{name}-staging", f"{name}-prod"
        client.create_registered_model(staging)
        client.create_model_version(staging, f"s3://bench/{staging}/1")
        client.set_registered_model_alias(staging, "champion", "1")
        client.create_registered_model(prod)
        tags = {COPIED_FROM_TAG: f"staging#{staging}/1"}
        client.create_model_version(prod, f"models:/{staging}/1", tags=tags)
        client.set_registered_model_alias(prod, "champion", "1")
        record = Record({"champion": 1}, INSTANCE, "bench", "2026-12-05T00:00:00Z")
        client.set_registered_model_tag(prod, RECORD_TAG, record.encode())


def database_for(count: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"environments-{count}-mlflow{mlflow.__version__}-r{RECORD_FORMAT}.db"
    if not cached.exists():
        started = time.monotonic()
        partial = cached.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        seed(partial, count)
        partial.rename(cached)
        print(f"seeded {count} x 2 models in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return cached


def write_files(root: Path, count: int) -> tuple[Path, Path, Path]:
    staging = ["environment: {name: staging}", "models:"]
    prod = [f"environment: {{name: prod, instance: {INSTANCE}}}", "models:"]
    plain = ["models:"]
    for name in names(count):
        staging += [f"  {name}-staging:", "    aliases: {champion: 1}"]
        promoted = f"{{from: staging, model: {name}-staging, alias: champion}}"
        prod += [f"  {name}-prod:", f"    aliases: {{champion: {promoted}}}"]
        plain += [f"  {name}-prod:", "    aliases: {champion: 1}"]
    paths = (root / "staging.yaml", root / "prod.yaml", root / "plain.yaml")
    for path, lines in zip(paths, (staging, prod, plain), strict=True):
        path.write_text("\n".join(lines) + "\n")
    return paths


def median_seconds(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    run()  # warm: imports, the ORM's first queries
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    failures = Failures()
    with tempfile.TemporaryDirectory(prefix="aliasctl-bench-") as scratch:
        root = Path(scratch)
        database = root / "mlflow.db"
        shutil.copy(database_for(args.models), database)
        uri = f"sqlite:///{database}"
        staging, prod, plain = write_files(root, args.models)

        def open_registry(_uri: str | None, instance: str) -> MlflowRegistry:
            return MlflowRegistry(uri, instance=instance)

        registry = open_registry(None, INSTANCE)
        plain_loaded = load_spec(plain)
        floor_options = replace(Options.for_spec(plain_loaded), instance=INSTANCE, evidence=False)

        def floor() -> Any:
            registry.forget_cached_reads()
            return prepare_plan(plain_loaded.spec.declared(), registry, floor_options)

        environments = load_environments([staging, prod])
        target = environments.files["prod"]
        options = replace(Options.for_spec(target.loaded), instance=INSTANCE, evidence=False)

        def planned(naive: bool) -> Callable[[], Any]:
            def run() -> Any:
                registries = Registries(environments, open_registry)
                registries._opened["prod"] = registry
                registries._opened["staging"] = registry
                registry.forget_cached_reads()
                if naive:  # a search per promotion, as before bulk copies
                    found = resolve(environments, "prod", registries.find_copy)
                    current = resolve_file(target, registries, found)
                else:
                    current = resolve_file(target, registries)
                plan = prepare_plan(current.loaded.spec.declared(), registry, options)
                return plan, current

            return run

        results: dict[str, float] = {}
        for label, run in (
            ("floor", floor),
            ("aliasctl", planned(False)),
            ("naive", planned(True)),
        ):
            seconds, outcome = median_seconds(run, args.repeat)
            results[label] = seconds
            plan = outcome[0] if isinstance(outcome, tuple) else outcome
            failures.check(
                not plan.changes and not plan.problems, f"{label}: the plan is not empty"
            )
            if isinstance(outcome, tuple):
                copies = [p.copy for p in outcome[1].promotions]
                failures.check(copies == [1] * args.models, f"{label}: a copy was not found")
    floor_seconds = results["floor"]
    print(f"plan of production with {args.models} promotions, SQLite, load {load_average()}")
    print(f"{'':10} {'seconds':>8} {'x floor':>8}")
    for label, seconds in results.items():
        print(f"{label:10} {seconds:8.3f} {seconds / floor_seconds:7.2f}x")
    print(f"naive / aliasctl: {results['naive'] / results['aliasctl']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"models": args.models, "seconds": results}, indent=2))
    return 1 if failures.items else 0


if __name__ == "__main__":
    raise SystemExit(main())
