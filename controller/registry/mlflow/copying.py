"""Copying one model version into another environment, exactly once, with its lineage.

A copy carries an `aliasctl.copied_from` tag naming its source (seam.copy_tags), and is
looked for before anything is copied, so a re-run, a crash mid-copy or a retried request
never copies twice:

- Within one registry, MLflow's `copy_model_version` (a new version whose source is
  `models:/src/version`, with the source's tags, run and description), tagged right after.
  MLflow cannot tag it in the same call: a crash in between leaves an untagged copy, which
  `find_copy` recognises by that source and the next run tags.
- Across registries (two tracking servers, two artifact stores) no MLflow call copies a
  version: the source version's files are downloaded with MLflow's own calls, logged to a
  run in the target (experiment `aliasctl-copies`, carrying the source run's params, latest
  metrics and tags, and tags naming the source), and registered with
  `create_model_version(..., tags=...)`: the tag lands with the version, so a crash before
  registration leaves at most an orphan run, never an untagged version.

A registration is not idempotent: it is sent once (MLflow's HTTP client would resend a
request whose answer was lost, registering twice), and a transient failure is retried only
after `find_copy` says the failed attempt did not register it after all.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from controller.errors import CopyError, Fault, RegistryError
from controller.registry.faults import RetryPolicy, retry_transient
from controller.registry.mlflow.search import VERSIONS_PER_PAGE, pages
from controller.registry.seam import (
    COPIED_FROM_PREFIX,
    COPIED_FROM_TAG,
    NEEDS_EDIT,
    CopyResult,
    CopySource,
    copy_tags,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

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
MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"  # read by MLflow's client at each request
_SENDING_ONCE = threading.Lock()
BATCH = 100  # params and tags per log_batch (MLflow's limit for params)
FAILED = "FAILED_REGISTRATION"
# Faults of a search after which no other search is tried.
UNANSWERED = frozenset({Fault.UNREACHABLE, Fault.TRANSIENT, Fault.AUTH})
log = logging.getLogger("aliasctl.registry")
WAITING_LOGGER = "mlflow.store.model_registry.abstract_store"


@dataclass(frozen=True)
class Side:
    """One registry as a copy sees it; the adapter builds it (MlflowRegistry._side)."""

    uri: str
    display_uri: str
    tracking: Any  # MlflowClient
    registry: Any  # its registry client (no prompt filters on searches: search.py)
    call: Callable[[Callable[[], Any]], Any]  # one call, MLflow's errors converted to ours
    policy: RetryPolicy
    on_retry: Callable[[RegistryError], None]


def find_copy(side: Side, model: str, source: CopySource) -> Any | None:
    """The oldest version of `model` that copies `source` (see the module), else None."""
    if "'" in model:
        # MLflow's filter grammar has no escape for a quote: the versions cannot be listed.
        raise _error(side, source, model, "a model name with a quote cannot be searched")
    same = source.registry_uri == side.display_uri
    value = source.tag_value
    if "'" not in value:
        tagged = f"name = '{model}' AND tags.`{COPIED_FROM_TAG}` = '{value}'"
        try:
            found = _oldest(v for v in _versions(side, tagged) if _copies(v, source, same))
        except RegistryError as error:
            if error.fault in UNANSWERED:  # the listing below would not be answered either
                detail = f"searching for copies: {error.detail}"
                raise _error(side, source, model, detail, error) from None
            # A registry that cannot filter on tags: the listing below does without.
            log.debug("no tag search for copies in %s: %s", side.display_uri, error.detail)
            found = None
        if found is not None:
            return found
    # Nothing found: confirmed from the model's own versions (a store that misreads the tag
    # filter answers nothing), which also shows an untagged copy by its `models:/` source.
    try:
        versions = list(_versions(side, f"name = '{model}'"))
        if not versions:
            confirm_no_versions(side, source, model)
    except CopyError:
        raise
    except RegistryError as error:
        detail = f"cannot list its versions: {error.detail}"
        raise _error(side, source, model, detail, error) from None
    return _oldest(v for v in versions if _copies(v, source, same))


def copy_version(src: Side, dst: Side, source: CopySource, model: str) -> CopyResult:
    if source.registry_uri != src.display_uri:
        message = f"{source} does not name the source registry {src.display_uri}"
        raise ValueError(message)
    same = src.display_uri == dst.display_uri
    found = find_copy(dst, model, source)
    if found is not None:
        if same and _tags(found).get(COPIED_FROM_TAG) != source.tag_value:
            _tag(dst, source, model, int(found.version), found.run_id)  # a crash left it
        return CopyResult(int(found.version), created=False)
    version = _source_version(src, source, model)
    if same:
        made = _copy_within(dst, source, model, version.run_id)
    else:
        made = _copy_across(src, dst, source, model, version)
    log.debug("copied %s into %s version %s", source, model, made)
    return CopyResult(made, created=True)


# -- finding ----------------------------------------------------------------------------------


def copies_among(
    registry_uri: str, versions: Iterable[Any], wanted: Collection[tuple[str, CopySource]]
) -> dict[tuple[str, CopySource], int | None]:
    """find_copy's answer for each wanted (model, source) whose model has a version among
    `versions` (all of that model's, from one bulk search); a model with none is left out,
    for find_copy to confirm (a registry whose search answers nothing must not look empty)."""
    by_model: dict[str, list[Any]] = {}
    for version in versions:
        by_model.setdefault(str(version.name), []).append(version)
    answered: dict[tuple[str, CopySource], int | None] = {}
    for model, source in wanted:
        if model not in by_model:
            continue
        same = source.registry_uri == registry_uri
        found = _oldest(v for v in by_model[model] if _copies(v, source, same))
        answered[(model, source)] = None if found is None else int(found.version)
    return answered


def _versions(side: Side, filter_string: str) -> Iterator[Any]:
    return pages(side.call, side.registry.search_model_versions, filter_string, VERSIONS_PER_PAGE)


def confirm_no_versions(side: Side, source: CopySource, model: str) -> None:
    """A search that found no version at all, confirmed by a read of the model (one request,
    on empty answers only): a registry whose searches answer nothing must not look empty."""
    try:
        found = side.call(lambda: side.registry.get_registered_model(model))
    except RegistryError as error:
        if error.fault is Fault.NOT_FOUND:
            return
        raise
    if found.latest_versions:
        detail = (
            "the registry's search returned none of its versions, which exist: its searches "
            "cannot be trusted, so a copy cannot be found (nothing was copied)"
        )
        raise _error(side, source, model, detail)


def _tags(version: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (version.tags or {}).items()}


def _copies(version: Any, source: CopySource, same_registry: bool) -> bool:
    if str(version.status) == FAILED:
        return False
    if _tags(version).get(COPIED_FROM_TAG) == source.tag_value:
        return True
    # Within one registry, copy_model_version records the source as `models:/src/version`.
    return same_registry and version.source == source.model_uri


def _oldest(versions: Iterator[Any]) -> Any | None:
    return min(versions, key=lambda v: int(v.version), default=None)


# -- the source -------------------------------------------------------------------------------


def _source_version(src: Side, source: CopySource, model: str) -> Any:
    try:
        version = src.call(
            lambda: src.registry.get_model_version(source.model, str(source.version))
        )
    except RegistryError as error:
        if error.fault is Fault.NOT_FOUND:
            detail = f"the source registry has no version {source.version} of {source.model}"
            raise _error(src, source, model, detail, error) from None
        detail = f"reading the source version: {error.detail}"
        raise _error(src, source, model, detail, error) from None
    if str(version.status) != "READY":
        detail = f"the source version is {version.status}, not READY"
        raise _error(src, source, model, detail)
    return version


def _source_run(src: Side, run_id: str | None) -> Any | None:
    if not run_id:
        return None
    try:
        return src.call(lambda: src.tracking.get_run(run_id))
    except RegistryError as error:
        if error.fault is not Fault.NOT_FOUND:
            raise
        return None  # a deleted run: the copy names it but carries nothing from it


# -- within one registry ----------------------------------------------------------------------


def _copy_within(side: Side, source: CopySource, model: str, run_id: str | None) -> int:
    def copy() -> int:
        # MLflow prints "Successfully registered model ..." and "Copied version ..." to
        # stderr itself; our report says what was copied, once, in the command's output.
        with contextlib.redirect_stderr(io.StringIO()):
            return int(side.tracking.copy_model_version(source.model_uri, model).version)

    version = _register_once(side, source, model, copy)
    _tag(side, source, model, version, run_id)
    return version


def _tag(side: Side, source: CopySource, model: str, version: int, run_id: str | None) -> None:
    set_tag = partial(side.registry.set_model_version_tag, model, str(version))
    for key, value in copy_tags(source, run_id).items():
        _retried(side, source, model, partial(set_tag, key, value), "tagging the copy")


# -- across registries ------------------------------------------------------------------------


def _copy_across(src: Side, dst: Side, source: CopySource, model: str, version: Any) -> int:
    from mlflow.artifacts import download_artifacts  # noqa: PLC0415 - slow import

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
            raise _error(src, source, model, detail, error) from None
        _create_model(dst, source, model)
        run_id, artifact_uri = _log_run(dst, source, model, run, local)
    tags = {
        **{k: v for k, v in _tags(version).items() if not k.startswith(COPIED_FROM_PREFIX)},
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

    return _register_once(dst, source, model, register)


def _create_model(dst: Side, source: CopySource, model: str) -> None:
    try:
        dst.call(lambda: dst.registry.create_registered_model(model))
    except RegistryError as error:
        if error.fault is not Fault.EXISTS:
            raise _error(dst, source, model, _doing("creating the model", error), error) from None


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
        raise _error(dst, source, model, _doing("logging the copy's run", error), error) from None
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


# -- writes that must happen once ---------------------------------------------------------------


def _register_once(side: Side, source: CopySource, model: str, create: Callable[[], int]) -> int:
    """Run a registration; after a transient failure, retry only if it did not land."""
    attempts = 0

    def once() -> int:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            found = find_copy(side, model, source)
            if found is not None:
                return int(found.version)
        with _sent_once():
            return int(side.call(create))

    try:
        return retry_transient(once, side.policy, side.on_retry)
    except CopyError:
        raise
    except RegistryError as error:
        raise _error(side, source, model, _doing("registering the copy", error), error) from None


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


@contextmanager
def _sent_once() -> Iterator[None]:
    """No resending by MLflow's HTTP client (urllib3 resends a POST whose connection broke
    after it was sent) while this thread registers. The setting is process-wide: requests of
    other threads meanwhile go unretried by MLflow too (the adapter retries its own writes)."""
    with _SENDING_ONCE:
        saved = os.environ.get(MAX_RETRIES)
        os.environ[MAX_RETRIES] = "0"
        try:
            yield
        finally:
            if saved is None:
                del os.environ[MAX_RETRIES]
            else:
                os.environ[MAX_RETRIES] = saved


def _retried(
    side: Side, source: CopySource, model: str, write: Callable[[], object], what: str
) -> None:
    try:
        retry_transient(lambda: side.call(write), side.policy, side.on_retry)
    except RegistryError as error:
        raise _error(side, source, model, _doing(what, error), error) from None


def _doing(what: str, error: RegistryError) -> str:
    if error.fault is Fault.PERMISSION:
        return f"permission denied: {what} needs {NEEDS_EDIT} permission on the model"
    return f"{what}: {error.detail}"


def _error(
    side: Side,
    source: CopySource,
    model: str,
    detail: str,
    cause: RegistryError | None = None,
) -> CopyError:
    fault = cause.fault if cause is not None else Fault.REFUSED
    return CopyError(side.display_uri, str(source), model, detail, fault=fault)
