"""What `serve` says about webhooks for each kind of registry (pure; the processes are in
tests/test_old_server.py and tests/test_serve_webhooks.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, cast

import pytest

from controller.registry.seam import ServerVersion
from controller.serve.app import Wiring, _webhooks
from controller.serve.webhook_support import Availability, webhook_support
from tests.support.page_samples import fresh

if TYPE_CHECKING:
    from controller.registry.seam import Registry

OLD = ServerVersion(2, 22, 5)
NEW = ServerVersion(3, 17, 2)


@pytest.mark.parametrize(
    ("scheme", "remote", "version", "secret", "state", "summary"),
    [
        (
            "http", True, OLD, True, Availability.UNAVAILABLE,
            "not available on MLflow 2.22.5 (they need 3.3 or later): polling every 15 s",
        ),
        (
            "https", True, ServerVersion(3, 2, 1), False, Availability.UNAVAILABLE,
            "not available on MLflow 3.2.1 (they need 3.3 or later): polling every 15 s",
        ),
        (
            "http", True, ServerVersion(3, 3, 0), True, Availability.AVAILABLE,
            "available on MLflow 3.3.0: signed deliveries accepted, and a full reconcile "
            "every 15 s",
        ),
        (
            "https", True, NEW, False, Availability.AVAILABLE,
            "available on MLflow 3.17.2, but ALIASCTL_WEBHOOK_SECRET is not set, so every "
            "delivery is refused: polling every 15 s",
        ),
        (
            "https", True, None, True, Availability.UNKNOWN,
            "unknown (the server did not say its MLflow version): polling every 15 s; "
            "signed deliveries accepted",
        ),
        (
            "https", True, None, False, Availability.UNKNOWN,
            "unknown (the server did not say its MLflow version): polling every 15 s "
            "(ALIASCTL_WEBHOOK_SECRET is not set, so every delivery is refused)",
        ),
        (
            "arn", True, ServerVersion(3, 0, 1), True, Availability.UNAVAILABLE,
            "not available on SageMaker's managed MLflow, MLflow 3.0.1: polling every 15 s",
        ),
        (
            "arn", True, None, True, Availability.UNAVAILABLE,
            "not available on SageMaker's managed MLflow: polling every 15 s",
        ),
        (
            "databricks-uc", True, None, True, Availability.UNAVAILABLE,
            "not available on Databricks: polling every 15 s",
        ),
        (
            "file", False, NEW, True, Availability.UNAVAILABLE,
            "not available on MLflow's file store (they need a SQL backend): polling every 15 s",
        ),
        (
            "postgresql", False, NEW, True, Availability.UNKNOWN,
            "unknown for a database read directly (an MLflow server 3.3 or later in front of "
            "it may send them): polling every 15 s; signed deliveries accepted",
        ),
    ],
)  # fmt: skip
def test_each_registry_says_webhooks_or_polling(
    scheme: str,
    remote: bool,
    version: ServerVersion | None,
    secret: bool,
    state: Availability,
    summary: str,
) -> None:
    found = webhook_support(scheme, remote, version, secret_set=secret, interval_seconds=15)
    assert (found.availability, found.summary) == (state, summary)
    assert found.worrying is (state is Availability.AVAILABLE and not secret)


def test_a_database_read_directly_reports_no_server_version() -> None:
    """The installed MLflow reads it; the server in front of it may run anything."""
    found = webhook_support("sqlite", False, NEW, secret_set=True, interval_seconds=300)
    assert found.server_version is None


def test_the_status_json_says_it() -> None:
    support = webhook_support("http", True, OLD, secret_set=True, interval_seconds=15)
    report = json.loads(json.dumps(replace(fresh(), webhooks=support).to_json()))
    assert report["webhooks"] == {
        "state": "unavailable",
        "server_version": "2.22.5",
        "needs": "3.3",
        "secret_set": True,
        "interval_seconds": 15,
        "summary": "not available on MLflow 2.22.5 (they need 3.3 or later): polling every 15 s",
    }
    assert json.loads(json.dumps(fresh().to_json()))["webhooks"] is None  # not told yet


class _Registry:
    """What `serve` reads of a registry at start; asking a version that is not there fails
    the test (on SageMaker it would be a signed AWS request, for nothing)."""

    def __init__(self, display_uri: str, version: ServerVersion | None) -> None:
        self.display_uri = display_uri
        self.is_remote = True
        self._version = version

    @property
    def server_version(self) -> ServerVersion | None:
        if self._version is None:
            raise AssertionError(f"asked the version of {self.display_uri}")
        return self._version


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        ("arn:aws:sagemaker:eu-west-1:********9012:mlflow-app/app-1", None),
        ("databricks-uc", None),
        ("http://mlflow.example:5000", OLD),
    ],
)
def test_serve_asks_the_version_only_of_an_mlflow_server_over_http(
    uri: str, version: ServerVersion | None
) -> None:
    wiring = Wiring(listen=("127.0.0.1", 0), debounce_seconds=0, webhook_secret="s")
    found = _webhooks(cast("Registry", _Registry(uri, version)), wiring, 15)
    assert found.availability is Availability.UNAVAILABLE
