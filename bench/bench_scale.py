"""aliasctl at scale, whole process, beside the floor measured in the same run.

N registered models x 2 versions x 2 aliases (champion, challenger), on SQLite directly and
through a local `mlflow server` (4 workers, MLflow's default) on the same kind of file:
- create plan: the registry has the models and versions, no aliases; the plan creates 2N;
- apply:       such a plan applied (2 alias sets plus the inventory records per model), at
               --apply-models (1000: one write costs 20-30 ms on 2 cores, 10,000 take an hour);
- no-op plan:  the registry as an apply leaves it (seeded with aliasctl's own Record).
Each `aliasctl` run is its console script in a subprocess, timed from outside. Its floor is
bench/scale_floor.py in a fresh process: `import mlflow` and the bare bulk reads aliasctl's
adapter makes (plus, for the apply, the bare alias writes at the same parallelism).

The seeded database (bulk SQL through MLflow's own ORM, seconds instead of an hour of REST
calls) is cached in bench/.cache/, keyed by N, the MLflow version and the record format.

    uv run --frozen python bench/bench_scale.py [--models 10000] [--apply-models 1000]
        [--only startup,create,apply,noop] [--backends sqlite,server] [--fresh] [--json out.json]

Exits 0 whether or not the targets are met (it is a benchmark), and 1 when aliasctl or a
floor reported an error or planned something other than expected.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import (  # noqa: E402 - bench/ is on sys.path when run as a script
    Failures,
    declared_state,
    load_average,
    model_name,
    wait_for_workers,
    write_spec,
)

from controller.apply import DEFAULT_PARALLELISM  # noqa: E402
from controller.core.state import RECORD_FORMAT, RECORD_TAG, Record  # noqa: E402
from tests.support.mlflow_server import MlflowServer  # noqa: E402

CACHE = REPO / "bench" / ".cache"
FLOOR = REPO / "bench" / "scale_floor.py"
ALIASCTL = Path(sys.executable).parent / "aliasctl"
SERVER_WORKERS = 4  # MLflow's default for `mlflow server`
SCENARIOS = ("startup", "create", "apply", "noop")
# Targets from the issue (part 5), at N=10,000.
TARGET_NOOP_RATIO = 1.5
TARGET_NOOP_SERVER_SECONDS = 5.0


@dataclass
class Row:
    backend: str  # "sqlite" or "server"
    scenario: str
    models: int
    aliasctl: float  # seconds, median of the runs
    floor: float
    runs: int
    floor_phases: dict[str, float] = field(default_factory=dict)
    load: str = ""

    @property
    def ratio(self) -> float:
        return self.aliasctl / self.floor if self.floor > 0 else 0.0


@dataclass
class Results:
    models: int
    apply_models: int
    mlflow_version: str
    python: str
    cpus: int | None
    load_before: str
    rows: list[Row] = field(default_factory=list)
    startup: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


# --- seeding -------------------------------------------------------------------------------


def cache_dir(models: int) -> Path:
    return CACHE / f"scale-{models}-mlflow-{mlflow.__version__}-record-{RECORD_FORMAT}"


def seed(path: Path, models: int, adopted: bool) -> None:
    """N models x 2 READY versions through MLflow's ORM in one session; `adopted`: also both
    aliases and the inventory record an apply from CI writes (aliasctl's own Record)."""
    from mlflow.store.model_registry.dbmodels.models import (  # noqa: PLC0415
        SqlModelVersion,
        SqlRegisteredModel,
        SqlRegisteredModelAlias,
        SqlRegisteredModelTag,
    )
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore  # noqa: PLC0415

    # Creates and migrates the schema.
    store: Any = SqlAlchemyStore(f"sqlite:///{path}")  # type: ignore[no-untyped-call]
    now = int(time.time() * 1000)
    aliases = {"champion": 1, "challenger": 2}
    record = Record(
        aliases,
        commit="0123456789abcdef0123456789abcdef01234567",
        applied_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        source={"file": "aliases.yaml", "ci": "github-actions", "actor": "release-bot",
                "repository": "example/models", "event": "push", "ref": "refs/heads/main"},
    ).encode()  # fmt: skip
    with store.ManagedSessionMaker() as session:
        for index in range(models):
            name = model_name(index)
            session.add(SqlRegisteredModel(name=name, creation_time=now, last_updated_time=now))
            session.add_all(
                SqlModelVersion(
                    name=name,
                    version=version,
                    creation_time=now,
                    last_updated_time=now,
                    # A remote-looking source: the REST API refuses local paths.
                    source=f"s3://bench/{name}/{version}",
                    status="READY",
                )
                for version in (1, 2)
            )
            if adopted:
                session.add_all(
                    SqlRegisteredModelAlias(name=name, alias=alias, version=version)
                    for alias, version in aliases.items()
                )
                session.add(SqlRegisteredModelTag(name=name, key=RECORD_TAG, value=record))
    store.engine.dispose()


def seeded_db(models: int, adopted: bool, fresh: bool) -> Path:
    """The cached database, seeded first when missing (or with --fresh)."""
    path = cache_dir(models) / ("adopted.db" if adopted else "bare.db")
    if fresh or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        print(f"seeding {path}")
        began = time.perf_counter()
        seed(partial, models, adopted)
        partial.rename(path)
        print(f"  {time.perf_counter() - began:.1f} s")
    return path


# --- running and timing ----------------------------------------------------------------------


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    return time.perf_counter() - began, done


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, failures: Failures):
        self.models: int = args.models
        self.apply_models: int = args.apply_models
        self.repeats: int = args.repeats
        self.fresh: bool = args.fresh
        self.work = work
        self.failures = failures
        self.specs: dict[int, Path] = {}
        for n in {self.models, self.apply_models}:
            self.specs[n] = work / f"aliases-{n}.yaml"
            write_spec(self.specs[n], declared_state(n, challenger=2))
        self.results = Results(
            models=self.models,
            apply_models=self.apply_models,
            mlflow_version=mlflow.__version__,
            python=platform.python_version(),
            cpus=os.cpu_count(),
            load_before=load_average(),
        )

    def aliasctl(self, command: str, uri: str, models: int, expect: tuple[int, str]) -> float:
        argv = [str(ALIASCTL), command, str(self.specs[models]), "--registry-uri", uri]
        if command == "plan":
            argv.append("--detailed-exitcode")
        seconds, done = timed(argv)
        output = done.stdout + done.stderr
        self.failures.check(
            done.returncode == expect[0] and expect[1] in output,
            f"aliasctl {command} on {uri}: exit {done.returncode}, wanted {expect[0]} and "
            f"{expect[1]!r}: {output[-400:]}",
        )
        return seconds

    def floor(self, mode: str, uri: str, models: int, parallelism: int = 1) -> Floor:
        argv = [sys.executable, str(FLOOR), mode, uri, str(models), "--parallelism"]
        seconds, done = timed([*argv, str(parallelism)])
        if done.returncode != 0:
            self.failures.check(False, f"floor {mode} on {uri}: {done.stderr[-400:]}")
            return Floor(seconds, {})
        body: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        counts = body["counts"]
        wanted = {"managed": models if mode == "noop" else 0}
        if mode != "noop":
            wanted |= {"by name": models, "versions": 2 * models}
        for key, value in wanted.items():
            self.failures.check(counts.get(key) == value, f"floor {mode}: {key} {counts}")
        return Floor(seconds, body["phases"])

    def compare(self, backend: str, mode: str, uri: str, expect: tuple[int, str]) -> None:
        """Median of `repeats` interleaved runs of the floor and of aliasctl plan."""
        print(f"{backend}: {mode} plan, {self.repeats} x (floor, aliasctl)")
        load = load_average()
        floors, ours = [], []
        for _ in range(self.repeats):
            floors.append(self.floor(mode, uri, self.models))
            ours.append(self.aliasctl("plan", uri, self.models, expect))
        # With an even number of runs the median is no run's: report the phases of the lower one.
        floor = sorted(floors, key=lambda f: f.seconds)[(self.repeats - 1) // 2]
        median = statistics.median(f.seconds for f in floors)
        self.add(Row(backend, f"{mode} plan", self.models, statistics.median(ours), median,
                     self.repeats, floor.phases, load))  # fmt: skip

    def apply(self, backend: str, uri: str, floor: Floor, load: str) -> None:
        n = self.apply_models
        print(f"{backend}: aliasctl apply ({2 * n} aliases)")
        ours = self.aliasctl("apply", uri, n, (0, f"Apply complete: {2 * n} applied."))
        self.add(Row(backend, "apply", n, ours, floor.seconds, 1, floor.phases, load))

    def add(self, row: Row) -> None:
        self.results.rows.append(row)
        print(f"  aliasctl {row.aliasctl:.2f} s, floor {row.floor:.2f} s ({row.ratio:.2f}x)")

    def copy(self, models: int, adopted: bool, name: str) -> Path:
        target = self.work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(seeded_db(models, adopted, self.fresh), target)
        return target

    # --- scenarios ---------------------------------------------------------------------------

    def startup(self) -> None:
        """`import mlflow` with the bytecode `make install` compiles, and from source (an empty
        pycache prefix, as a venv without bytecode under PYTHONDONTWRITEBYTECODE)."""
        print("start-up: import mlflow compiled / from source; aliasctl validate")
        empty = self.work / "no-pycache"
        empty.mkdir()
        source_env = {**os.environ, "PYTHONPYCACHEPREFIX": str(empty),
                      "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        compiled, source = [], []
        for _ in range(self.repeats):
            compiled.append(timed([sys.executable, "-c", "import mlflow"])[0])
            began = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import mlflow"], env=source_env, check=True)
            source.append(time.perf_counter() - began)
        spec = self.specs[self.models]
        validate = [timed([str(ALIASCTL), "validate", str(spec)]) for _ in range(self.repeats)]
        for _, done in validate:
            self.failures.check(done.returncode == 0, f"validate: {done.stderr[-300:]}")
        self.results.startup = {
            "import mlflow, compiled": statistics.median(compiled),
            "import mlflow, from source": statistics.median(source),
            f"aliasctl validate ({self.models} models)": statistics.median(s for s, _ in validate),
        }

    def sqlite(self, scenarios: set[str]) -> None:
        n, m = self.models, self.apply_models
        if "create" in scenarios:
            uri = f"sqlite:///{self.copy(n, adopted=False, name='sqlite-create.db')}"
            self.compare("sqlite", "create", uri, (2, creates(n)))
        if "apply" in scenarios:
            print(f"sqlite: apply floor ({2 * m} alias writes)")
            load = load_average()
            floor_uri = f"sqlite:///{self.copy(m, adopted=False, name='sqlite-floor.db')}"
            floor = self.floor("apply", floor_uri, m)
            uri = f"sqlite:///{self.copy(m, adopted=False, name='sqlite-apply.db')}"
            self.apply("sqlite", uri, floor, load)
        if "noop" in scenarios:
            uri = f"sqlite:///{self.copy(n, adopted=True, name='sqlite-noop.db')}"
            self.compare("sqlite", "noop", uri, (0, NO_CHANGES))

    def server(self, scenarios: set[str]) -> None:
        n, m = self.models, self.apply_models
        if "create" in scenarios:
            with self.started(self.copy(n, adopted=False, name="create/mlflow.db")) as uri:
                self.compare("server", "create", uri, (2, creates(n)))
        if "apply" in scenarios:
            load = load_average()
            with self.started(self.copy(m, adopted=False, name="floor/mlflow.db")) as uri:
                print(f"server: apply floor ({2 * m} alias writes)")
                floor = self.floor("apply", uri, m, DEFAULT_PARALLELISM)
            with self.started(self.copy(m, adopted=False, name="apply/mlflow.db")) as uri:
                self.apply("server", uri, floor, load)
        if "noop" in scenarios:
            with self.started(self.copy(n, adopted=True, name="noop/mlflow.db")) as uri:
                self.compare("server", "noop", uri, (0, NO_CHANGES))

    def started(self, db: Path) -> Running:
        return Running(MlflowServer(db.parent, workers=SERVER_WORKERS))


NO_CHANGES = "No changes."


def creates(models: int) -> str:
    return f"Plan: {2 * models} to create, 0 to update, 0 to delete."


@dataclass
class Floor:
    seconds: float
    phases: dict[str, float]


class Running:
    """A started server with every worker up and the database opened by each."""

    def __init__(self, server: MlflowServer):
        self.server = server

    def __enter__(self) -> str:
        print(f"starting mlflow server ({SERVER_WORKERS} workers)")
        self.server.start()
        wait_for_workers(self.server, SERVER_WORKERS)
        url = f"{self.server.uri}/api/2.0/mlflow/registered-models/search?max_results=5"

        def get(_: int) -> None:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - 127.0.0.1
                response.read()

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(get, range(32)))
        return self.server.uri

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


# --- report ----------------------------------------------------------------------------------


def report(results: Results) -> str:
    lines = [
        f"N={results.models} models x 2 versions x 2 aliases; mlflow {results.mlflow_version}, "
        f"Python {results.python}, {results.cpus} CPUs; server: {SERVER_WORKERS} workers, SQLite",
        f"load average before: {results.load_before}; after: {load_average()}",
    ]
    if results.startup:
        lines += [f"  {k:<36}{v:>8.2f} s" for k, v in results.startup.items()]
    lines.append(f"{'':32}{'aliasctl':>10}{'floor':>10}{'ratio':>9}   load average (runs)")
    for row in results.rows:
        lines.append(
            f"{row.backend:<8}{row.scenario:<12}{row.models:>7} models{row.aliasctl:>9.2f}s"
            f"{row.floor:>9.2f}s{row.ratio:>8.2f}x   {row.load} ({row.runs})"
        )
    lines.append("floor phases, seconds (whole process minus these: interpreter start and exit):")
    for r in results.rows:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in r.floor_phases.items())
        lines.append(f"  {r.backend} {r.scenario}: {phases}")
    noop = {r.backend: r for r in results.rows if r.scenario == "noop plan"}
    if noop:
        lines.append("targets:")
        for backend, row in noop.items():
            met = row.ratio <= TARGET_NOOP_RATIO
            lines.append(f"  {'met    ' if met else 'NOT met'}  {backend} no-op plan within "
                         f"{TARGET_NOOP_RATIO}x of the floor ({row.ratio:.2f}x)")  # fmt: skip
        if "server" in noop:
            row = noop["server"]
            met = row.aliasctl < TARGET_NOOP_SERVER_SECONDS
            floor_allows = row.floor < TARGET_NOOP_SERVER_SECONDS
            lines.append(
                f"  {'met    ' if met else 'NOT met'}  server no-op plan under "
                f"{TARGET_NOOP_SERVER_SECONDS:g} s ({row.aliasctl:.2f} s; the floor "
                f"{'allows it' if floor_allows else 'does not allow it'}: {row.floor:.2f} s)"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", type=int, default=10_000, help="registered models (10000)")
    parser.add_argument(
        "--apply-models",
        type=int,
        default=1000,
        help="registered models for the apply (1000): one write each costs ~10-30 ms",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per plan, median (3)")
    parser.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios of {','.join(SCENARIOS)} (all)",
    )
    parser.add_argument("--backends", default="sqlite,server", help="sqlite,server (both)")
    parser.add_argument("--fresh", action="store_true", help="re-seed instead of the cache")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.scenarios = set(args.only.split(","))
    args.backend_set = set(args.backends.split(","))
    if min(args.models, args.apply_models, args.repeats) < 1:
        parser.error("--models, --apply-models and --repeats must be at least 1")
    if args.scenarios - set(SCENARIOS) or args.backend_set - {"sqlite", "server"}:
        parser.error(f"--only takes {','.join(SCENARIOS)}; --backends takes sqlite,server")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failures = Failures()
    work = Path(tempfile.mkdtemp(prefix="aliasctl-scale-", dir="/tmp"))
    bench = Bench(args, work, failures)
    try:
        if "startup" in args.scenarios:
            bench.startup()
        if "sqlite" in args.backend_set:
            bench.sqlite(args.scenarios)
        if "server" in args.backend_set:
            bench.server(args.scenarios)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(report(bench.results))
    bench.results.errors = failures.items
    if args.json:
        args.json.write_text(json.dumps(asdict(bench.results), indent=2) + "\n")
    if failures.items:
        print(f"\nerrors ({len(failures.items)}); see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
