"""The in-memory registry's copies behave as the MLflow adapter's (tests/registry/mlflow/
test_copy.py): found again by their tag, once, and within one registry by their source."""

from __future__ import annotations

import pytest

from controller.errors import CopyError, Fault
from controller.registry.seam import COPIED_FROM_TAG, CopyResult, CopySource
from tests.support.fake_registry import FakeRegistry


def two_registries() -> tuple[FakeRegistry, FakeRegistry]:
    staging = FakeRegistry.with_models({"bikes": 2})
    staging.display_uri = "fake://staging"
    staging.version_tags[("bikes", 2)] = {"validation_status": "approved"}
    staging.version_runs[("bikes", 2)] = "run2"
    production = FakeRegistry.with_models({"bikes": 1})
    production.display_uri = "fake://production"
    return staging, production


def test_fake_copy_across_registries_is_made_once_with_its_lineage() -> None:
    staging, production = two_registries()
    source = CopySource.of(staging, "bikes", 2, environment="staging")

    first = production.copy_version(staging, source, "bikes")
    again = production.copy_version(staging, source, "bikes")

    assert (first, again) == (CopyResult(2, created=True), CopyResult(2, created=False))
    assert production.find_copy("bikes", source) == 2
    assert production.version_tags[("bikes", 2)] == {
        "validation_status": "approved",
        COPIED_FROM_TAG: "staging#bikes/2",
        "aliasctl.copied_from.registry": "staging",
        "aliasctl.copied_from.model": "bikes",
        "aliasctl.copied_from.version": "2",
        "aliasctl.copied_from.run_id": "run2",
    }
    assert production.version_runs[("bikes", 2)] == "run2"


def test_fake_finds_an_untagged_copy_within_one_registry_by_its_source() -> None:
    registry = FakeRegistry.with_models({"bikes-staging": 2, "bikes-prod": 1})
    registry.version_details[("bikes-prod", 1)] = {"source": "models:/bikes-staging/2"}
    source = CopySource.of(registry, "bikes-staging", 2)

    assert registry.find_copy("bikes-prod", source) == 1
    assert registry.copy_version(registry, source, "bikes-prod") == CopyResult(1, created=False)
    assert registry.version_tags[("bikes-prod", 1)][COPIED_FROM_TAG] == source.tag_value


def test_fake_copy_of_a_missing_version_is_a_copy_error() -> None:
    staging, production = two_registries()
    source = CopySource.of(staging, "bikes", 9, environment="staging")

    with pytest.raises(CopyError) as missing:
        production.copy_version(staging, source, "bikes")

    assert missing.value.fault is Fault.NOT_FOUND
    assert str(missing.value) == (
        "registry fake://staging: copying bikes/9 of staging into bikes: "
        "the source registry has no version 9 of bikes"
    )
