"""Finding, listing and releasing holds through the seam: the real adapter on SQLite, and
the fake for a release that dies half way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.core.holds import Hold, Released, hold_tag, released_tag
from controller.errors import Fault, NoHoldError, RegistryError
from controller.registry.holds import FoundHold, find_hold, list_holds, release_hold
from controller.registry.mlflow.adapter import MlflowRegistry
from tests.conftest import client_for, seed
from tests.support.fake_registry import FakeRegistry

FAILED = Hold("champion", 4, 3, "Failed", "errors Failed (3/3)", "2026-12-04T10:00:00Z", True)
NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def registry(sqlite_uri: str) -> MlflowRegistry:
    seed(sqlite_uri, {"bikes": 4, "trains": 2})
    adapter = MlflowRegistry(sqlite_uri)
    adapter.set_model_tag("bikes", hold_tag("champion"), FAILED.encode())
    adapter.set_model_tag("trains", hold_tag("champion"), "{not json")
    return adapter


def test_list_holds_names_readable_and_unreadable_holds_of_the_models_asked(
    registry: MlflowRegistry,
) -> None:
    assert list_holds(registry, ["bikes", "trains", "gone"]) == [
        FoundHold("bikes", "champion", FAILED),
        FoundHold("trains", "champion", None),
    ]
    assert list_holds(registry, ["bikes"]) == [FoundHold("bikes", "champion", FAILED)]


def test_find_hold_says_which_holds_the_model_has(registry: MlflowRegistry) -> None:
    assert find_hold(registry, "bikes", "champion").hold == FAILED
    with pytest.raises(NoHoldError, match=r"holds on bikes: bikes@champion\)$"):
        find_hold(registry, "bikes", "challenger")
    with pytest.raises(NoHoldError, match="registered model 'planes' does not exist"):
        find_hold(registry, "planes", "champion")


def test_release_deletes_the_hold_and_records_the_release(
    registry: MlflowRegistry, sqlite_uri: str
) -> None:
    found, released = release_hold(
        registry, "bikes", "champion", by="alice", reason="false alarm", now=NOW
    )
    assert found.hold == FAILED
    assert released == Released(
        "champion", 4, "alice", "2026-12-05T09:30:00Z", "false alarm", 3, "Failed"
    )
    tags = dict(client_for(sqlite_uri).get_registered_model("bikes").tags)
    assert hold_tag("champion") not in tags
    assert Released.decode("champion", tags[released_tag("champion")]) == released


def test_an_unreadable_hold_can_be_released(registry: MlflowRegistry, sqlite_uri: str) -> None:
    _, released = release_hold(registry, "trains", "champion", by="bob", reason="x", now=NOW)
    assert (released.version, released.held_at) == (None, None)
    tags = dict(client_for(sqlite_uri).get_registered_model("trains").tags)
    assert hold_tag("champion") not in tags
    assert Released.decode("champion", tags[released_tag("champion")]) == released


def test_a_release_that_dies_after_its_record_leaves_the_hold_in_place() -> None:
    fake = FakeRegistry.with_models({"bikes": 4}, {"bikes": {"champion": 3}})
    fake.model_tags_of["bikes"] = {hold_tag("champion"): FAILED.encode()}
    fake.fail_after_writes, fake.fault = 1, Fault.TRANSIENT
    with pytest.raises(RegistryError):
        release_hold(fake, "bikes", "champion", by="alice", reason="r", now=NOW)
    assert hold_tag("champion") in fake.model_tags_of["bikes"]
    assert released_tag("champion") in fake.model_tags_of["bikes"]
    fake.fail_after_writes = None  # run again: it completes
    release_hold(fake, "bikes", "champion", by="alice", reason="r", now=NOW)
    assert hold_tag("champion") not in fake.model_tags_of["bikes"]
