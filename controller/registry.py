"""Observed state: the Registry seam and its MLflow adapter (the only module that imports mlflow).

Reads are bulk: one `search_registered_models` query finds every model this
controller manages (by its record tag, 1000 per page), a `name IN (...)` query
finds declared models that are not managed yet, and versions are checked with
`search_model_versions` on `name IN (...)`. Writes go through MLflow's registry
client directly: the public MlflowClient first GETs each model to rule out
prompts, doubling the requests of every write.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from controller.errors import RegistryError
from controller.state import (
    RECORD_TAG,
    Observed,
    ObservedModel,
    Record,
    VersionInfo,
    normalize_aliases,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator

T = TypeVar("T")

MODELS_PER_PAGE = 1000  # MLflow's ceiling for search_registered_models
VERSIONS_PER_PAGE = 10_000
# A GET's filter travels in the URL: keep each IN (...) list well under the
# 8 KiB request-line limits common in front of MLflow servers.
MAX_FILTER_CHARS = 6000
DEFAULT_TIMEOUT_SECONDS = 30
MAX_PARALLELISM = 64


class Registry(Protocol):
    """What the controller needs from a model registry."""

    @property
    def display_uri(self) -> str: ...

    @property
    def is_remote(self) -> bool: ...

    def read_models(self, names: Collection[str]) -> Observed: ...

    def read_versions(self, targets: Collection[tuple[str, int]]) -> list[VersionInfo]: ...

    def set_alias(self, model: str, alias: str, version: int) -> None: ...

    def delete_alias(self, model: str, alias: str) -> None: ...

    def write_record(self, model: str, record: Record | None) -> None: ...

    def read_run_metrics(self, run_ids: Collection[str]) -> dict[str, dict[str, float]]: ...

    def read_signature(self, model: str, version: int) -> bool: ...

    def verify(self, model: str, version: int, timeout_seconds: float) -> str | None: ...


def redact_uri(uri: str) -> str:
    """A registry URI safe to print: no user, password or query string."""
    parts = urlsplit(uri)
    if not parts.netloc:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def bound_http_time(timeout_seconds: float | None) -> None:
    """Make an unreachable server fail within about `timeout_seconds`, not minutes.

    MLflow's client retries 7 times with exponential backoff and a 120 s timeout
    per request by default. Variables the user set explicitly are left alone
    unless --timeout was given.
    """
    budget = timeout_seconds or DEFAULT_TIMEOUT_SECONDS
    retries = 2
    # Backoff sleeps about 0 + 2 s (+ up to 1 s jitter each); the rest is split over attempts.
    per_request = max(1, int((budget - 4) / (retries + 1)))
    settings = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(per_request),
    }
    for name, value in settings.items():
        if timeout_seconds is not None or name not in os.environ:
            os.environ[name] = value
    # Keep a connection per parallel writer alive (MLflow's default pool holds 10).
    os.environ.setdefault("MLFLOW_HTTP_POOL_MAXSIZE", str(MAX_PARALLELISM))


def resolve_uri(registry_uri: str | None) -> str:
    """--registry-uri, else MLflow's own resolution (MLFLOW_REGISTRY_URI, tracking URI, default)."""
    if registry_uri:
        return registry_uri
    import mlflow  # noqa: PLC0415 - keep mlflow out of commands that never reach a registry

    return str(mlflow.get_registry_uri())


def _quote(name: str) -> str:
    return "'" + name + "'"


def in_filters(names: Iterable[str], prefix: str = "name IN ") -> Iterator[str]:
    """`name IN ('a','b',...)` filters, each short enough to travel in a URL."""
    batch: list[str] = []
    length = 0
    for name in sorted(set(names)):
        quoted = _quote(name)
        if batch and length + len(quoted) + 1 > MAX_FILTER_CHARS:
            yield prefix + "(" + ",".join(batch) + ")"
            batch, length = [], 0
        batch.append(quoted)
        length += len(quoted) + 1
    if batch:
        yield prefix + "(" + ",".join(batch) + ")"


_CONNECT_ERRORS = re.compile(
    r"Max retries exceeded|Connection refused|ConnectionError|timed out|Failed to establish",
    re.IGNORECASE,
)


def _translate(uri: str, error: Exception) -> RegistryError:
    text = str(error)
    if _CONNECT_ERRORS.search(text):
        detail = "cannot reach the registry (connection refused or timed out); check the URI"
        return RegistryError(uri, detail, unreachable=True)
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return RegistryError(uri, first_line[:500])


class MlflowRegistry:
    """The real adapter: any MLflow registry URI (sqlite:///, postgresql://, http(s)://, ...)."""

    def __init__(self, uri: str, timeout_seconds: float | None = None):
        bound_http_time(timeout_seconds)
        from mlflow.exceptions import MlflowException  # noqa: PLC0415
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        self.uri = uri
        self._mlflow_error: type[Exception] = MlflowException
        _refuse_missing_sqlite(uri)
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            self._tracking: Any = client
            # mlflow's registry client is untyped; this adapter is the only place that sees it.
            self._client: Any = client._get_registry_client()  # type: ignore[no-untyped-call]
        except MlflowException as error:
            raise _translate(self.display_uri, error) from None

    @property
    def display_uri(self) -> str:
        return redact_uri(self.uri)

    @property
    def is_remote(self) -> bool:
        return urlsplit(self.uri).scheme in {"http", "https", "databricks", "databricks-uc"}

    def _call(self, action: Callable[[], T]) -> T:
        """Run one registry call, converting MLflow's errors to ours, here and only here."""
        try:
            return action()
        except self._mlflow_error as error:
            raise _translate(self.display_uri, error) from None
        except OSError as error:
            raise _translate(self.display_uri, error) from None

    def _pages(
        self, search: Callable[..., Any], filter_string: str, per_page: int
    ) -> Iterator[Any]:
        """Every result of a paged MLflow search."""
        token: str | None = None
        while True:
            page = self._call(
                partial(search, filter_string=filter_string, max_results=per_page, page_token=token)
            )
            yield from page
            token = page.token
            if not token:
                return

    def _search_models(self, filter_string: str) -> Iterator[Any]:
        return self._pages(self._client.search_registered_models, filter_string, MODELS_PER_PAGE)

    def read_models(self, names: Collection[str]) -> Observed:
        models: dict[str, ObservedModel] = {}
        for found in self._search_models(f"tags.`{RECORD_TAG}` LIKE '%'"):
            models[found.name] = _observed(found)
        unmanaged_names = set(names) - models.keys()
        plain = [n for n in unmanaged_names if "'" not in n]
        for filter_string in in_filters(plain):
            for found in self._search_models(filter_string):
                models[found.name] = _observed(found)
        # MLflow's filter grammar has no escape for a quote inside a name.
        for name in unmanaged_names - set(plain):
            found = self._get_model_or_none(name)
            if found is not None:
                models[found.name] = _observed(found)
        return Observed(models)

    def _get_model_or_none(self, name: str) -> Any:
        try:
            return self._client.get_registered_model(name)
        except self._mlflow_error as error:
            if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise _translate(self.display_uri, error) from None

    def read_versions(self, targets: Collection[tuple[str, int]]) -> list[VersionInfo]:
        wanted = set(targets)
        found: list[VersionInfo] = []
        names = {model for model, _ in wanted}
        search = self._client.search_model_versions
        for filter_string in in_filters(n for n in names if "'" not in n):
            for version in self._pages(search, filter_string, VERSIONS_PER_PAGE):
                if (version.name, int(version.version)) in wanted:
                    found.append(_version(version))
        for model, version in sorted(t for t in wanted if "'" in t[0]):
            info = self._get_version_or_none(model, version)
            if info is not None:
                found.append(info)
        return found

    def _get_version_or_none(self, model: str, version: int) -> VersionInfo | None:
        try:
            return _version(self._client.get_model_version(model, str(version)))
        except self._mlflow_error as error:
            if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise _translate(self.display_uri, error) from None

    def set_alias(self, model: str, alias: str, version: int) -> None:
        self._call(lambda: self._client.set_registered_model_alias(model, alias, str(version)))

    def delete_alias(self, model: str, alias: str) -> None:
        self._call(lambda: self._client.delete_registered_model_alias(model, alias))

    def read_run_metrics(self, run_ids: Collection[str]) -> dict[str, dict[str, float]]:
        """Latest metrics of each source run that still exists (a deleted run is absent)."""
        tracking = self._tracking
        found = {}
        for run_id in sorted(set(run_ids)):
            try:
                run = tracking.get_run(run_id)
            except self._mlflow_error as error:
                if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                    continue
                raise _translate(self.display_uri, error) from None
            found[run_id] = {str(k): float(v) for k, v in run.data.metrics.items()}
        return found

    def read_signature(self, model: str, version: int) -> bool:
        """Whether the version's logged model carries a signature (reads only its MLmodel)."""
        import mlflow  # noqa: PLC0415
        from mlflow.models import get_model_info  # noqa: PLC0415

        # models:/ URIs resolve through MLflow's global URIs, not a client's.
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        info = self._call(lambda: get_model_info(f"models:/{model}/{version}"))
        return info.signature is not None

    def verify(self, model: str, version: int, timeout_seconds: float) -> str | None:
        """Load the version and score its input example in a child process; None if it works.

        A child process, so that a model that hangs while loading can be stopped.
        """
        command = [sys.executable, "-m", "controller.verify_worker", model, str(version)]
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.uri, "MLFLOW_REGISTRY_URI": self.uri}
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_seconds, env=env,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"did not load and predict within {timeout_seconds:g} s (--verify-timeout)"
        if done.returncode == 0:
            return None
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return lines[-1][:500] if lines else f"verification exited {done.returncode}"

    def write_record(self, model: str, record: Record | None) -> None:
        if record is None:
            self._call(lambda: self._client.delete_registered_model_tag(model, RECORD_TAG))
        else:
            value = record.encode()
            self._call(lambda: self._client.set_registered_model_tag(model, RECORD_TAG, value))


def _refuse_missing_sqlite(uri: str) -> None:
    """MLflow would create an empty database at a mistyped path; say it is not there instead."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return
    path = uri[len(prefix) :].split("?", 1)[0]
    if path and path != ":memory:" and not Path(path).exists():
        raise RegistryError(
            uri,
            f"no registry database at {path} (run from the directory that holds it, "
            "or pass --registry-uri)",
        )


def _observed(model: Any) -> ObservedModel:
    tags = dict(model.tags or {})
    raw = tags.get(RECORD_TAG)
    record = Record.decode(raw) if raw is not None else None
    return ObservedModel(model.name, normalize_aliases(model.aliases or {}), record)


def _version(version: Any) -> VersionInfo:
    return VersionInfo(
        version.name,
        int(version.version),
        str(version.status),
        dict(version.tags or {}),
        version.run_id or None,
    )
