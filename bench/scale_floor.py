"""The floor of a plan or an apply at scale, run as a fresh process by bench_scale.py.

Exactly the bulk reads aliasctl's adapter makes (read_models and read_versions of
controller/registry/mlflow/adapter.py), on MLflow's registry client, and nothing else: no
alias file, no plan.

    python bench/scale_floor.py noop|create|apply URI MODELS [--parallelism P]

noop:   the `search_registered_models` pages with the record-tag filter.
create: those, plus the `name IN (...)` pages and the `search_model_versions` pages.
apply:  the create reads, then the alias writes alone (2 per model, `parallelism` at once).
Prints a JSON object of its phases' seconds on stdout; the caller times the whole process.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# As aliasctl does (registry/mlflow/connection.py): a pooled connection per writer.
os.environ.setdefault("MLFLOW_HTTP_POOL_MAXSIZE", "64")

import mlflow  # noqa: E402, F401 - timed on its own: the import is part of every process
from mlflow.tracking import MlflowClient  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The same page sizes and filters as the adapter (pure Python, no mlflow import).
from benchlib import model_name  # noqa: E402 - bench/ is on sys.path when run as a script

from controller.core.state import RECORD_TAG  # noqa: E402
from controller.registry.mlflow.search import (  # noqa: E402
    MODELS_PER_PAGE,
    VERSIONS_PER_PAGE,
    in_filters,
)

IMPORTED = time.perf_counter()


def pages(search: Any, filter_string: str, per_page: int) -> int:
    """Every page of one search; returns the number of results."""
    count = 0
    token = None
    while True:
        page = search(filter_string=filter_string, max_results=per_page, page_token=token)
        count += len(page)
        token = page.token
        if not token:
            return count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("noop", "create", "apply"))
    parser.add_argument("uri")
    parser.add_argument("models", type=int)
    parser.add_argument("--parallelism", type=int, default=1)
    args = parser.parse_args()
    names = [model_name(i) for i in range(args.models)]
    phases: dict[str, float] = {"import": IMPORTED - STARTED}
    counts: dict[str, int] = {}

    began = time.perf_counter()
    client: Any = MlflowClient(tracking_uri=args.uri, registry_uri=args.uri)
    registry = client._get_registry_client()
    phases["client"] = time.perf_counter() - began

    began = time.perf_counter()
    search = registry.search_registered_models
    counts["managed"] = pages(search, f"tags.`{RECORD_TAG}` LIKE '%'", MODELS_PER_PAGE)
    phases["search managed"] = time.perf_counter() - began

    if args.mode in {"create", "apply"}:
        began = time.perf_counter()
        counts["by name"] = sum(pages(search, f, MODELS_PER_PAGE) for f in in_filters(names))
        phases["search by name"] = time.perf_counter() - began
        began = time.perf_counter()
        versions = registry.search_model_versions
        counts["versions"] = sum(pages(versions, f, VERSIONS_PER_PAGE) for f in in_filters(names))
        phases["search versions"] = time.perf_counter() - began

    if args.mode == "apply":
        began = time.perf_counter()
        writes = [(n, a, v) for n in names for a, v in (("champion", "1"), ("challenger", "2"))]
        with ThreadPoolExecutor(max_workers=args.parallelism) as pool:
            list(pool.map(lambda w: registry.set_registered_model_alias(*w), writes))
        phases["alias writes"] = time.perf_counter() - began
        counts["writes"] = len(writes)

    print(json.dumps({"phases": phases, "counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
