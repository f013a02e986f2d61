"""An in-memory Registry at our own seam, for pure apply logic and fault injection."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from controller.core.evidence import RunFacts, SignatureFacts
from controller.core.signature import Signature
from controller.core.state import Observed, ObservedModel, Record, VersionInfo
from controller.errors import CopyError, Fault, RegistryError
from controller.registry.seam import (
    COPIED_FROM_TAG,
    CopyResult,
    CopySource,
    LoggedModel,
    Registry,
    ServerVersion,
    copy_tags,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping


@dataclass
class FakeRegistry:
    versions: dict[str, dict[int, str]] = field(default_factory=dict)
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    # model -> stage -> the latest version in it, as a registered model's read carries it.
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    # Writes fail once this many have succeeded (None: never), with this fault.
    fail_after_writes: int | None = None
    fault: Fault = Fault.UNREACHABLE
    failing_aliases: set[tuple[str, str]] = field(default_factory=set)
    writes: list[tuple[str, ...]] = field(default_factory=list)
    version_tags: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    version_runs: dict[tuple[str, int], str] = field(default_factory=dict)
    # Source runs with their metrics (a run id absent here is gone).
    runs: dict[str, RunFacts] = field(default_factory=dict)
    # Logged models: the signature as the gates read it, and as the evidence shows it.
    signatures: dict[tuple[str, int], Signature] = field(default_factory=dict)
    signature_facts: dict[tuple[str, int], SignatureFacts] = field(default_factory=dict)
    # Versions whose MLmodel cannot be read and that fail verification, with the error.
    broken: dict[tuple[str, int], str] = field(default_factory=dict)
    version_details: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    reads: int = 0  # registered-model and version reads
    run_read_calls: int = 0  # read_runs calls, and the run ids each read
    run_reads: list[str] = field(default_factory=list)
    model_reads: list[tuple[str, int]] = field(default_factory=list)  # MLmodels read
    retries: int = 0
    server_version: ServerVersion | None = None
    # Registered models without versions or aliases: the lock's and the inventory's.
    state_models: dict[str, dict[str, str]] = field(default_factory=dict)
    # Logged metric points for the analysis' mlflow provider: metric -> [(timestamp ms, value)]
    # (the fake ignores the experiment, run and filter).
    metric_points: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    # Other tags of the managed models (holds, verified versions, analysis progress).
    model_tags_of: dict[str, dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def with_models(
        cls, versions: Mapping[str, int], aliases: Mapping[str, Mapping[str, int]] = {}
    ) -> Self:
        return cls(
            versions={m: dict.fromkeys(range(1, n + 1), "READY") for m, n in versions.items()},
            aliases={m: dict(aliases.get(m, {})) for m in versions},
        )

    display_uri = "fake://registry"
    is_remote = True

    def read_models(self, names: Collection[str], *, exact: bool = False) -> Observed:
        self.reads += 1
        wanted = set(names) if exact else set(names) | set(self.records)
        models = {m: self._model(m) for m in wanted if m in self.versions}
        with self._lock:  # the lock's model, when named (a serve cycle reads it beside)
            state = {m: dict(self.state_models[m]) for m in wanted if m in self.state_models}
        models |= {m: ObservedModel.read(m, {}, tags) for m, tags in state.items()}
        return Observed(models)

    def _model(self, name: str) -> ObservedModel:
        record = self.records.get(name)
        tags = {**(record.to_tags() if record else {}), **self.model_tags_of.get(name, {})}
        return ObservedModel.read(
            name, dict(self.aliases[name]), tags, dict(self.stages.get(name, {}))
        )

    def forget_cached_reads(self) -> None:
        return None

    def search_models(self, filter_string: str | None) -> Observed:
        self.reads += 1
        return Observed({m: self._model(m) for m in self.versions})

    def read_versions(self, targets: Collection[tuple[str, int]]) -> list[VersionInfo]:
        self.reads += 1
        found = []
        for m, v in targets:
            if v not in self.versions.get(m, {}):
                continue
            details = self.version_details.get((m, v), {})
            found.append(
                VersionInfo(
                    m, v, self.versions[m][v], self.version_tags.get((m, v), {}),
                    self.version_runs.get((m, v)), details.get("created_at"),
                    details.get("user"), details.get("description"),
                )
            )  # fmt: skip
        return found

    def read_runs(self, run_ids: Collection[str]) -> dict[str, RunFacts]:
        with self._lock:
            self.run_read_calls += 1
            self.run_reads += sorted(run_ids)
        return {r: self.runs[r] for r in run_ids if r in self.runs}

    def read_logged_model(self, model: str, version: int) -> LoggedModel:
        key = (model, version)
        with self._lock:
            self.model_reads.append(key)
        if key in self.broken:
            raise RegistryError(self.display_uri, self.broken[key])
        return LoggedModel(
            self.signatures.get(key), self.signature_facts.get(key, SignatureFacts())
        )

    def verify(self, model: str, version: int, timeout_seconds: float) -> str | None:
        return self.broken.get((model, version))

    def read_metric(
        self,
        metric: str,
        *,
        experiment: str | None,
        run_id: str | None,
        filter_string: str | None,
        since_ms: int,
    ) -> float | None:
        fresh = [p for p in self.metric_points.get(metric, []) if p[0] >= since_ms]
        return max(fresh)[1] if fresh else None

    def find_copy(self, model: str, source: CopySource) -> int | None:
        same = source.registry_uri == self.display_uri
        found = [
            v
            for v in self.versions.get(model, {})
            if self.version_tags.get((model, v), {}).get(COPIED_FROM_TAG) == source.tag_value
            or (same and self.version_details.get((model, v), {}).get("source") == source.model_uri)
        ]
        return min(found, default=None)

    def find_copies(
        self, wanted: Collection[tuple[str, CopySource]]
    ) -> dict[tuple[str, CopySource], int | None]:
        return {(model, source): self.find_copy(model, source) for model, source in wanted}

    def copy_version(self, source_registry: Registry, source: CopySource, model: str) -> CopyResult:
        """A copy as MLflow makes one: a new version with the source's tags, run and
        description, plus the lineage tags (tagged after the copy within one fake)."""
        if source.registry_uri != source_registry.display_uri:
            message = f"{source} does not name the source registry {source_registry.display_uri}"
            raise ValueError(message)
        found = self.find_copy(model, source)
        if found is not None:
            tags = self.version_tags.setdefault((model, found), {})
            tags |= copy_tags(source, tags.get("aliasctl.copied_from.run_id"))
            return CopyResult(found, created=False)
        read = source_registry.read_versions([(source.model, source.version)])
        if not read:
            raise CopyError(
                source_registry.display_uri, str(source), model,
                f"the source registry has no version {source.version} of {source.model}",
                fault=Fault.NOT_FOUND,
            )  # fmt: skip
        self._write("copy", model, str(source))
        version = max(self.versions.setdefault(model, {}), default=0) + 1
        self.versions[model][version] = "READY"
        self.aliases.setdefault(model, {})
        self.version_tags[(model, version)] = {**read[0].tags, **copy_tags(source, read[0].run_id)}
        if read[0].run_id:
            self.version_runs[(model, version)] = read[0].run_id
        same = source.registry_uri == self.display_uri
        where = source.model_uri if same else f"fake-artifacts:/{model}/{version}"
        self.version_details[(model, version)] = {"source": where}
        if read[0].description:
            self.version_details[(model, version)]["description"] = read[0].description
        return CopyResult(version, created=True)

    def _write(self, *what: str) -> None:
        with self._lock:
            budget = self.fail_after_writes
            if budget is not None and len(self.writes) >= budget:
                raise RegistryError(self.display_uri, f"injected {self.fault}", fault=self.fault)
            self.writes.append(what)

    def set_alias(self, model: str, alias: str, version: int) -> None:
        if (model, alias) in self.failing_aliases:
            raise RegistryError(self.display_uri, f"refused {model}@{alias}")
        if version not in self.versions[model]:
            raise RegistryError(self.display_uri, "RESOURCE_DOES_NOT_EXIST")
        self._write("set", model, alias, str(version))
        self.aliases[model][alias] = version

    def delete_alias(self, model: str, alias: str) -> None:
        if (model, alias) in self.failing_aliases:
            raise RegistryError(self.display_uri, f"refused {model}@{alias}")
        self._write("delete", model, alias)
        self.aliases[model].pop(alias, None)

    def write_record(self, model: str, record: Record | None) -> None:
        self._write("record", model)
        if record is None:
            self.records.pop(model, None)
        else:
            self.records[model] = record

    def create_model(self, name: str, tags: Mapping[str, str], description: str) -> bool:
        with self._lock:
            if name in self.state_models or name in self.versions:
                return False
            self.state_models[name] = dict(tags)
            return True

    def model_tags(self, name: str) -> dict[str, str] | None:
        with self._lock:
            if name in self.versions:  # as the adapter: any registered model's tags
                record = self.records.get(name)
                return {**(record.to_tags() if record else {}), **self.model_tags_of.get(name, {})}
            found = self.state_models.get(name)
            return None if found is None else dict(found)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        if name in self.versions:
            self._write("tag", name, key)
            self.model_tags_of.setdefault(name, {})[key] = value
            return
        with self._lock:
            if name not in self.state_models:
                raise RegistryError(self.display_uri, f"no model {name}", fault=Fault.NOT_FOUND)
            self.state_models[name][key] = value

    def delete_model_tag(self, name: str, key: str) -> None:
        if name in self.versions:
            self._write("untag", name, key)
            self.model_tags_of.get(name, {}).pop(key, None)
            return
        with self._lock:
            self.state_models.get(name, {}).pop(key, None)

    def delete_model(self, name: str) -> None:
        with self._lock:
            self.state_models.pop(name, None)
