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
  registration leaves at most an orphan run, never an untagged version; a finished one is
  reused by the next attempt.

Finding a copy and registering once are shared by both paths (copy_once.py); the path
across registries has its own module (copy_across.py); the one within a registry is here.
"""

from __future__ import annotations

import contextlib
import io
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from controller.errors import Fault, RegistryError
from controller.registry.faults import retry_transient
from controller.registry.mlflow.copy_across import copy_across
from controller.registry.mlflow.copy_once import (
    Side,
    copy_error,
    doing,
    find_copy,
    register_once,
    version_tags,
)
from controller.registry.seam import COPIED_FROM_TAG, CopyResult, CopySource, copy_tags

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("aliasctl.registry")


def copy_version(src: Side, dst: Side, source: CopySource, model: str) -> CopyResult:
    if source.registry_uri != src.display_uri:
        message = f"{source} does not name the source registry {src.display_uri}"
        raise ValueError(message)
    same = src.display_uri == dst.display_uri
    found = find_copy(dst, model, source)
    if found is not None:
        if same and version_tags(found).get(COPIED_FROM_TAG) != source.tag_value:
            _tag(dst, source, model, int(found.version), found.run_id)  # a crash left it
        return CopyResult(int(found.version), created=False)
    version = _source_version(src, source, model)
    if same:
        made = _copy_within(dst, source, model, version.run_id)
    else:
        made = copy_across(src, dst, source, model, version)
    log.debug("copied %s into %s version %s", source, model, made)
    return CopyResult(made, created=True)


def _source_version(src: Side, source: CopySource, model: str) -> Any:
    try:
        version = src.call(
            lambda: src.registry.get_model_version(source.model, str(source.version))
        )
    except RegistryError as error:
        if error.fault is Fault.NOT_FOUND:
            detail = f"the source registry has no version {source.version} of {source.model}"
            raise copy_error(src, source, model, detail, error) from None
        detail = f"reading the source version: {error.detail}"
        raise copy_error(src, source, model, detail, error) from None
    if str(version.status) != "READY":
        detail = f"the source version is {version.status}, not READY"
        raise copy_error(src, source, model, detail)
    return version


# -- within one registry ----------------------------------------------------------------------


def _copy_within(side: Side, source: CopySource, model: str, run_id: str | None) -> int:
    def copy() -> int:
        # MLflow prints "Successfully registered model ..." and "Copied version ..." to
        # stderr itself; our report says what was copied, once, in the command's output.
        with contextlib.redirect_stderr(io.StringIO()):
            return int(side.tracking.copy_model_version(source.model_uri, model).version)

    version = register_once(side, source, model, copy)
    _tag(side, source, model, version, run_id)
    return version


def _tag(side: Side, source: CopySource, model: str, version: int, run_id: str | None) -> None:
    set_tag = partial(side.registry.set_model_version_tag, model, str(version))
    for key, value in copy_tags(source, run_id).items():
        _retried(side, source, model, partial(set_tag, key, value), "tagging the copy")


def _retried(
    side: Side, source: CopySource, model: str, write: Callable[[], object], what: str
) -> None:
    try:
        retry_transient(lambda: side.call(write), side.policy, side.on_retry)
    except RegistryError as error:
        raise copy_error(side, source, model, doing(what, error), error) from None
