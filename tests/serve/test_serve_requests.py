"""What a webhook's reconcile costs a real `mlflow server`, request by request.

Counted by a pass-through proxy (exact, no waiting on a log): a heal is 6 requests, a
cycle with nothing to do 3 (1 read first), and a promotion keeps its version pre-flight.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from controller.reconcile import DriftMode
from controller.registry.lock import lock_name
from controller.registry.mlflow.adapter import MlflowRegistry
from controller.serve.cycle import CycleReport, Settings, run_cycle
from controller.serve.status import CycleOutcome, EventKind, Snapshot
from tests.conftest import client_for, live_aliases, seed, write_spec
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("server")]

API = "/api/2.0/mlflow/"
CREATE = f"POST {API}registered-models/create"
SEARCH = f"GET {API}registered-models/search"
VERSIONS = f"GET {API}model-versions/search"
ALIAS = f"POST {API}registered-models/alias"
TAG = f"POST {API}registered-models/set-tag"
DELETE = f"DELETE {API}registered-models/delete"
GATE = "policies:\n  champion:\n    require_tags: {approved: 'yes'}\n"


class Serve:
    """One model, 3 versions, the file applied by a first full cycle; counts start after."""

    def __init__(self, server: MlflowServer, proxy: FaultProxy, tmp_path: Path, unique: str):
        self.model = f"{unique}-bikes"
        seed(server.backend_uri, {self.model: 3})
        self.spec = write_spec(tmp_path / "aliases.yaml", {self.model: {"champion": 2}})
        self.registry = MlflowRegistry(proxy.uri)
        self.settings = Settings(self.spec, unique, DriftMode.HEAL, interval_seconds=300)
        self.proxy = proxy
        self.hand = client_for(server.backend_uri)  # straight to the database: not counted
        self.snapshot = Snapshot(
            file=str(self.spec),
            registry=proxy.uri,
            instance=unique,
            drift_mode="heal",
            interval_seconds=300,
            started_at=datetime.now(UTC),
        )
        assert self.cycle(None).snapshot.last_outcome is CycleOutcome.SUCCESS
        assert live_aliases(server.backend_uri, self.model) == {"champion": 2}

    def cycle(self, scope: frozenset[str] | None) -> CycleReport:
        report = run_cycle(self.settings, self.registry, self.snapshot, scope, datetime.now(UTC))
        self.snapshot = report.snapshot
        return report

    def webhook(self, *, lock_first: bool = True) -> tuple[CycleReport, Counter[str]]:
        """The scoped cycle a webhook about the model runs, and its requests by endpoint."""
        self.proxy.counts.clear()
        at = datetime.now(UTC)
        scope = frozenset({self.model})
        report = run_cycle(
            self.settings, self.registry, self.snapshot, scope, at, lock_first=lock_first
        )
        self.snapshot = report.snapshot
        counted = Counter({k: v for k, v in self.proxy.counts.items() if f" {API}" in k})
        return report, counted

    def lock_gone(self) -> bool:
        return (
            self.registry.model_tags(lock_name(self.registry, self.settings.instance, [self.model]))
            is None
        )


def test_a_heal_from_a_webhook_makes_six_requests(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str
) -> None:
    with FaultProxy(mlflow_server.uri) as proxy:
        serve = Serve(mlflow_server, proxy, tmp_path, unique)
        serve.hand.set_registered_model_alias(serve.model, "champion", "1")
        report, requests = serve.webhook()
        assert live_aliases(mlflow_server.backend_uri, serve.model) == {"champion": 2}
        assert [e.kind for e in report.events][-1] is EventKind.DRIFT_HEALED
        # The lock; the model and the lock in one search; the alias; the record; the model
        # again with the lock (the write's check, and the release's); the lock's delete.
        assert requests == {CREATE: 1, SEARCH: 2, ALIAS: 1, TAG: 1, DELETE: 1}
        assert report.written == ((serve.model, "champion", 2),)
        assert serve.lock_gone()


def test_a_heal_is_neither_pre_flighted_nor_gated(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str
) -> None:
    """A heal puts back a version aliasctl set and checked, and is exempt from gates: the
    gate this version fails now holds back no heal, and costs no read of versions."""
    with FaultProxy(mlflow_server.uri) as proxy:
        serve = Serve(mlflow_server, proxy, tmp_path, unique)
        serve.spec.write_text(serve.spec.read_text() + GATE)
        serve.hand.set_registered_model_alias(serve.model, "champion", "3")
        report, requests = serve.webhook()
        assert live_aliases(mlflow_server.backend_uri, serve.model) == {"champion": 2}
        assert report.snapshot.last_outcome is CycleOutcome.SUCCESS
        assert VERSIONS not in requests
        assert sum(requests.values()) == 6


def test_a_webhook_with_nothing_to_do_makes_three_requests_or_one_read_first(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str
) -> None:
    with FaultProxy(mlflow_server.uri) as proxy:
        serve = Serve(mlflow_server, proxy, tmp_path, unique)
        report, requests = serve.webhook()  # a managed alias named, set as the file says
        assert report.events == ()
        assert requests == {CREATE: 1, SEARCH: 1, DELETE: 1}
        assert serve.lock_gone()
        # A new version, or an alias aliasctl does not manage: read first, no lock.
        serve.hand.set_registered_model_alias(serve.model, "staging", "3")
        report, requests = serve.webhook(lock_first=False)
        assert report.events == ()
        assert requests == {SEARCH: 1}
        # Read first, and then there is a heal: the read again under the lock (7 in all).
        serve.hand.set_registered_model_alias(serve.model, "champion", "1")
        report, requests = serve.webhook(lock_first=False)
        assert live_aliases(mlflow_server.backend_uri, serve.model)["champion"] == 2
        assert requests == {CREATE: 1, SEARCH: 3, ALIAS: 1, TAG: 1, DELETE: 1}


def test_a_promotion_from_a_webhook_keeps_its_version_pre_flight(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str
) -> None:
    with FaultProxy(mlflow_server.uri) as proxy:
        serve = Serve(mlflow_server, proxy, tmp_path, unique)
        write_spec(serve.spec, {serve.model: {"champion": 9}})  # not registered (yet)
        report, requests = serve.webhook()
        assert live_aliases(mlflow_server.backend_uri, serve.model) == {"champion": 2}
        assert report.snapshot.last_outcome is CycleOutcome.BLOCKED
        assert "version 9 does not exist" in report.snapshot.problems[0].text
        assert requests == {CREATE: 1, SEARCH: 1, VERSIONS: 1, DELETE: 1}

        write_spec(serve.spec, {serve.model: {"champion": 3}})
        report, requests = serve.webhook()
        assert live_aliases(mlflow_server.backend_uri, serve.model) == {"champion": 3}
        assert requests == {CREATE: 1, SEARCH: 2, VERSIONS: 1, ALIAS: 1, TAG: 1, DELETE: 1}
        assert serve.lock_gone()
