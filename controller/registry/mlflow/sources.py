"""What stands behind a model version in MLflow: its source run and its logged model.

Read for the gates (metrics, signatures) and for the plan's evidence, each run and
each MLmodel at most once per registry object, in parallel and bounded by the
adapter. `verify` loads a version for real, in a child process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.core.evidence import RunFacts, SignatureFacts, clip
from controller.core.signature import Signature
from controller.errors import RegistryError
from controller.registry.mlflow.entities import run_facts, schema_fields
from controller.registry.seam import LoggedModel

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable


# Run ids per `search_runs` (one `attributes.run_id IN (...)` filter, one page of answers).
RUNS_PER_SEARCH = 100
# Past this many experiments the bulk search names too many: one `get_run` a run instead.
MAX_SEARCHED_EXPERIMENTS = 500
_RUN_ID = re.compile(r"^[0-9a-zA-Z]+$")  # safe inside the filter's quotes


class SourceReads:
    def __init__(
        self,
        uri: str,
        tracking: Any,
        translate: Callable[[Exception], RegistryError],
        parallel: Callable[[Callable[[str], Any], Iterable[str]], dict[str, Any]],
    ) -> None:
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        self._uri = uri
        self._tracking = tracking
        self._translate = translate
        self._parallel = parallel
        self._mlflow_error: type[Exception] = MlflowException
        self._lock = threading.Lock()
        self._runs: dict[str, Any] = {}  # run id -> run (None: gone), read at most once
        self._model_infos: dict[tuple[str, int], Any] = {}  # (model, version) -> MLmodel info
        self._bulk_runs = True  # False once a server refuses the bulk search: get_run each

    def forget(self) -> None:
        with self._lock:
            self._runs.clear()
            self._model_infos.clear()

    def _run(self, run_id: str) -> Any:
        """One source run, read once (gates and evidence share it); None if gone."""
        with self._lock:
            if run_id in self._runs:
                return self._runs[run_id]
        try:
            run = self._tracking.get_run(run_id)
        except self._mlflow_error as error:
            if getattr(error, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
                raise self._translate(error) from None
            run = None
        with self._lock:
            self._runs[run_id] = run
        return run

    def runs(self, run_ids: Collection[str]) -> dict[str, RunFacts]:
        """Source runs with their latest metrics; a gone run is absent. Read in bulk (pages of
        `search_runs`) where the server allows, then one `get_run` for each not found that way
        (gone, or a server that refuses the search), in parallel (bounded)."""
        with self._lock:
            missing = sorted(r for r in set(run_ids) if r not in self._runs)
        if len(missing) > 1 and self._bulk_runs:
            self._search_runs([r for r in missing if _RUN_ID.match(r)])
        runs = self._parallel(self._run, run_ids)
        return {run_id: run_facts(run) for run_id, run in runs.items() if run is not None}

    def _search_runs(self, run_ids: list[str]) -> None:
        """Remember every run found by `search_runs` over all experiments (deleted ones too)."""
        from mlflow.entities import ViewType  # noqa: PLC0415

        try:
            experiments = self._experiment_ids()
            if not experiments or len(experiments) > MAX_SEARCHED_EXPERIMENTS:
                self._bulk_runs = False
                return
            pages = {
                str(i): run_ids[i : i + RUNS_PER_SEARCH]
                for i in range(0, len(run_ids), RUNS_PER_SEARCH)
            }

            def search(key: str) -> list[Any]:
                quoted = ", ".join(f"'{r}'" for r in pages[key])
                return list(
                    self._tracking.search_runs(
                        experiments,
                        f"attributes.run_id IN ({quoted})",
                        run_view_type=ViewType.ALL,
                        max_results=len(pages[key]),
                    )
                )

            found = self._parallel(search, pages)
        except (self._mlflow_error, RegistryError):
            self._bulk_runs = False  # an older or stricter server: one get_run each
            return
        with self._lock:
            for page in found.values():
                for run in page:
                    self._runs[str(run.info.run_id)] = run

    def _experiment_ids(self) -> list[str]:
        from mlflow.entities import ViewType  # noqa: PLC0415

        ids: list[str] = []
        token = None
        while True:
            page = self._tracking.search_experiments(
                view_type=ViewType.ALL, max_results=1000, page_token=token
            )
            ids += [str(e.experiment_id) for e in page]
            token = page.token
            if not token or len(ids) > MAX_SEARCHED_EXPERIMENTS:
                return ids

    def _model_info(self, model: str, version: int) -> Any:
        """The version's MLmodel (only that file is read), once."""
        import mlflow  # noqa: PLC0415
        from mlflow.models import get_model_info  # noqa: PLC0415

        key = (model, version)
        with self._lock:
            if key in self._model_infos:
                cached = self._model_infos[key]
                if isinstance(cached, RegistryError):
                    raise cached
                return cached
            # models:/ URIs resolve through MLflow's global URIs, not a client's.
            mlflow.set_tracking_uri(self._uri)
            mlflow.set_registry_uri(self._uri)
        info: Any
        try:
            info = get_model_info(f"models:/{model}/{version}")
        except Exception as error:  # noqa: BLE001 - an artifact store's client fails its own way
            info = self._translate(error)  # a missing botocore, say: remembered, not retried
        with self._lock:
            self._model_infos[key] = info
        if isinstance(info, RegistryError):
            raise info
        return info

    def logged_model(self, model: str, version: int) -> LoggedModel:
        """The version's signature as plain data and as text (reads only its MLmodel)."""
        signature = self._model_info(model, version).signature
        if signature is None:
            return LoggedModel()
        inputs, inputs_kind = schema_fields(signature.inputs)
        outputs, outputs_kind = schema_fields(signature.outputs)
        text = SignatureFacts(
            clip(str(signature.inputs)),
            None if signature.outputs is None else clip(str(signature.outputs)),
        )
        return LoggedModel(Signature(inputs, outputs, inputs_kind, outputs_kind), text)

    def verify(self, model: str, version: int, timeout_seconds: float) -> str | None:
        """Load the version and score its input example in a sandboxed child; None if it works.

        Loading a model runs its code (pickles, a model's own Python). So this process, which
        holds the registry's credentials, fetches the artifacts; the child that loads them gets
        a scratch folder, an environment with no credentials (no MLflow, cloud or CI
        variables), no registry to reach, and bounds on time and memory.
        """
        from mlflow.artifacts import download_artifacts  # noqa: PLC0415

        uri = f"models:/{model}/{version}"
        with tempfile.TemporaryDirectory(prefix="aliasctl-verify-") as scratch:
            try:
                # Where the version's files are (its run's artifacts, a server's proxy, a
                # bucket), resolved by this registry, not by whatever MLflow's globals say.
                where = self._tracking.get_model_version_download_uri(model, str(version))
                local = download_artifacts(
                    artifact_uri=where, dst_path=str(Path(scratch, "model")), tracking_uri=self._uri
                )
            except (self._mlflow_error, OSError) as error:
                return f"failed to fetch {uri}: {self._translate(error).detail}"[:500]
            command = [
                *(sys.executable, "-I", "-m", "controller.registry.mlflow.verify_worker"),
                *(local, uri, str(VERIFY_MEMORY_BYTES)),
            ]
            try:
                done = subprocess.run(
                    command, capture_output=True, text=True, timeout=timeout_seconds,
                    env=sandbox_env(scratch), cwd=scratch, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                return f"did not load and predict within {timeout_seconds:g} s (--verify-timeout)"
        if done.returncode == 0:
            return None
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return lines[-1][:500] if lines else f"verification exited {done.returncode}"


# What loading a model may see of this process's environment: where programs are, the
# locale and the time zone. Everything else (MLflow's, the clouds', the CI's variables:
# credentials among them) stays out; HOME and TMPDIR point into the scratch folder.
SANDBOX_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
VERIFY_MEMORY_BYTES = 4 << 30  # address space of the child; a model past it fails, not the host


def sandbox_env(scratch: str) -> dict[str, str]:
    kept = {name: os.environ[name] for name in SANDBOX_KEEP if name in os.environ}
    return {
        **kept,
        "HOME": scratch,
        "TMPDIR": scratch,
        "MLFLOW_TRACKING_URI": f"file:{scratch}",
        "MLFLOW_DISABLE_TELEMETRY": "true",  # the child has nothing to report to anyone
    }
