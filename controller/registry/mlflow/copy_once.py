"""What makes a copy happen once, on either path (copying.py): the registry as a copy sees
it (`Side`), finding an earlier copy of a source (`find_copy`), registering only once
(`register_once`), and the errors a copy raises.

A registration is not idempotent: it is sent once (MLflow's HTTP client would resend a
request whose answer was lost, registering twice), and a transient failure is retried only
after `find_copy` says the failed attempt did not register it after all.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.errors import CopyError, Fault, RegistryError
from controller.registry.faults import RetryPolicy, retry_transient
from controller.registry.mlflow.search import VERSIONS_PER_PAGE, pages
from controller.registry.seam import COPIED_FROM_TAG, NEEDS_EDIT, CopySource

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator

MAX_RETRIES = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"  # read by MLflow's client at each request
_SENDING_ONCE = threading.Lock()
FAILED = "FAILED_REGISTRATION"
# Faults of a search after which no other search is tried.
UNANSWERED = frozenset({Fault.UNREACHABLE, Fault.TRANSIENT, Fault.AUTH})
log = logging.getLogger("aliasctl.registry")


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


# -- finding ----------------------------------------------------------------------------------


def find_copy(side: Side, model: str, source: CopySource) -> Any | None:
    """The oldest version of `model` that copies `source` (see copying.py), else None."""
    if "'" in model:
        # MLflow's filter grammar has no escape for a quote: the versions cannot be listed.
        raise copy_error(side, source, model, "a model name with a quote cannot be searched")
    same = source.registry_uri == side.display_uri
    value = source.tag_value
    if "'" not in value:
        tagged = f"name = '{model}' AND tags.`{COPIED_FROM_TAG}` = '{value}'"
        try:
            found = _oldest(v for v in _versions(side, tagged) if _copies(v, source, same))
        except RegistryError as error:
            if error.fault in UNANSWERED:  # the listing below would not be answered either
                detail = f"searching for copies: {error.detail}"
                raise copy_error(side, source, model, detail, error) from None
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
        raise copy_error(side, source, model, detail, error) from None
    return _oldest(v for v in versions if _copies(v, source, same))


def version_tags(version: Any) -> dict[str, str]:
    """A version's tags as plain strings."""
    return {str(k): str(v) for k, v in (version.tags or {}).items()}


def copies_listed(
    side: Side, versions: Iterable[Any], wanted: Collection[tuple[str, CopySource]]
) -> dict[tuple[str, CopySource], int | None]:
    """find_copy's answer for each wanted (model, source), from one bulk listing of every
    version of the wanted models. A model listed with no version is confirmed by a read of
    it, once (a registry whose search answers nothing must not look empty)."""
    by_model: dict[str, list[Any]] = {}
    for version in versions:
        by_model.setdefault(str(version.name), []).append(version)
    answered: dict[tuple[str, CopySource], int | None] = {}
    confirmed: set[str] = set()
    for model, source in wanted:
        if model not in by_model and model not in confirmed:
            confirm_no_versions(side, source, model)
            confirmed.add(model)
        same = source.registry_uri == side.display_uri
        found = _oldest(v for v in by_model.get(model, []) if _copies(v, source, same))
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
        raise copy_error(side, source, model, detail)


def _copies(version: Any, source: CopySource, same_registry: bool) -> bool:
    if str(version.status) == FAILED:
        return False
    if version_tags(version).get(COPIED_FROM_TAG) == source.tag_value:
        return True
    # Within one registry, copy_model_version records the source as `models:/src/version`.
    return same_registry and version.source == source.model_uri


def _oldest(versions: Iterator[Any]) -> Any | None:
    return min(versions, key=lambda v: int(v.version), default=None)


# -- writes that must happen once ---------------------------------------------------------------


def register_once(side: Side, source: CopySource, model: str, create: Callable[[], int]) -> int:
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
        detail = doing("registering the copy", error)
        raise copy_error(side, source, model, detail, error) from None


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


# -- errors -------------------------------------------------------------------------------------


def doing(what: str, error: RegistryError) -> str:
    """The detail of a failed step of a copy: what it was doing, and why it failed."""
    if error.fault is Fault.PERMISSION:
        return f"permission denied: {what} needs {NEEDS_EDIT} permission on the model"
    return f"{what}: {error.detail}"


def copy_error(
    side: Side,
    source: CopySource,
    model: str,
    detail: str,
    cause: RegistryError | None = None,
) -> CopyError:
    """The error of a copy of `source` into `model`, with its cause's fault (else REFUSED)."""
    fault = cause.fault if cause is not None else Fault.REFUSED
    return CopyError(side.display_uri, str(source), model, detail, fault=fault)
