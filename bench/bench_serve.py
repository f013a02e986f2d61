"""The cost of `aliasctl serve`'s webhook path, beside the naive way and the floor, in one run.

A local `mlflow server` holds N registered models x 2 aliases, all managed by the file (the
database bench_scale.py seeds and caches in bench/.cache/, with aliasctl's inventory record
on every model). Then:
- per event: an alias is moved by hand on one model, and the reconcile that heals it is
  timed: aliasctl's scoped cycle (what a webhook triggers), a full cycle on every event
  (a controller without scoping), and the floor: one get_registered_model plus one
  set_registered_model_alias. Median of --repeats, interleaved.
- a burst: --events webhook events naming --burst-models drifted models, arriving within
  the debounce window, through the real WorkQueue and Controller loop; against one scoped
  reconcile per event, in arrival order (a controller without debouncing).
Requests are counted from the server's access log (bench_reconcile.AccessLog).

    uv run --frozen python bench/bench_serve.py [--models 1000] [--repeats 5]
        [--events 200] [--burst-models 50] [--only per-event,burst] [--json out.json]

Exits 0 whatever the ratios (it is a benchmark), 1 when a reconcile did not heal the drift.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_reconcile import AccessLog, Measured, warm_up  # noqa: E402 - bench/ is on sys.path
from bench_scale import seeded_db  # noqa: E402
from benchlib import (  # noqa: E402
    Failures,
    declared_state,
    load_average,
    model_name,
    wait_for_workers,
    write_spec,
)

from controller.core.state import DEFAULT_INSTANCE  # noqa: E402
from controller.reconcile import DriftMode  # noqa: E402
from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: E402
from controller.serve.cycle import CycleReport, Settings, run_cycle  # noqa: E402
from controller.serve.loop import Controller  # noqa: E402
from controller.serve.status import CycleOutcome, EventKind, Snapshot  # noqa: E402
from tests.support.mlflow_server import MlflowServer  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterable

    from controller.serve.status import Event

DECLARED, MOVED = 1, 2  # champion as the file says, and where a hand moves it
ALIAS = "champion"
METHODS = ("aliasctl", "naive", "floor")


@dataclass
class PerEvent:
    seconds: float  # median
    requests: int  # of the median run
    by_endpoint: dict[str, int]
    runs: list[float] = field(default_factory=list)


@dataclass
class Burst:
    reconciles: int
    healed_seconds: float  # first event to the last model healed
    busy_seconds: float  # time spent reconciling
    requests: int


@dataclass
class Results:
    models: int
    repeats: int
    server_workers: int
    mlflow_version: str
    cpus: int | None
    events: int
    burst_models: int
    debounce: float
    arrival: float
    load_before: str = ""
    load_after: str = ""
    per_event: dict[str, PerEvent] = field(default_factory=dict)
    burst: dict[str, Burst] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, server: MlflowServer, spec: Path, args: argparse.Namespace) -> None:
        self.uri = server.uri
        self.log = AccessLog(server)
        self.registry = MlflowRegistry(server.uri)
        self.hand: Any = MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)
        self.settings = Settings(
            file=spec, instance=DEFAULT_INSTANCE, drift=DriftMode.HEAL, interval_seconds=300
        )
        self.args = args
        self.failures = Failures()
        self.snapshot = Snapshot(
            file=str(spec),
            registry=server.uri,
            instance=DEFAULT_INSTANCE,
            drift_mode=str(DriftMode.HEAL),
            interval_seconds=300,
            started_at=datetime.now(UTC),
        )

    def cycle(self, scope: frozenset[str] | None) -> CycleReport:
        report = run_cycle(self.settings, self.registry, self.snapshot, scope, datetime.now(UTC))
        self.snapshot = report.snapshot
        return report

    def move_by_hand(self, names: Iterable[str]) -> None:
        for name in names:
            self.hand.set_registered_model_alias(name, ALIAS, str(MOVED))

    def check_healed(self, names: list[str], what: str) -> None:
        live = self.registry.read_models(names).models
        wrong = [n for n in names if live[n].aliases.get(ALIAS) != DECLARED]
        self.failures.check(not wrong, f"{what}: {len(wrong)} models not healed: {wrong[:3]}")

    def check_report(self, report: CycleReport, name: str, what: str) -> None:
        outcome = report.snapshot.last_outcome
        self.failures.check(
            outcome is CycleOutcome.SUCCESS, f"{what}: {outcome} {report.snapshot.last_error}"
        )
        healed = {e.model for e in report.events if e.kind is EventKind.DRIFT_HEALED}
        self.failures.check(name in healed, f"{what}: no drift_healed event for {name}")

    def floor(self, name: str) -> None:
        model = self.hand.get_registered_model(name)
        if model.aliases.get(ALIAS) != DECLARED:
            self.hand.set_registered_model_alias(name, ALIAS, str(DECLARED))

    def heal_once(self, method: str, name: str) -> Measured:
        """Move `name`'s alias by hand, then time `method` putting it back."""
        self.move_by_hand([name])
        reports: list[CycleReport] = []

        def work() -> None:
            if method == "floor":
                self.floor(name)
            else:
                scope = frozenset({name}) if method == "aliasctl" else None
                reports.append(self.cycle(scope))

        measured = self.log.measure(work)
        for report in reports:
            self.check_report(report, name, f"per-event {method}")
        self.check_healed([name], f"per-event {method}")
        return measured

    def per_event(self) -> dict[str, PerEvent]:
        runs: dict[str, list[Measured]] = {method: [] for method in METHODS}
        # Interleaved, a fresh model each time: the machine's load hits all three alike.
        for repeat in range(self.args.repeats):
            for offset, method in enumerate(METHODS):
                name = model_name((repeat * len(METHODS) + offset) % self.args.models)
                runs[method].append(self.heal_once(method, name))
        results = {}
        for method, measured in runs.items():
            median = statistics.median(m.seconds for m in measured)
            middle = min(measured, key=lambda m: abs(m.seconds - median))
            results[method] = PerEvent(
                median, middle.requests, middle.by_endpoint, [m.seconds for m in measured]
            )
        return results

    def burst_events(self) -> tuple[list[str], list[str]]:
        """The drifted models, and the events naming them, each at least once, shuffled: MLflow
        sends one per alias write and per new version, and retries a delivery."""
        step = max(1, self.args.models // self.args.burst_models)
        names = [
            model_name((i * step + 1) % self.args.models) for i in range(self.args.burst_models)
        ]
        rng = random.Random(9)
        events = names + [rng.choice(names) for _ in range(self.args.events - len(names))]
        rng.shuffle(events)
        return names, events

    def burst_controller(self) -> Burst:
        names, events = self.burst_events()
        healed: set[str] = set()
        done = threading.Condition()
        cycles: list[float] = []

        def on_events(batch: Iterable[Event]) -> None:
            with done:
                healed.update(e.model for e in batch if e.kind is EventKind.DRIFT_HEALED if e.model)
                done.notify_all()

        def on_cycle(_snapshot: Snapshot, seconds: float) -> None:
            with done:
                cycles.append(seconds)
                done.notify_all()

        controller = Controller(
            self.settings,
            self.registry,
            debounce_seconds=self.args.debounce,
            on_cycle=on_cycle,
            on_events=on_events,
        )
        loop = threading.Thread(target=controller.run, name="controller", daemon=True)
        loop.start()
        try:
            with done:  # its first full reconcile starts at once: not part of the burst
                if not done.wait_for(lambda: len(cycles) >= 1, timeout=300):
                    raise RuntimeError("the controller's first reconcile never finished")
            first = len(cycles)
            self.move_by_hand(names)
            healed_at: list[float] = []

            def burst() -> None:
                began = time.perf_counter()
                gap = self.args.arrival / len(events)
                for index, name in enumerate(events):
                    # Paced arrivals, as deliveries come in; a benchmark's pacing, not a wait.
                    time.sleep(max(0.0, began + index * gap - time.perf_counter()))
                    # What MLflow's webhook says: the alias moved by hand, and to what.
                    controller.queue.request(name, (ALIAS, MOVED))
                with done:
                    if not done.wait_for(lambda: healed >= set(names), timeout=300):
                        raise RuntimeError(f"not healed: {sorted(set(names) - healed)[:3]}")
                healed_at.append(time.perf_counter() - began)

            measured = self.log.measure(burst)
            reconciles = cycles[first:]
        finally:
            controller.stop()
            loop.join(timeout=120)
        self.check_healed(names, "burst, aliasctl")
        return Burst(len(reconciles), healed_at[0], sum(reconciles), measured.requests)

    def burst_naive(self) -> Burst:
        names, events = self.burst_events()
        self.move_by_hand(names)
        healed_at: list[float] = []
        busy: list[float] = []

        def each_event() -> None:
            began = time.perf_counter()
            healed: set[str] = set()
            for name in events:
                started = time.perf_counter()
                report = self.cycle(frozenset({name}))
                busy.append(time.perf_counter() - started)
                healed.update(
                    e.model or "" for e in report.events if e.kind is EventKind.DRIFT_HEALED
                )
                if not healed_at and healed >= set(names):
                    healed_at.append(time.perf_counter() - began)

        measured = self.log.measure(each_event)
        self.check_healed(names, "burst, naive")
        self.failures.check(bool(healed_at), "burst, naive: not every model reported healed")
        return Burst(len(events), (healed_at or [0.0])[0], sum(busy), measured.requests)


def run(root: Path, args: argparse.Namespace, results: Results) -> list[str]:
    seeded = seeded_db(args.models, adopted=True, fresh=args.fresh)
    server = MlflowServer(root / "server", workers=args.workers)
    server.root.mkdir(parents=True)
    shutil.copyfile(seeded, server.root / "mlflow.db")  # the cache stays as seeded
    spec = root / "aliases.yaml"
    write_spec(spec, declared_state(args.models, challenger=2))  # what the seed applied
    # MLflow 3.x's job runner polls with half a dozen consumers; nothing here uses it.
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    print(f"starting mlflow server ({args.workers} workers) on {args.models} models")
    server.start()
    try:
        wait_for_workers(server, args.workers)
        warm_up(server.uri, 8)
        bench = Bench(server, spec, args)
        first = bench.cycle(None)  # the state every measurement starts from
        bench.failures.check(
            first.snapshot.last_outcome is CycleOutcome.SUCCESS and not first.events,
            f"first full cycle: {first.snapshot.last_outcome} {first.snapshot.last_error} "
            f"{[e.describe() for e in first.events][:3]}",
        )
        if "per-event" in args.only:
            print(f"per event: aliasctl, naive, floor, interleaved x {args.repeats}")
            results.per_event = bench.per_event()
        if "burst" in args.only:
            print(f"burst: {args.events} events for {args.burst_models} models, aliasctl's loop")
            results.burst["aliasctl"] = bench.burst_controller()
            print("burst: one scoped reconcile per event")
            results.burst["naive"] = bench.burst_naive()
        return bench.failures.items
    finally:
        server.stop()


def _x(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.1f}x" if denominator else "-"


def report(r: Results) -> str:
    rows = [
        f"N={r.models} models x 2 aliases, all managed; mlflow {r.mlflow_version} server "
        f"({r.server_workers} workers), 127.0.0.1, {r.cpus} CPUs",
        f"load average before: {r.load_before}; after: {r.load_after}",
        f"one webhook event (median of {r.repeats})  aliasctl     naive     floor"
        "   aliasctl/floor  naive/aliasctl",
    ]
    ours, naive, floor = (r.per_event.get(m) for m in METHODS)
    if ours and naive and floor:
        rows.append(
            f"{'  seconds':<34}{ours.seconds:>9.3f}{naive.seconds:>10.3f}{floor.seconds:>10.3f}"
            f"{_x(ours.seconds, floor.seconds):>17}{_x(naive.seconds, ours.seconds):>16}"
        )
        rows.append(
            f"{'  requests':<34}{ours.requests:>9}{naive.requests:>10}{floor.requests:>10}"
            f"{_x(ours.requests, floor.requests):>17}{_x(naive.requests, ours.requests):>16}"
        )
        rows.append(f"  aliasctl's requests: {_endpoints(ours)}")
        rows.append(f"  naive's requests:    {_endpoints(naive)}")
        rows.append(f"  floor's requests:    {_endpoints(floor)}")
    mine, each = r.burst.get("aliasctl"), r.burst.get("naive")
    if mine and each:
        rows += [
            f"burst: {r.events} events, {r.burst_models} models, over {r.arrival:g} s "
            f"(debounce {r.debounce:g} s)",
            f"{'':34}{'aliasctl':>9}{'per event':>10}{'ratio':>10}",
            f"{'  reconciles':<34}{mine.reconciles:>9}{each.reconciles:>10}"
            f"{_x(each.reconciles, mine.reconciles):>10}",
            f"{'  seconds reconciling':<34}{mine.busy_seconds:>9.2f}{each.busy_seconds:>10.2f}"
            f"{_x(each.busy_seconds, mine.busy_seconds):>10}",
            f"{'  seconds until all healed':<34}{mine.healed_seconds:>9.2f}"
            f"{each.healed_seconds:>10.2f}{_x(each.healed_seconds, mine.healed_seconds):>10}",
            f"{'  requests':<34}{mine.requests:>9}{each.requests:>10}"
            f"{_x(each.requests, mine.requests):>10}",
        ]
        if naive:
            rows.append(
                f"  a full cycle per event instead: ~{r.events * naive.seconds:.0f} s "
                f"({r.events} x the per-event naive median; not run)"
            )
    return "\n".join(rows)


def _endpoints(measured: PerEvent) -> str:
    short = {k.replace("/api/2.0/mlflow/", ""): v for k, v in measured.by_endpoint.items()}
    return ", ".join(f"{k} {v}" for k, v in sorted(short.items()))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", type=int, default=1000, help="registered models (1000)")
    parser.add_argument("--repeats", type=int, default=5, help="per-event repetitions (5)")
    parser.add_argument("--workers", type=int, default=2, help="mlflow server workers (2)")
    parser.add_argument("--events", type=int, default=200, help="webhook events in the burst")
    parser.add_argument("--burst-models", type=int, default=50, help="models they name (50)")
    parser.add_argument("--debounce", type=float, default=2.0, help="serve's --debounce (2)")
    parser.add_argument("--arrival", type=float, default=1.0, help="burst arrives over S (1)")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default={"per-event", "burst"},
        help="per-event,burst (both)",
    )
    parser.add_argument("--fresh", action="store_true", help="seed the cached database again")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.models < max(3 * args.repeats, args.burst_models) or args.repeats < 1:
        parser.error("--models must cover 3 x --repeats and --burst-models")
    if not args.only or args.only - {"per-event", "burst"}:
        parser.error("--only takes per-event, burst or both, comma-separated")
    if not 0 < args.burst_models <= args.events:
        parser.error("--events must name every one of --burst-models at least once")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    results = Results(
        models=args.models,
        repeats=args.repeats,
        server_workers=args.workers,
        mlflow_version=mlflow.__version__,
        cpus=os.cpu_count(),
        events=args.events,
        burst_models=args.burst_models,
        debounce=args.debounce,
        arrival=args.arrival,
        load_before=load_average(),
    )
    root = Path(tempfile.mkdtemp(prefix="aliasctl-bench-serve-", dir="/tmp"))
    try:
        results.errors = run(root, args, results)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results.load_after = load_average()
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")
    if results.errors:
        print(f"\naliasctl errors ({len(results.errors)}); see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
