"""MLflow's entities read into aliasctl's plain types (duck-typed: no mlflow import here).

The adapter hands over what MLflow's client returned; nothing beyond this module
and the adapter ever sees an MLflow object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from controller.core.evidence import RunFacts
from controller.core.signature import Field
from controller.core.state import (
    Observed,
    ObservedModel,
    VersionInfo,
    normalize_aliases,
    record_part_tags,
    utc_text,
)

if TYPE_CHECKING:
    from collections.abc import Mapping


def schema_fields(schema: Any) -> tuple[tuple[Field, ...], str]:
    """An MLflow Schema's fields (ColSpec or TensorSpec) and which kind they are."""
    if schema is None:
        return (), "columns"
    if schema.is_tensor_spec():
        fields = tuple(
            Field(spec.name, str(spec.type), getattr(spec, "required", True), tuple(spec.shape))
            for spec in schema.inputs
        )
        return fields, "tensors"
    # DataType members print as their name; arrays, objects and maps as their JSON-ish form.
    fields = tuple(
        Field(spec.name, getattr(spec.type, "name", str(spec.type)), spec.required)
        for spec in schema.inputs
    )
    return fields, "columns"


def version_info(version: Any, *, copied: bool = False) -> VersionInfo:
    """`copied`: the registry copies each version's files (Databricks), so two versions
    registered from one source need not hold the same MLmodel."""
    return VersionInfo(
        version.name,
        int(version.version),
        str(version.status),
        dict(version.tags or {}),
        version.run_id or None,
        created_at=iso_time(version.creation_timestamp),
        user=version.user_id or None,
        description=version.description or None,
        shared_source=None if copied else (getattr(version, "source", None) or None),
    )


def observed_models(found: Mapping[str, Any]) -> tuple[Observed, dict[str, set[str]]]:
    """Models found by name, normalized (ints, not strings) into the observed state, with the
    record part tags seen on each; a model answering for another name is a near name."""
    models, near, part_tags = {}, {}, {}
    for name, model in found.items():
        if model.name != name:
            # MySQL's collation folds case: a lookup of `casemodel` answers with CaseModel's
            # row. That model was not asked for: writing to `casemodel` would change it.
            near[name] = model.name
            continue
        tags = dict(model.tags or {})
        part_tags[name] = record_part_tags(tags)
        aliases = normalize_aliases(model.aliases or {})
        models[name] = ObservedModel.read(name, aliases, tags, latest_stages(model))
    return Observed(models, near_names=near), part_tags


def latest_stages(model: Any) -> dict[str, int]:
    """Stage -> latest version in it, from a registered model's `latest_versions`.

    MLflow fills that field in both search and get (checked on 2.22 and 3.17, SQL and
    REST), so stages cost no request; Unity Catalog has no stages and leaves it empty.
    """
    return {
        str(v.current_stage): int(v.version)
        for v in (getattr(model, "latest_versions", None) or [])
        if v.current_stage and str(v.current_stage) != "None"
    }


def iso_time(millis: int | None) -> str | None:
    if not millis:
        return None
    return utc_text(datetime.fromtimestamp(millis / 1000, UTC))


def run_facts(run: Any) -> RunFacts:
    inputs = getattr(run, "inputs", None)
    datasets = tuple(
        f"{d.dataset.name}@{d.dataset.digest}" if d.dataset.digest else str(d.dataset.name)
        for d in (getattr(inputs, "dataset_inputs", None) or [])
    )
    return RunFacts(
        run_id=str(run.info.run_id),
        name=run.info.run_name or None,
        start_time=iso_time(run.info.start_time),
        source_commit=run.data.tags.get("mlflow.source.git.commit") or None,
        datasets=datasets,
        metrics={str(k): float(v) for k, v in run.data.metrics.items()},
    )
