"""The Registry seam: what the controller needs from a model registry (no mlflow here).

The one real adapter is controller/registry/mlflow/; tests add an in-memory
fake. Read modes and the names of aliasctl's own state models live here, since
the CLI, the lock and the adapter all need them without importing MLflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from controller.core.evidence import SignatureFacts
from controller.registry.uris import scheme

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from controller.core.evidence import RunFacts
    from controller.core.signature import Signature
    from controller.core.state import Observed, Record, VersionInfo

DEFAULT_TIMEOUT_SECONDS = 30
MAX_PARALLELISM = 64
READ_PARALLELISM = 16
INVENTORY_TAG_PREFIX = "aliasctl.model."
# The permission MLflow's basic-auth asks of each write (READ < USE < EDIT < MANAGE).
NEEDS_EDIT = "EDIT"
NEEDS_MANAGE = "MANAGE"


@dataclass(frozen=True, order=True)
class ServerVersion:
    """An MLflow server's version, as its `/version` endpoint (or the local package) says."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> ServerVersion | None:
        """`2.16.2`, `3.0.1rc0`, `3.10.0.dev0`: None for anything that is not a version."""
        found = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
        if found is None:
            return None
        major, minor, patch = found.groups()
        return cls(int(major), int(minor), int(patch or 0))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


# Registry webhooks (model_version_alias.created/deleted) came with MLflow 3.3.
WEBHOOKS_SINCE = ServerVersion(3, 3)
# Prompts live in the registry from 2.21; MLflow 3 clients hide them with a filter
# that older servers misread (registry/mlflow/search.py says how it is avoided).
PROMPTS_SINCE = ServerVersion(2, 21)
# Registry searches accept `name IN (...)` from MLflow 3.0 (2.x servers refuse it).
NAME_IN_SINCE = ServerVersion(3, 0)

# A copy of a version from another environment carries these tags (copy_tags): the first
# is how the copy is found again, the others spell out its lineage one fact a tag.
COPIED_FROM_TAG = "aliasctl.copied_from"
COPIED_FROM_PREFIX = COPIED_FROM_TAG + "."


@dataclass(frozen=True)
class CopySource:
    """A model version named by where it lives: what `Registry.copy_version` copies.

    `registry_uri` is the source registry's display URI (never credentials). `environment`,
    when given, names the source in the copy's tag instead: a name outlives a URI (a server
    moved to another host keeps its copies found). Build it with `CopySource.of`.
    """

    registry_uri: str
    model: str
    version: int
    environment: str | None = None

    @classmethod
    def of(
        cls, registry: Registry, model: str, version: int, environment: str | None = None
    ) -> CopySource:
        return cls(registry.display_uri, model, version, environment)

    @property
    def label(self) -> str:
        """The source registry in the copy's tags: its environment's name, else its URI."""
        return self.environment or self.registry_uri

    @property
    def tag_value(self) -> str:
        """The `aliasctl.copied_from` tag a copy carries: `staging#bikes/7`."""
        return f"{self.label}#{self.model}/{self.version}"

    @property
    def model_uri(self) -> str:
        """The source as a `models:/` URI, as MLflow's `copy_model_version` records it."""
        return f"models:/{self.model}/{self.version}"

    def __str__(self) -> str:
        return f"{self.model}/{self.version} of {self.label}"


@dataclass(frozen=True)
class CopyResult:
    """The copy's version number in the target model; `created`: this call made it (False:
    it was there already, found by its tag or, within one registry, by its source)."""

    version: int
    created: bool


def copy_tags(source: CopySource, run_id: str | None) -> dict[str, str]:
    """The lineage tags of a copy of `source` (made from the version of run `run_id`)."""
    tags = {
        COPIED_FROM_TAG: source.tag_value,
        COPIED_FROM_PREFIX + "registry": source.label,
        COPIED_FROM_PREFIX + "model": source.model,
        COPIED_FROM_PREFIX + "version": str(source.version),
    }
    if run_id:
        tags[COPIED_FROM_PREFIX + "run_id"] = run_id
    return tags


@dataclass(frozen=True)
class LoggedModel:
    """A version's MLmodel, read once: its signature as plain data (for the gates; None:
    logged without one) and as text (for the evidence; both halves None without one)."""

    signature: Signature | None = None
    facts: SignatureFacts = field(default_factory=SignatureFacts)


class ReadMode(StrEnum):
    AUTO = "auto"  # per-model for Unity Catalog, bulk otherwise
    BULK = "bulk"
    PER_MODEL = "per-model"


def effective_read_mode(mode: ReadMode, uri: str) -> ReadMode:
    if mode is not ReadMode.AUTO:
        return mode
    return ReadMode.PER_MODEL if scheme(uri) == "databricks-uc" else ReadMode.BULK


def state_model_name(kind: str, instance: str, model: str, uri: str) -> str:
    """The registered model aliasctl keeps its own state in (`lock`, `inventory`).

    Unity Catalog names have three levels and a model needs a catalog and schema
    the principal can write: there it sits beside `model`.
    """
    if scheme(uri) == "databricks-uc" and model.count(".") >= 2:
        catalog_schema = model.rsplit(".", 1)[0]
        return f"{catalog_schema}.aliasctl_{kind}_{instance}".replace("-", "_")
    return f"aliasctl.{kind}.{instance}"


class Registry(Protocol):
    """What the controller needs from a model registry."""

    @property
    def display_uri(self) -> str: ...

    @property
    def is_remote(self) -> bool: ...

    @property
    def retries(self) -> int:
        """Transient write failures retried so far."""
        ...

    @property
    def server_version(self) -> ServerVersion | None:
        """The MLflow version that answers (asked once); None where it cannot be told."""
        ...

    def read_models(self, names: Collection[str], *, exact: bool = False) -> Observed:
        """The named models plus every model this instance manages (only the named: `exact`)."""
        ...

    def forget_cached_reads(self) -> None:
        """Drop runs and MLmodels read for evidence: a long-running controller re-reads them."""
        ...

    def search_models(self, filter_string: str | None) -> Observed:
        """Every model an MLflow search filter finds (None: all); refused where unsupported."""
        ...

    def read_versions(self, targets: Collection[tuple[str, int]]) -> list[VersionInfo]: ...

    def set_alias(self, model: str, alias: str, version: int) -> None: ...

    def delete_alias(self, model: str, alias: str) -> None: ...

    def write_record(self, model: str, record: Record | None) -> None: ...

    def read_runs(self, run_ids: Collection[str]) -> dict[str, RunFacts]:
        """Source runs, read in parallel: their metrics for the gates, all of them for the
        evidence; a gone run is absent."""
        ...

    def read_logged_model(self, model: str, version: int) -> LoggedModel:
        """The version's MLmodel (only that file): its signature for the gates and the evidence."""
        ...

    def verify(self, model: str, version: int, timeout_seconds: float) -> str | None: ...

    # Environments: one version copied into another registry (or model), exactly once.
    def find_copy(self, model: str, source: CopySource) -> int | None:
        """The version of `model` in this registry that is a copy of `source` (the oldest, if
        several), found by its `aliasctl.copied_from` tag; within one registry also an
        untagged copy, by its `models:/` source (a copy interrupted before its tag). None:
        there is none. Never a silently empty answer: a search that cannot filter on tags
        is confirmed by a read of the model's versions."""
        ...

    def find_copies(
        self, wanted: Collection[tuple[str, CopySource]]
    ) -> dict[tuple[str, CopySource], int | None]:
        """`find_copy` of each (model, source), in as few requests as the registry allows
        (one bulk search of the models' versions where it can `name IN (...)`)."""
        ...

    def copy_version(self, source_registry: Registry, source: CopySource, model: str) -> CopyResult:
        """Copy `source` (a version in `source_registry`) into this registry's `model` once.

        Idempotent: the copy is looked for first (`find_copy`). Within one registry (the same
        display URI) MLflow's `copy_model_version`, then tagged; across registries the
        version's artifacts, tags, description and source run (params, metrics, tags) are
        carried by MLflow's own download, log and register calls, registered with their
        tags in one call. Raises CopyError (a RegistryError) naming the failing side. Call
        under the target's registry lock: two concurrent copies may both copy.
        """
        ...

    def read_metric(
        self,
        metric: str,
        *,
        experiment: str | None,
        run_id: str | None,
        filter_string: str | None,
        since_ms: int,
    ) -> float | None:
        """The latest value of `metric` logged at or after `since_ms` (ms since the epoch), to
        `run_id` or to the runs of `experiment` (by name) that `filter_string` selects; None
        when there is none (older points are stale). For an analysis' `mlflow` provider."""
        ...

    # Primitives for the registry lock (registry/lock.py).
    def create_model(self, name: str, tags: Mapping[str, str], description: str) -> bool:
        """Create a registered model; False if it exists (creation is atomic in MLflow)."""
        ...

    def model_tags(self, name: str) -> dict[str, str] | None:
        """A model's tags, None if the model does not exist."""
        ...

    def set_model_tag(self, name: str, key: str, value: str) -> None: ...

    def delete_model_tag(self, name: str, key: str) -> None:
        """Remove a registered model's tag; one already gone counts as removed."""
        ...

    def delete_model(self, name: str) -> None: ...
