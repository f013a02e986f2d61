"""Copying a version across registries (two tracking servers, two artifact stores), where
no MLflow call copies a version: the source version's files are downloaded with MLflow's
own calls, logged to a run in the target (experiment `aliasctl-copies`, carrying the source
run's params, latest metrics and tags, and tags naming the source), and registered with
`create_model_version(..., tags=...)`: the tag lands with the version, so a crash before
registration leaves at most an orphan run, never an untagged version (see copying.py).
A run is marked finished only once its files are all logged, so the next attempt reuses a
finished run of the same source instead of downloading and uploading again.
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from controller.errors import Fault, RegistryError
from controller.registry.mlflow.copy_once import (
    Side,
    copy_error,
    doing,
    register_once,
    version_tags,
)
from controller.registry.seam import COPIED_FROM_PREFIX, COPIED_FROM_TAG, CopySource, copy_tags

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

COPY_EXPERIMENT = "aliasctl-copies"  # the target's experiment holding the copies' runs
ARTIFACT_PATH = "model"  # where in that run the version's files go
# Tags of the source run that say where its code came from, carried beside its own tags
# (other `mlflow.` tags describe the source server's objects: a parent run, logged models).
CARRIED_SYSTEM_TAGS = frozenset(
    {
        "mlflow.source.name",
        "mlflow.source.type",
        "mlflow.source.git.commit",
        "mlflow.source.git.branch",
        "mlflow.source.git.repoURL",
        "mlflow.user",
        "mlflow.note.content",
    }
)
BATCH = 100  # params and tags per log_batch (MLflow's limit for params)
WAITING_LOGGER = "mlflow.store.model_registry.abstract_store"
log = logging.getLogger("aliasctl.registry")


def copy_across(src: Side, dst: Side, source: CopySource, model: str, version: Any) -> int:
    """Copy the source `version` into `model` of the other registry `dst`; its number there."""
    from mlflow.artifacts import download_artifacts  # noqa: PLC0415 - slow import

    logged = _logged_before(dst, source)
    if logged is not None:  # a run an earlier attempt finished logging (then it failed)
        _create_model(dst, source, model)
        return _register(dst, source, model, version, *logged)
    run = _source_run(src, version.run_id)
    with tempfile.TemporaryDirectory(prefix="aliasctl-copy-") as scratch:
        try:
            where = src.call(
                lambda: src.tracking.get_model_version_download_uri(
                    source.model, str(source.version)
                )
            )
            # Resolved by the source's tracking URI, not by MLflow's globals: both registries
            # may hand out `mlflow-artifacts:/` URIs.
            local = src.call(
                lambda: download_artifacts(
                    artifact_uri=where, dst_path=scratch, tracking_uri=src.uri
                )
            )
        except RegistryError as error:
            detail = f"downloading the source version's files: {error.detail}"
            raise copy_error(src, source, model, detail, error) from None
        _create_model(dst, source, model)
        run_id, artifact_uri = _log_run(dst, source, model, run, local)
    return _register(dst, source, model, version, run_id, artifact_uri)


def _register(
    dst: Side, source: CopySource, model: str, version: Any, run_id: str, artifact_uri: str
) -> int:
    """The version, registered once from the copy's run in the target."""
    tags = {
        **{k: v for k, v in version_tags(version).items() if not k.startswith(COPIED_FROM_PREFIX)},
        **copy_tags(source, version.run_id),
    }
    create = dst.registry.create_model_version
    budget = int(dst.policy.budget_seconds)

    def register() -> int:
        with _quiet(WAITING_LOGGER):
            made = create(
                name=model,
                source=f"{artifact_uri}/{ARTIFACT_PATH}",
                run_id=run_id,
                tags=tags,
                description=version.description or None,
                await_creation_for=budget,
            )
        return int(made.version)

    return register_once(dst, source, model, register)


def _logged_before(dst: Side, source: CopySource) -> tuple[str, str] | None:
    """A finished run of an earlier copy of `source` (its files all logged: a run is marked
    finished only after them), left when registering failed: reused, not logged again.
    None when there is none, or it cannot be told (then a new run is logged)."""
    value = source.tag_value
    if "'" in value:
        return None
    query = f"tags.`{COPIED_FROM_TAG}` = '{value}' AND attributes.status = 'FINISHED'"
    try:
        experiment = dst.call(lambda: dst.tracking.get_experiment_by_name(COPY_EXPERIMENT))
        if experiment is None or experiment.lifecycle_stage == "deleted":
            return None
        runs = dst.call(
            lambda: dst.tracking.search_runs(
                [experiment.experiment_id], query, max_results=1,
                order_by=["attributes.start_time ASC"],
            )
        )  # fmt: skip
    except RegistryError as error:
        log.debug("no earlier copy run looked for in %s: %s", dst.display_uri, error.detail)
        return None
    if not runs:
        return None
    return str(runs[0].info.run_id), str(runs[0].info.artifact_uri)


def _source_run(src: Side, run_id: str | None) -> Any | None:
    if not run_id:
        return None
    try:
        return src.call(lambda: src.tracking.get_run(run_id))
    except RegistryError as error:
        if error.fault is not Fault.NOT_FOUND:
            raise
        return None  # a deleted run: the copy names it but carries nothing from it


def _create_model(dst: Side, source: CopySource, model: str) -> None:
    try:
        dst.call(lambda: dst.registry.create_registered_model(model))
    except RegistryError as error:
        if error.fault is not Fault.EXISTS:
            detail = doing("creating the model", error)
            raise copy_error(dst, source, model, detail, error) from None


def _log_run(
    dst: Side, source: CopySource, model: str, run: Any | None, local: str
) -> tuple[str, str]:
    """A run in the target holding the version's files and its source run's lineage."""
    from mlflow.entities import Metric, Param, RunStatus  # noqa: PLC0415

    tracking = dst.tracking
    finished = RunStatus.FINISHED
    run_tags = {**_carried_tags(run), **copy_tags(source, run.info.run_id if run else None)}
    params = dict(run.data.params) if run else {}
    stamp = int(run.info.end_time or run.info.start_time or 0) if run else 0
    metrics = dict(run.data.metrics) if run else {}
    try:
        experiment = _experiment(dst)
        made = dst.call(
            lambda: tracking.create_run(
                experiment, tags=run_tags, run_name=f"copy of {source}"[:250]
            )
        )
        run_id = str(made.info.run_id)
        stamp = stamp or int(time.time() * 1000)
        for batch in _batches(params):
            ps = [Param(k, v) for k, v in batch.items()]
            dst.call(partial(tracking.log_batch, run_id, params=ps))
        for batch in _batches(metrics):
            ms = [Metric(k, float(v), stamp, 0) for k, v in batch.items()]
            dst.call(partial(tracking.log_batch, run_id, metrics=ms))
        dst.call(lambda: tracking.log_artifacts(run_id, local, ARTIFACT_PATH))
        # The store's call, not `set_terminated`: that prints a link to the run on stdout
        # (made from the URI as given, a password in it included).
        end = int(time.time() * 1000)
        finish = partial(tracking._tracking_client.store.update_run_info, run_id, finished)
        dst.call(lambda: finish(end_time=end, run_name=None))
    except RegistryError as error:
        detail = doing("logging the copy's run", error)
        raise copy_error(dst, source, model, detail, error) from None
    return run_id, str(made.info.artifact_uri)


def _carried_tags(run: Any | None) -> dict[str, str]:
    if run is None:
        return {}
    tags = {str(k): str(v) for k, v in run.data.tags.items()}
    return {
        k: v for k, v in tags.items() if not k.startswith("mlflow.") or k in CARRIED_SYSTEM_TAGS
    }


def _batches(items: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    keys = sorted(items)
    for start in range(0, len(keys), BATCH):
        yield {k: items[k] for k in keys[start : start + BATCH]}


def _experiment(dst: Side) -> str:
    """The target's `aliasctl-copies` experiment, created on first use."""
    found = dst.call(lambda: dst.tracking.get_experiment_by_name(COPY_EXPERIMENT))
    if found is None:
        try:
            return str(dst.call(lambda: dst.tracking.create_experiment(COPY_EXPERIMENT)))
        except RegistryError as error:
            if error.fault is not Fault.EXISTS:  # another copy created it meanwhile
                raise
            found = dst.call(lambda: dst.tracking.get_experiment_by_name(COPY_EXPERIMENT))
    if found.lifecycle_stage == "deleted":
        raise RegistryError(
            dst.display_uri,
            f"the experiment {COPY_EXPERIMENT} is deleted: restore it to hold copies' runs",
        )
    return str(found.experiment_id)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """MLflow logs "Waiting up to N seconds for model version to finish creation" at INFO
    on every registration it awaits: noise in a command's output, not news."""
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(max(saved, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(saved)
