"""The MLflow adapter of the Registry seam (connection.py, search.py, sources.py beside it).

Two read modes. `bulk`: one `search_registered_models` query finds every model
this controller manages (by its record tag, 1000 per page), a `name IN (...)`
query finds declared models that are not managed yet, and versions are checked
with `search_model_versions` on `name IN (...)`; a server that refuses `IN`
(MLflow 2.x) is noticed once and read per name instead. `per-model`: for
registries without filtered search (Unity Catalog), each declared model is read
on its own, in parallel, and models that left the file are found through an
inventory model that the controller keeps in the registry. Searches go to the
registry's store, not through MLflow's client: search.py says why.

Writes go through MLflow's registry client directly (the public MlflowClient
first GETs each model to rule out prompts, doubling the requests of every
write), and transient failures are retried within the --timeout budget.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from controller.core.state import (
    DEFAULT_INSTANCE,
    RECORD_TAG,
    Observed,
    Record,
    VersionInfo,
)
from controller.errors import Fault, RegistryError
from controller.registry.faults import RetryPolicy, retry_transient
from controller.registry.inventory import Inventory
from controller.registry.mlflow import copy_once, copying, monitoring
from controller.registry.mlflow.connection import (
    ask_server_version,
    bound_http_time,
    installed_mlflow_version,
    probe_database,
    translate_error,
)
from controller.registry.mlflow.entities import observed_models, version_info
from controller.registry.mlflow.search import (
    TAG_FILTER,
    all_versions_named,
    is_in_refusal,
    missed_by_search,
    models_named,
    near_name,
    near_names_to_ask,
    probe_for_empty_search,
    search_models,
    untrusted_search,
    versions_named,
)
from controller.registry.mlflow.sources import SourceReads
from controller.registry.seam import (
    DEFAULT_TIMEOUT_SECONDS,
    NEEDS_EDIT,
    NEEDS_MANAGE,
    READ_PARALLELISM,
    CopyResult,
    CopySource,
    LoggedModel,
    ReadMode,
    ServerVersion,
    effective_read_mode,
)
from controller.registry.uris import (
    COPYING_SCHEMES,
    REMOTE_SCHEMES,
    check_local_uri,
    is_file_store,
    redact_uri,
    scheme,
)
from controller.secrets import remember

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping

    from controller.core.evidence import RunFacts
    from controller.registry.seam import Registry

T = TypeVar("T")
log = logging.getLogger("aliasctl.registry")


class MlflowRegistry:
    """The real adapter: any MLflow registry URI (sqlite:///, postgresql://, http(s)://, ...)."""

    def __init__(
        self,
        uri: str,
        timeout_seconds: float | None = None,
        read_mode: ReadMode = ReadMode.AUTO,
        instance: str = DEFAULT_INSTANCE,
    ):
        bound_http_time(timeout_seconds)
        check_local_uri(uri)
        import mlflow  # noqa: PLC0415 - mlflow is slow to import: only commands that need it
        from mlflow.exceptions import MlflowException  # noqa: PLC0415
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        remember(urlsplit(uri).password)  # a password in --registry-uri is a secret too
        self.uri = uri
        self.instance = instance
        self.read_mode = effective_read_mode(read_mode, uri)
        self._mlflow_error: type[Exception] = MlflowException
        self._policy = RetryPolicy(budget_seconds=timeout_seconds or DEFAULT_TIMEOUT_SECONDS)
        self._retries = 0
        self._lock = threading.Lock()
        self._name_in_works = True  # until an MLflow 2.x server says otherwise
        self._server_version: ServerVersion | None = None
        self._version_asked = False
        self._part_tags: dict[str, set[str]] = {}  # record part tags seen on each model
        self._inventory = Inventory(
            instance,
            uri,
            tags_of=self.model_tags,
            create=self.create_model,
            set_tag=self._set_tag,
            delete_tag=self._delete_tag,
        )
        probe_database(uri, timeout_seconds or DEFAULT_TIMEOUT_SECONDS)
        if is_file_store(uri):
            # MLflow's file-store registry builds a default client inside; without
            # this it opens (and creates) sqlite:///mlflow.db in the working directory.
            mlflow.set_tracking_uri(uri)
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            # mlflow's registry client is untyped; this adapter is the only place that sees it.
            self._client: Any = client._get_registry_client()  # type: ignore[no-untyped-call]
            self._tracking: Any = client
            self._sources = SourceReads(uri, client, self._translate, self._parallel)
        except MlflowException as error:
            raise self._translate(error) from None

    @property
    def display_uri(self) -> str:
        return redact_uri(self.uri)

    @property
    def is_remote(self) -> bool:
        return scheme(self.uri) in REMOTE_SCHEMES

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def server_version(self) -> ServerVersion | None:
        """Asked once: `GET /version` of a server, the installed MLflow for a local store."""
        if not self._version_asked:
            self._version_asked = True
            if self.is_remote:
                self._server_version = ask_server_version(self.uri, self._client.store)
            else:  # a database or file store is read by this process's own MLflow
                self._server_version = installed_mlflow_version()
            log.debug("the registry runs MLflow %s", self._server_version or "(unknown)")
        return self._server_version

    # -- errors -------------------------------------------------------------------------------

    def _translate(self, error: Exception) -> RegistryError:
        return translate_error(self.uri, error)

    def _call(self, action: Callable[[], T]) -> T:
        """Run one registry call, converting MLflow's errors to ours, here and only here."""
        try:
            return action()
        except (self._mlflow_error, OSError) as error:
            raise self._translate(error) from None

    def _write(
        self,
        what: str,
        needs: str,
        action: Callable[[], object],
        *,
        done_if: Fault | None = None,
    ) -> bool:
        """One idempotent write: transient faults retried, a refusal named with its permission.

        False when the registry answers `done_if`: what the write wanted is so already
        (a delete of what is gone, a create of what exists).
        """

        def counted(error: RegistryError) -> None:
            with self._lock:
                self._retries += 1
            log.debug("retrying %s after: %s", what, error.detail)

        try:
            retry_transient(lambda: self._call(action), self._policy, counted)
        except RegistryError as error:
            if done_if is not None and error.fault is done_if:
                return False
            if error.fault is Fault.PERMISSION:
                raise RegistryError(
                    error.uri,
                    f"permission denied: {what} needs {needs} permission on the model",
                    fault=Fault.PERMISSION,
                ) from None
            raise
        return True

    def _or_none(self, action: Callable[[], T]) -> T | None:
        try:
            return self._call(action)
        except RegistryError as error:
            if error.fault is Fault.NOT_FOUND:
                return None
            raise

    def _parallel(self, action: Callable[[str], T], items: Iterable[str]) -> dict[str, T]:
        ordered = sorted(set(items))
        if len(ordered) <= 1:
            return {item: action(item) for item in ordered}
        with ThreadPoolExecutor(min(READ_PARALLELISM, len(ordered))) as pool:
            return dict(zip(ordered, pool.map(action, ordered), strict=True))

    # -- reads --------------------------------------------------------------------------------

    def _search_models(self, filter_string: str | None) -> Iterator[Any]:
        """Every model the filter finds, prompts left out (search.py)."""
        return search_models(self._call, self._client.store, filter_string)

    def read_models(self, names: Collection[str], *, exact: bool = False) -> Observed:
        if exact:  # a webhook names its model: read just that, never the whole registry
            if self.read_mode is ReadMode.PER_MODEL:
                return self._observed(self._get_models(set(names)))
            return self._observed(self._find_by_name(set(names)))
        if self.read_mode is ReadMode.PER_MODEL:
            listed = self._inventory.models(names)
            found = self._get_models(set(names) | listed)
            unaccounted = tuple(sorted(listed - found.keys()))
            observed = replace(self._observed(found), unaccounted=unaccounted)
        else:
            found = {m.name: m for m in self._search_models(TAG_FILTER)}
            by_name = self._find_by_name(set(names) - found.keys())
            self._check_search(found, by_name)
            observed = self._observed(found | by_name)
        near = self._near_names(set(names) - observed.models.keys(), observed)
        return replace(observed, near_names={**observed.near_names, **near})

    def _check_search(self, searched: Mapping[str, Any], by_name: Mapping[str, Any]) -> None:
        """Refuse a record search that a read by name contradicts (search.py says when)."""
        missed = missed_by_search(searched, by_name)
        probe = probe_for_empty_search(searched, by_name, missed)
        if probe is not None and not any(self._search_models(f"name = '{probe}'")):
            missed = [probe]
        if missed:
            raise untrusted_search(self.display_uri, missed, self.server_version)

    def forget_cached_reads(self) -> None:
        self._inventory.forget()  # another apply may have listed models since
        self._sources.forget()

    def search_models(self, filter_string: str | None) -> Observed:
        """Every model a search finds (all of them for None): for `aliasctl import`."""
        if self.read_mode is ReadMode.PER_MODEL:
            raise RegistryError(
                self.display_uri,
                "this registry is read per model (Unity Catalog cannot search across models "
                "with tags and aliases): name the models instead",
            )
        return self._observed({m.name: m for m in self._search_models(filter_string)})

    def _observed(self, found: Mapping[str, Any]) -> Observed:
        observed, part_tags = observed_models(found)
        self._part_tags.update(part_tags)
        return observed

    def _near_names(self, missing: set[str], observed: Observed) -> dict[str, str]:
        """For "did you mean" (only on a plan that already fails: a declared model is missing),
        bounded: one small `name ILIKE` search each for the first few names no read answered."""
        asked = near_names_to_ask(missing, observed)
        if self.read_mode is not ReadMode.BULK or not asked:
            return {}
        found = self._parallel(partial(near_name, self._call, self._client.store), asked)
        return {name: match for name, match in found.items() if match}

    def _find_by_name(self, names: set[str]) -> dict[str, Any]:
        """Models by name: bulk `name IN (...)` where the server takes it, else one by one."""
        # MLflow's filter grammar has no escape for a quote inside a name.
        plain = {n for n in names if "'" not in n}
        found = self._name_in(lambda: models_named(self._call, self._client.store, plain)) or {}
        rest = names - found.keys() if not self._name_in_works else names - plain
        return found | self._get_models(rest)

    def _name_in(self, search: Callable[[], T]) -> T | None:
        """A bulk `name IN (...)` read; None where the server refuses it (MLflow 2.x): then
        this and every later read goes by name."""
        if not self._name_in_works:
            return None
        try:
            return search()
        except RegistryError as error:
            if not is_in_refusal(error):
                raise
            log.debug("the registry refuses name IN (...): reading per model (%s)", error)
            self._name_in_works = False
            return None

    def _get_models(self, names: Iterable[str]) -> dict[str, Any]:
        get = self._client.get_registered_model
        models = self._parallel(lambda n: self._or_none(lambda: get(n)), names)
        return {name: model for name, model in models.items() if model is not None}

    def read_versions(self, targets: Collection[tuple[str, int]]) -> list[VersionInfo]:
        wanted = set(targets)
        found: list[VersionInfo] = []
        bulk_names = {m for m, _ in wanted if "'" not in m}
        if self.read_mode is ReadMode.BULK:
            search = self._client.search_model_versions
            named = self._name_in(lambda: versions_named(self._call, search, bulk_names, wanted))
            found = [version_info(v, copied=self._copies_files) for v in named or []]
        if self.read_mode is ReadMode.BULK and self._name_in_works:
            rest = {t for t in wanted if t[0] not in bulk_names}
        else:
            rest = wanted
        get = self._client.get_model_version
        keys = {f"{m}\0{v}": (m, v) for m, v in rest}
        got = self._parallel(
            lambda k: self._or_none(lambda: get(keys[k][0], str(keys[k][1]))), keys
        )
        read = [version_info(v, copied=self._copies_files) for v in got.values() if v is not None]
        return found + read

    @property
    def _copies_files(self) -> bool:
        """Databricks (workspace and Unity Catalog) copies a new version's files into storage
        of its own; open-source MLflow reads them at the version's source."""
        return scheme(self.uri) in COPYING_SCHEMES

    # -- what stands behind a version (sources.py) ------------------------------------------

    def read_runs(self, run_ids: Collection[str]) -> dict[str, RunFacts]:
        return self._sources.runs(run_ids)

    def read_logged_model(self, model: str, version: int) -> LoggedModel:
        return self._sources.logged_model(model, version)

    def verify(self, model: str, version: int, timeout_seconds: float) -> str | None:
        return self._sources.verify(model, version, timeout_seconds)

    def read_metric(
        self,
        metric: str,
        *,
        experiment: str | None,
        run_id: str | None,
        filter_string: str | None,
        since_ms: int,
    ) -> float | None:
        """For an analysis' `mlflow` provider (monitoring.py)."""
        return monitoring.read_metric(
            self._call, self._tracking, self.display_uri, metric,
            experiment=experiment, run_id=run_id, filter_string=filter_string, since_ms=since_ms,
        )  # fmt: skip

    # -- environments: copies of versions from another registry (copying.py) ---------------------

    def _side(self) -> copy_once.Side:
        def counted(error: RegistryError) -> None:
            with self._lock:
                self._retries += 1

        return copy_once.Side(
            self.uri, self.display_uri, self._tracking, self._client,
            self._call, self._policy, counted,
        )  # fmt: skip

    def find_copy(self, model: str, source: CopySource) -> int | None:
        found = copy_once.find_copy(self._side(), model, source)
        return None if found is None else int(found.version)

    def find_copies(
        self, wanted: Collection[tuple[str, CopySource]]
    ) -> dict[tuple[str, CopySource], int | None]:
        answered: dict[tuple[str, CopySource], int | None] = {}
        names = {m for m, _ in wanted if "'" not in m}
        if self.read_mode is ReadMode.BULK and names:
            search = self._client.search_model_versions
            listed = self._name_in(lambda: all_versions_named(self._call, search, names))
            if listed is not None:
                searched = [w for w in wanted if w[0] in names]
                answered = copy_once.copies_listed(self._side(), listed, searched)
        rest = [w for w in wanted if w not in answered]
        return answered | {(m, s): self.find_copy(m, s) for m, s in rest}

    def copy_version(self, source_registry: Registry, source: CopySource, model: str) -> CopyResult:
        if not isinstance(source_registry, MlflowRegistry):
            message = f"cannot copy from {source_registry.display_uri}: not an MLflow registry"
            raise TypeError(message)
        return copying.copy_version(source_registry._side(), self._side(), source, model)

    # -- writes -------------------------------------------------------------------------------

    def set_alias(self, model: str, alias: str, version: int) -> None:
        set_alias = self._client.set_registered_model_alias
        self._write(
            f"setting alias {model}@{alias}",
            NEEDS_EDIT,
            lambda: set_alias(model, alias, str(version)),
        )

    def delete_alias(self, model: str, alias: str) -> None:
        delete = self._client.delete_registered_model_alias
        self._write(f"deleting alias {model}@{alias}", NEEDS_MANAGE, lambda: delete(model, alias))

    def write_record(self, model: str, record: Record | None) -> None:
        """Write the record's tags, new parts before the head, then drop stale parts."""
        what = f"writing the {RECORD_TAG} tag of {model}"
        old_parts = self._part_tags.get(model, set())
        if record is None:
            self._delete_tag(model, RECORD_TAG, what)
            for key in sorted(old_parts):
                self._delete_tag(model, key, what)
            self._part_tags[model] = set()
            if self.read_mode is ReadMode.PER_MODEL:
                self._inventory.remove(model)
            return
        if self.read_mode is ReadMode.PER_MODEL:
            self._inventory.add(model)
        tags = record.to_tags()
        for key in sorted(tags, key=lambda k: k == RECORD_TAG):  # the head last
            self._set_tag(model, key, tags[key], what)
        for key in sorted(old_parts - tags.keys()):
            self._delete_tag(model, key, what)
        self._part_tags[model] = set(tags) - {RECORD_TAG}

    def _set_tag(self, model: str, key: str, value: str, what: str) -> None:
        set_tag = self._client.set_registered_model_tag
        self._write(what, NEEDS_EDIT, lambda: set_tag(model, key, value))

    def _delete_tag(self, model: str, key: str, what: str) -> None:
        delete_tag = self._client.delete_registered_model_tag
        self._write(what, NEEDS_EDIT, lambda: delete_tag(model, key), done_if=Fault.NOT_FOUND)

    # -- lock primitives ----------------------------------------------------------------------

    def create_model(self, name: str, tags: Mapping[str, str], description: str) -> bool:
        create = self._client.create_registered_model
        return self._write(
            f"creating registered model {name}",
            NEEDS_EDIT,
            lambda: create(name, tags=dict(tags), description=description),
            done_if=Fault.EXISTS,
        )

    def model_tags(self, name: str) -> dict[str, str] | None:
        model = self._or_none(lambda: self._client.get_registered_model(name))
        return None if model is None else {str(k): str(v) for k, v in (model.tags or {}).items()}

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._set_tag(name, key, value, f"writing tag {key} of {name}")

    def delete_model_tag(self, name: str, key: str) -> None:
        self._delete_tag(name, key, f"removing tag {key} of {name}")

    def delete_model(self, name: str) -> None:
        delete = self._client.delete_registered_model
        what = f"deleting registered model {name}"
        self._write(what, NEEDS_MANAGE, lambda: delete(name), done_if=Fault.NOT_FOUND)
