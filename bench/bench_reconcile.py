"""Benchmark aliasctl's plan and apply against naive MlflowClient loops, on a real server.

Seeds N registered models x 3 versions directly in the server's SQLite file (fast,
no HTTP), adopts them with one aliasctl apply on that file (so every model carries
the inventory record), then starts a local `mlflow server` and measures, side by
side, a no-op plan and an apply of one alias move per model. Requests are counted
exactly from the server's access log, between two sentinel GET /health requests.

    uv run --frozen python bench/bench_reconcile.py [--models 1000] [--json out.json]

Exits 0 whether or not the speed targets are met (it is a benchmark), and 1 when
aliasctl reported an error or the registry does not hold the intended aliases.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.tracking import MlflowClient

# `tests` is not an installed package: import the server helper from the checkout.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import (  # noqa: E402 - bench/ is on sys.path when run as a script
    Declared,
    Failures,
    declared_state,
    model_name,
    wait_for_workers,
    write_spec,
)

from controller.apply import DEFAULT_PARALLELISM, ApplyResult, apply_plan  # noqa: E402
from controller.reconcile import prepare_plan  # noqa: E402
from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: E402
from tests.support.mlflow_server import MlflowServer  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

VERSIONS_PER_MODEL = 3
PLAN_REPEATS = 3  # odd, so the median is one of the runs
# Targets from the issue, at N=1000.
TARGET_PLAN_SPEEDUP = 50.0
TARGET_PLAN_REQUESTS = 5
TARGET_APPLY_SPEEDUP = 4.0

# One uvicorn access-log line per HTTP request, e.g.
#   INFO:     127.0.0.1:46058 - "GET /api/2.0/mlflow/registered-models/get?name=x HTTP/1.1" 200 OK
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>/api/\S*) HTTP/[\d.]+" (?P<status>\d{3})')


@dataclass
class Measured:
    seconds: float
    requests: int
    # Requests per endpoint ("POST /api/2.0/mlflow/registered-models/alias": 1000, ...).
    by_endpoint: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0


class AccessLog:
    """Counts the server's HTTP requests between two sentinel requests, from its access log."""

    def __init__(self, server: MlflowServer):
        self.server = server

    def _sentinel(self) -> str:
        token = uuid.uuid4().hex
        url = f"{self.server.uri}/health?bench={token}"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
            response.read()
        return token

    def _lines_until(self, token: str) -> list[str]:
        """The log up to the sentinel's line; uvicorn writes it as the response starts."""
        marker = f"bench={token} "
        deadline = time.monotonic() + 30
        while True:
            lines = self.server.log_path.read_text(errors="replace").splitlines()
            for index, line in enumerate(lines):
                if marker in line:
                    return lines[: index + 1]
            if time.monotonic() > deadline:
                raise RuntimeError(f"sentinel {token} never reached the server log")
            time.sleep(0.05)

    def measure(self, work: Callable[[], None]) -> Measured:
        start_token = self._sentinel()
        start_line = len(self._lines_until(start_token))
        began = time.perf_counter()
        work()
        seconds = time.perf_counter() - began
        # Every request of `work` got its response before this one was sent, so its
        # line is already in the log, above the sentinel's.
        section = self._lines_until(self._sentinel())[start_line:-1]
        by_endpoint: dict[str, int] = {}
        non_2xx = 0
        for line in section:
            match = ACCESS_LINE.search(line)
            if match is None:
                continue
            key = f"{match['method']} {match['path'].split('?')[0]}"
            by_endpoint[key] = by_endpoint.get(key, 0) + 1
            non_2xx += not match["status"].startswith("2")
        return Measured(seconds, sum(by_endpoint.values()), by_endpoint, non_2xx)


def seed(backend_uri: str, models: int, failures: Failures) -> dict[str, float]:
    """Models and versions straight into SQLite, then aliasctl's own first apply on that file."""
    timings: dict[str, float] = {}
    began = time.perf_counter()
    client: Any = MlflowClient(tracking_uri=backend_uri, registry_uri=backend_uri)
    client.search_registered_models(max_results=1)  # creates and migrates the schema
    timings["schema"] = time.perf_counter() - began

    began = time.perf_counter()
    for index in range(models):
        name = model_name(index)
        client.create_registered_model(name)
        for version in range(1, VERSIONS_PER_MODEL + 1):
            # A remote-looking source: the REST API refuses local paths, SQLite does not care.
            client.create_model_version(name, f"s3://bench/{name}/{version}")
    timings["models_and_versions"] = time.perf_counter() - began

    # Adoption: aliasctl creates both aliases and the inventory record on every model.
    began = time.perf_counter()
    declared = declared_state(models, challenger=2)
    registry = MlflowRegistry(backend_uri)
    plan = prepare_plan(declared, registry)
    failures.check(not plan.problems, f"seed plan problems: {plan.problems[:3]}")
    failures.check(len(plan.changes) == 2 * models, f"seed plan has {len(plan.changes)} changes")
    result = apply_plan(plan, declared, registry)
    failures.check(result.ok, f"seed apply failed: {_apply_errors(result)}")
    timings["first_apply"] = time.perf_counter() - began
    return timings


def _apply_errors(result: ApplyResult) -> list[str]:
    errors = [f"{r.change.key}: {r.error}" for r in result.failed]
    errors += list(result.record_errors)
    errors += [f"{c.key}: did not converge" for c in result.unconverged]
    return errors[:5]


def live_aliases(uri: str, names: list[str]) -> dict[str, dict[str, int]]:
    """Every model's aliases, read in bulk through the adapter."""
    observed = MlflowRegistry(uri).read_models(names)
    return {name: dict(model.aliases) for name, model in observed.models.items()}


def mismatches(live: Mapping[str, Mapping[str, int]], wanted: Declared) -> list[str]:
    return [
        f"{name}: {dict(live.get(name, {}))} != {aliases}"
        for name, aliases in wanted.items()
        if any(live.get(name, {}).get(alias) != v for alias, v in aliases.items())
    ]


def warm_up(uri: str, parallelism: int) -> None:
    """Reach every worker and open the database before anything is timed."""
    client: Any = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        list(pool.map(lambda _: client.search_registered_models(max_results=5), range(32)))


def health_latency_ms(server: MlflowServer, keep_alive: bool, samples: int = 21) -> float:
    """Median GET /health time, on one kept-alive connection or a new one each time.

    uvicorn with --workers > 1 leaves TCP_NODELAY off on Linux (Kludex/uvicorn#3149):
    on a kept-alive connection each response then waits ~40 ms for a delayed ACK, a
    cost a serial client pays in full and a parallel one overlaps.
    """
    timings = []
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for _ in range(samples + 1):  # the first request opens the connection: not counted
            if not keep_alive:
                connection.close()
            began = time.perf_counter()
            connection.request("GET", "/health")
            connection.getresponse().read()
            timings.append(1000 * (time.perf_counter() - began))
    finally:
        connection.close()
    return statistics.median(timings[1:])


def run_cli_plan(spec: Path, uri: str) -> tuple[float, int, str]:
    began = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "controller", "plan", str(spec), "--registry-uri", uri],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - began, process.returncode, process.stdout + process.stderr


@dataclass
class Results:
    models: int
    aliases_per_model: int
    server_workers: int
    parallelism: int
    cpus: int | None
    mlflow_version: str
    # Other processes on the machine skew every number: say how busy it was.
    load_average: list[float] = field(default_factory=list)
    seed_seconds: dict[str, float] = field(default_factory=dict)
    plan_ours: Measured | None = None
    plan_naive: Measured | None = None
    plan_cli: Measured | None = None
    apply_ours: Measured | None = None
    apply_ours_plan_seconds: float = 0.0
    apply_naive: Measured | None = None
    # GET /health on a kept-alive connection and on a new one.
    health_ms: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class Session:
    """Everything the measured sections share, once the server is up."""

    uri: str
    log: AccessLog
    ours: MlflowRegistry
    naive: Any  # MlflowClient, the public client a script would use
    names: list[str]
    before: Declared  # what the registry holds after seeding: challenger -> 2
    after: Declared  # the apply's target: challenger -> 3
    spec: Path  # `before` as aliases.yaml, for the CLI
    parallelism: int
    results: Results
    failures: Failures


def measure_noop_plan(s: Session) -> None:
    print(f"no-op plan: aliasctl (median of {PLAN_REPEATS})")
    plans: list[Any] = []
    # A fraction of a second is at the mercy of the scheduler: take the median of a few.
    runs = [
        s.log.measure(lambda: plans.append(prepare_plan(s.before, s.ours)))
        for _ in range(PLAN_REPEATS)
    ]
    median = statistics.median(run.seconds for run in runs)
    s.results.plan_ours = next(run for run in runs if run.seconds == median)
    for plan in plans:
        s.failures.check(not plan.problems, f"no-op plan problems: {plan.problems[:3]}")
        s.failures.check(
            not plan.changes and not plan.stale_records,
            f"no-op plan is not empty: {len(plan.changes)} changes",
        )
    s.failures.check(
        len({run.requests for run in runs}) == 1,
        f"no-op plans made different numbers of requests: {[r.requests for r in runs]}",
    )

    print("no-op plan: naive get_registered_model + get_model_version loop")
    differing: list[str] = []

    def naive_check() -> None:
        for name, aliases in s.before.items():
            model = s.naive.get_registered_model(name)
            for alias, version in aliases.items():
                s.naive.get_model_version(name, str(version))
                if str(model.aliases.get(alias)) != str(version):
                    differing.append(f"{name}@{alias}")

    s.results.plan_naive = s.log.measure(naive_check)
    s.failures.check(not differing, f"naive check found differences: {differing[:3]}")

    print("no-op plan: CLI subprocess (whole process, including import mlflow)")
    cli: list[tuple[float, int, str]] = []
    s.results.plan_cli = s.log.measure(lambda: cli.append(run_cli_plan(s.spec, s.uri)))
    s.results.plan_cli.seconds, code, output = cli[0]
    s.failures.check(code == 0, f"CLI plan exited {code}: {output[-500:]}")


def measure_apply(s: Session) -> None:
    """Move challenger 2 -> 3 on every model with aliasctl, then back with a naive loop."""
    print(f"apply: aliasctl (parallelism {s.parallelism})")
    applied: list[Any] = []

    def our_apply() -> None:
        began = time.perf_counter()
        plan = prepare_plan(s.after, s.ours)
        s.results.apply_ours_plan_seconds = time.perf_counter() - began
        applied.append(plan)
        applied.append(apply_plan(plan, s.after, s.ours, parallelism=s.parallelism))

    s.results.apply_ours = s.log.measure(our_apply)
    plan, result = applied
    s.failures.check(not plan.problems, f"apply plan problems: {plan.problems[:3]}")
    s.failures.check(
        len(plan.changes) == len(s.names), f"apply plan has {len(plan.changes)} changes"
    )
    s.failures.check(result.ok, f"apply failed: {_apply_errors(result)}")
    wrong = mismatches(live_aliases(s.uri, s.names), s.after)
    s.failures.check(not wrong, f"{len(wrong)} models differ after apply: {wrong[:3]}")

    # The same amount of alias work, the way a script would: one model at a time.
    print("apply: naive serial MlflowClient.set_registered_model_alias loop")

    def naive_apply() -> None:
        for name in s.names:
            s.naive.set_registered_model_alias(name, "challenger", "2")

    s.results.apply_naive = s.log.measure(naive_apply)
    wrong = mismatches(live_aliases(s.uri, s.names), s.before)
    if wrong:  # not aliasctl's failure, but the comparison would be void
        print(f"warning: the naive loop left {len(wrong)} models differing", file=sys.stderr)


def bench(root: Path, args: argparse.Namespace, failures: Failures) -> Results:
    models: int = args.models
    results = Results(
        models=models,
        aliases_per_model=2,
        server_workers=args.workers,
        parallelism=args.parallelism,
        cpus=os.cpu_count(),
        mlflow_version=mlflow.__version__,
        load_average=[round(x, 2) for x in os.getloadavg()],
    )
    server = MlflowServer(root / "server", workers=args.workers)
    server.root.mkdir(parents=True, exist_ok=True)
    print(f"seeding {models} models x {VERSIONS_PER_MODEL} versions in {server.backend_uri}")
    results.seed_seconds = seed(server.backend_uri, models, failures)
    print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in results.seed_seconds.items()))
    if failures.items:
        return results
    before = declared_state(models, challenger=2)
    spec = root / "aliases.yaml"
    write_spec(spec, before)

    # MLflow 3.x also starts a job runner (half a dozen huey consumers that poll): on a
    # 2-core machine they take CPU from the server and the client, and nothing here uses them.
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    print(f"starting mlflow server ({args.workers} workers)")
    began = time.perf_counter()
    try:
        server.start()
        wait_for_workers(server, args.workers)
        print(f"  ready in {time.perf_counter() - began:.1f} s at {server.uri}")
        warm_up(server.uri, args.parallelism)
        results.health_ms = {
            "keep_alive": health_latency_ms(server, keep_alive=True),
            "new_connection": health_latency_ms(server, keep_alive=False),
        }
        session = Session(
            uri=server.uri,
            log=AccessLog(server),
            ours=MlflowRegistry(server.uri),
            naive=MlflowClient(tracking_uri=server.uri, registry_uri=server.uri),
            names=[model_name(i) for i in range(models)],
            before=before,
            after=declared_state(models, challenger=3),
            spec=spec,
            parallelism=args.parallelism,
            results=results,
            failures=failures,
        )
        measure_noop_plan(session)
        measure_apply(session)
    finally:
        server.stop()
    return results


def _ratio(naive: Measured | None, ours: Measured | None) -> float:
    if naive is None or ours is None or ours.seconds <= 0:
        return 0.0
    return naive.seconds / ours.seconds


def evaluate(results: Results) -> None:
    """Fill in which of the issue's targets this run met."""
    ours_plan, ours_apply = results.plan_ours, results.apply_ours
    if ours_plan is None or ours_apply is None:
        return
    plan_ratio = _ratio(results.plan_naive, ours_plan)
    apply_ratio = _ratio(results.apply_naive, ours_apply)
    results.ratios = {"plan": round(plan_ratio, 2), "apply": round(apply_ratio, 2)}
    results.targets = {
        f"no-op plan >= {TARGET_PLAN_SPEEDUP:g}x faster": plan_ratio >= TARGET_PLAN_SPEEDUP,
        f"no-op plan <= {TARGET_PLAN_REQUESTS} requests": ours_plan.requests
        <= TARGET_PLAN_REQUESTS,
        f"apply >= {TARGET_APPLY_SPEEDUP:g}x faster": apply_ratio >= TARGET_APPLY_SPEEDUP,
    }


def report(results: Results) -> str:
    rows = [
        f"N={results.models} models x {results.aliases_per_model} aliases, mlflow "
        f"{results.mlflow_version} server ({results.server_workers} workers), 127.0.0.1, "
        f"{results.cpus} CPUs, apply parallelism {results.parallelism}",
        f"load average before: {' '.join(f'{x:.1f}' for x in results.load_average)}; "
        f"after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"{'':26}{'aliasctl':>10}{'naive':>10}{'ratio':>10}",
    ]
    for label, ours, naive in (
        ("no-op plan", results.plan_ours, results.plan_naive),
        ("apply", results.apply_ours, results.apply_naive),
    ):
        if ours is None or naive is None:
            continue
        rows.append(f"{label:<12}{'seconds':<14}{ours.seconds:>10.2f}{naive.seconds:>10.2f}")
        rows[-1] += f"{_ratio(naive, ours):>9.1f}x"
        rows.append(f"{'':<12}{'requests':<14}{ours.requests:>10}{naive.requests:>10}")
    if results.plan_cli is not None:
        rows.append(
            f"no-op plan via CLI (whole process): {results.plan_cli.seconds:.1f} s, "
            f"{results.plan_cli.requests} requests"
        )
    ours, naive = results.apply_ours, results.apply_naive
    if ours is not None and naive is not None and ours.requests and naive.requests:
        rows += [
            f"apply, aliasctl: {ours.requests / ours.seconds:.0f} requests/s "
            f"(plan reads {results.apply_ours_plan_seconds:.2f} s; {_endpoints(ours)})",
            f"apply, naive: {1000 * naive.seconds / naive.requests:.0f} ms per request, serial "
            f"({_endpoints(naive)})",
        ]
    if results.health_ms:
        rows.append(
            f"GET /health: {results.health_ms['keep_alive']:.1f} ms on a kept-alive connection, "
            f"{results.health_ms['new_connection']:.1f} ms on a new one"
            + (
                " (delayed-ACK stall: uvicorn --workers > 1 leaves TCP_NODELAY off, "
                "Kludex/uvicorn#3149)"
                if results.health_ms["keep_alive"] > 20
                else ""
            )
        )
    for label, measured in (
        ("aliasctl no-op plan", results.plan_ours),
        ("naive no-op plan", results.plan_naive),
        ("aliasctl apply", results.apply_ours),
        ("naive apply", results.apply_naive),
    ):
        if measured is not None and measured.non_2xx:
            rows.append(f"{label}: {measured.non_2xx} requests answered with an error status")
    rows.append("")
    note = "" if results.models == 1000 else " (targets are set for N=1000)"
    rows.append(f"targets{note}:")
    rows += [
        f"  {'met    ' if met else 'NOT met'}  {name}" for name, met in results.targets.items()
    ]
    return "\n".join(rows)


def _endpoints(measured: Measured) -> str:
    short = {k.replace("/api/2.0/mlflow/", ""): v for k, v in measured.by_endpoint.items()}
    return ", ".join(f"{k} {v}" for k, v in sorted(short.items()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", type=int, default=1000, help="registered models (1000)")
    parser.add_argument("--workers", type=int, default=2, help="mlflow server workers (2)")
    parser.add_argument(
        "--parallelism",
        type=int,
        default=DEFAULT_PARALLELISM,
        help=f"aliasctl apply parallelism ({DEFAULT_PARALLELISM})",
    )
    parser.add_argument("--keep", type=Path, help="scratch directory to keep (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.models < 1:
        parser.error("--models must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Thousands of "waiting for model version" lines while seeding say nothing.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    root = args.keep or Path(tempfile.mkdtemp(prefix="aliasctl-bench-", dir="/tmp"))
    if args.keep:
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            print(f"--keep {root}: directory is not empty", file=sys.stderr)
            return 1
    failures = Failures()
    try:
        results = bench(root, args, failures)
    finally:
        if args.keep:
            print(f"kept {root} (server log: {root / 'server' / 'server.log'})")
        else:
            shutil.rmtree(root, ignore_errors=True)
    evaluate(results)
    print()
    print(report(results))
    results.errors = failures.items
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")
    if failures.items:
        print(f"\naliasctl errors ({len(failures.items)}); see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
