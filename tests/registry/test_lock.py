"""The registry lock: one apply at a time, leases, takeover, unlock --force."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest

from controller.apply import apply_plan
from controller.errors import Fault, LockError, RegistryError
from controller.reconcile import prepare_plan
from controller.registry.lock import (
    EXPIRES_TAG,
    HOLDER_TAG,
    TOKEN_TAG,
    RegistryLock,
    _machine_identity,
    break_lock,
)
from tests.conftest import client_for, invoke, live_aliases, seed, write_spec
from tests.support.fake_registry import FakeRegistry

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

LOCK = "aliasctl.lock.default"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_second_apply_fails_at_once_naming_the_holder() -> None:
    registry = FakeRegistry()
    ci = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://ci",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "7",
    }
    first = RegistryLock(registry, LOCK, env=ci)
    first.acquire()
    with pytest.raises(LockError) as refused:
        RegistryLock(registry, LOCK).acquire(timeout_seconds=0)
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message
    assert "https://ci/o/r/actions/runs/7" in message
    assert "unlock --force" in message
    first.release()
    assert registry.model_tags(LOCK) is None


def test_waiting_apply_gets_the_lock_when_it_is_released() -> None:
    registry = FakeRegistry()
    first = RegistryLock(registry, LOCK)
    first.acquire()
    second = RegistryLock(registry, LOCK)
    waited: list[float] = []

    def release_while_waiting(seconds: float) -> None:
        waited.append(seconds)
        first.release()

    second.acquire(timeout_seconds=30, sleep=release_while_waiting)
    assert len(waited) == 1
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == second.token
    second.release()


def test_expired_lease_is_taken_over_by_exactly_one_waiter() -> None:
    registry = FakeRegistry()
    clock = Clock()
    dead = RegistryLock(registry, LOCK, lease_seconds=60, clock=clock)
    dead.acquire()
    dead._stop.set()  # the holder died: nobody renews
    clock.now += 61
    takers = [RegistryLock(registry, LOCK, clock=clock) for _ in range(8)]
    won: list[RegistryLock] = []

    def take(lock: RegistryLock) -> None:
        try:
            lock.acquire(timeout_seconds=0)
        except LockError:
            return
        won.append(lock)

    threads = [threading.Thread(target=take, args=(t,)) for t in takers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert won[0].took_over is not None
    assert won[0].took_over.token == dead.token
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == won[0].token
    # The dead holder, back to life, finds out and never deletes the new holder's lock.
    dead.renew()
    assert dead.lost()
    dead.release()
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == won[0].token
    won[0].release()
    assert registry.model_tags(LOCK) is None


def test_a_live_lease_is_not_taken_over() -> None:
    registry = FakeRegistry()
    clock = Clock()
    holder = RegistryLock(registry, LOCK, lease_seconds=60, clock=clock)
    holder.acquire()
    clock.now += 59
    with pytest.raises(LockError):
        RegistryLock(registry, LOCK, clock=clock).acquire(timeout_seconds=0)
    holder.renew()
    clock.now += 30  # renewed: 89 s after taking it, still held
    with pytest.raises(LockError):
        RegistryLock(registry, LOCK, clock=clock).acquire(timeout_seconds=0)
    assert float((registry.model_tags(LOCK) or {})[EXPIRES_TAG]) > clock.now
    holder.release()


def test_an_apply_that_lost_its_lock_stops_writing() -> None:
    registry = FakeRegistry.with_models({f"m{i}": 2 for i in range(10)})
    declared = {f"m{i}": {"champion": 2} for i in range(10)}
    lock = RegistryLock(registry, LOCK)
    lock.acquire()
    break_lock(registry, LOCK)
    lock.renew()
    plan = prepare_plan(declared, registry)
    result = apply_plan(plan, declared, registry, must_stop=lock.lost)
    assert not result.ok
    assert "lost the registry lock" in result.stopped
    assert not any(aliases for aliases in registry.aliases.values())


def test_unlock_force_names_the_holder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sqlite_uri: str
) -> None:
    seed(sqlite_uri, {"bikes": 1})
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 1}})
    client_for(sqlite_uri).create_registered_model(
        LOCK,
        tags={
            TOKEN_TAG: "abc",
            EXPIRES_TAG: str(time.time() + 3600),
            "aliasctl.lock.holder": '{"host": "ci-7", "user": "bot"}',
        },
    )
    code, _, err = invoke(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)
    assert code == 1
    assert "held by bot@ci-7" in err
    assert live_aliases(sqlite_uri, "bikes") == {}

    code, out, _ = invoke(capsys, "unlock", str(spec), "--registry-uri", sqlite_uri)
    assert code == 1  # --force is required
    code, out, _ = invoke(capsys, "unlock", str(spec), "--force", "--registry-uri", sqlite_uri)
    assert code == 0
    assert "Broke the registry lock aliasctl.lock.default, held by bot@ci-7" in out
    code, _, _ = invoke(capsys, "apply", str(spec), "--registry-uri", sqlite_uri)
    assert code == 0
    assert live_aliases(sqlite_uri, "bikes") == {"champion": 1}
    # The lock is gone again after the apply, and plan never takes it.
    assert client_for(sqlite_uri).search_registered_models(f"name = '{LOCK}'") == []


@pytest.mark.server
@pytest.mark.xdist_group("server")
def test_concurrent_applies_of_different_files_never_mix(
    mlflow_server: MlflowServer, tmp_path: Path, unique: str
) -> None:
    models = [f"{unique}-m{i}" for i in range(12)]
    seed(mlflow_server.uri, dict.fromkeys(models, 4))
    files = {
        "a": write_spec(tmp_path / "a.yaml", {m: {"champion": 1, "challenger": 2} for m in models}),
        "b": write_spec(tmp_path / "b.yaml", {m: {"champion": 3, "challenger": 4} for m in models}),
    }
    instance = f"lock-{unique}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "ALIASCTL_INSTANCE": instance}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controller",
                "apply",
                str(files["ab"[i % 2]]),
                "--registry-uri",
                mlflow_server.uri,
                "--allow-delete",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(6)
    ]
    outcomes = [(run.wait(timeout=300), run.stderr.read() if run.stderr else "") for run in runs]
    for run in runs:
        if run.stdout:
            run.stdout.close()
        if run.stderr:
            run.stderr.close()
    winners = [code for code, _ in outcomes if code == 0]
    losers = [err for code, err in outcomes if code != 0]
    assert winners, outcomes
    for err in losers:
        assert "is held by" in err, err
        assert "Traceback" not in err
    wanted = [{"champion": 1, "challenger": 2}, {"champion": 3, "challenger": 4}]
    for model in models:
        assert live_aliases(mlflow_server.uri, model) in wanted
    lock = f"aliasctl.lock.{instance}"
    assert client_for(mlflow_server.uri).search_registered_models(f"name = '{lock}'") == []


class LostAnswers(FakeRegistry):
    """Every create succeeds but its answer is lost, so the retry meets 'already exists'."""

    def create_model(self, name: str, tags: Mapping[str, str], description: str) -> bool:
        super().create_model(name, tags, description)
        return False


def test_a_create_whose_answer_was_lost_still_takes_the_lock() -> None:
    registry = LostAnswers()
    lock = RegistryLock(registry, LOCK)
    lock.acquire(timeout_seconds=0)
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == lock.token
    lock.release()
    assert registry.model_tags(LOCK) is None


def test_a_takeover_whose_answer_was_lost_still_wins() -> None:
    registry = LostAnswers()
    clock = Clock()
    dead = RegistryLock(registry, LOCK, clock=clock)
    dead.acquire()
    dead._stop.set()
    clock.now += 61
    taker = RegistryLock(registry, LOCK, clock=clock)
    taker.acquire(timeout_seconds=0)
    assert taker.took_over is not None
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == taker.token


def test_a_lock_whose_process_on_this_host_is_gone_is_taken_over_at_once() -> None:
    registry = FakeRegistry()
    dead = subprocess.Popen(["true"])
    dead.wait()
    boot, pidns = _machine_identity()
    holder = {"host": socket.gethostname(), "user": "bot", "pid": str(dead.pid), "since": "x"}
    registry.create_model(
        LOCK,
        {
            TOKEN_TAG: "old",
            EXPIRES_TAG: str(time.time() + 3600),
            HOLDER_TAG: json.dumps({**holder, "boot": boot, "pidns": pidns}),
        },
        "",
    )
    lock = RegistryLock(registry, LOCK)
    lock.acquire(timeout_seconds=0)
    assert lock.took_over is not None
    assert lock.took_over_because == "its process on this host is gone"
    lock.release()


@pytest.mark.parametrize(
    "elsewhere",
    [
        {"pidns": "pid:[1]"},  # another container with the same host name
        {"boot": "another-boot"},  # the same host, rebooted since
        {"boot": None, "pidns": None},  # a holder that did not say (an older aliasctl)
    ],
)
def test_a_holder_whose_pid_is_ambiguous_keeps_its_lease(elsewhere: dict[str, str | None]) -> None:
    registry = FakeRegistry()
    dead = subprocess.Popen(["true"])
    dead.wait()
    boot, pidns = _machine_identity()
    about = {"host": socket.gethostname(), "user": "bot", "pid": str(dead.pid), "since": "x"}
    about |= {k: v for k, v in {"boot": boot, "pidns": pidns, **elsewhere}.items() if v}
    tags = {TOKEN_TAG: "old", EXPIRES_TAG: str(time.time() + 3600), HOLDER_TAG: json.dumps(about)}
    registry.create_model(LOCK, tags, "")
    with pytest.raises(LockError, match="is held by bot@"):
        RegistryLock(registry, LOCK).acquire(timeout_seconds=0)
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == "old"


class _FailingRenewals(FakeRegistry):
    """The registry stops answering the holder's renewals (a partition, an outage)."""

    down = False

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        if self.down:
            raise RegistryError(self.display_uri, "connection refused", fault=Fault.UNREACHABLE)
        super().set_model_tag(name, key, value)


def test_a_holder_whose_renewals_fail_stops_writing_once_its_lease_is_over() -> None:
    registry = _FailingRenewals.with_models({f"m{i}": 2 for i in range(5)})
    declared = {f"m{i}": {"champion": 2} for i in range(5)}
    ticks = Clock(0.0)
    lock = RegistryLock(registry, LOCK, lease_seconds=60, monotonic=ticks)
    lock.acquire()
    lock._stop.set()  # renewals driven by hand here
    registry.down = True
    ticks.now = 40
    with pytest.raises(RegistryError):
        lock.renew()
    assert lock.lost() is None  # 20 s of the lease are left: writes may go on
    ticks.now = 60  # a whole lease since the last renewal that succeeded

    assert lock.lost() == (
        f"the lease of the registry lock {LOCK} ran out: no renewal succeeded for 60 s; "
        "another apply may hold it now"
    )
    result = apply_plan(prepare_plan(declared, registry), declared, registry, must_stop=lock.lost)
    assert not result.ok
    assert "ran out" in result.stopped
    assert not any(aliases for aliases in registry.aliases.values())
    registry.down = False
    lock.release()  # it cannot be sure the lock is still its own: it leaves it to expire
    assert registry.model_tags(LOCK) is not None


def test_release_renews_first_when_little_of_the_lease_is_left() -> None:
    registry = FakeRegistry()
    ticks = Clock(0.0)
    lock = RegistryLock(registry, LOCK, lease_seconds=60, monotonic=ticks)
    lock.acquire()
    lock._stop.set()
    ticks.now = 50  # 10 s left: a takeover could come between the check and the delete
    lock.release()
    assert registry.model_tags(LOCK) is None  # renewed, then safely deleted


class _CountingReads(FakeRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.tag_reads = 0

    def model_tags(self, name: str) -> dict[str, str] | None:
        self.tag_reads += 1
        return super().model_tags(name)


def test_release_checks_its_token_in_a_read_vouched_for_instead_of_reading_again() -> None:
    registry = _CountingReads()
    lock = RegistryLock(registry, LOCK)
    lock.acquire()
    lock.vouch(registry.model_tags(LOCK))  # a serve cycle's last read, the lock beside
    before = registry.tag_reads
    lock.release()
    assert registry.tag_reads == before  # one request saved: the delete alone
    assert registry.model_tags(LOCK) is None


def test_a_vouched_read_naming_another_holder_or_none_never_deletes_the_lock() -> None:
    registry = FakeRegistry()
    first = RegistryLock(registry, LOCK)
    first.acquire()
    break_lock(registry, LOCK)  # `unlock --force` while it ran, and another apply took it
    second = RegistryLock(registry, LOCK)
    second.acquire()
    first.vouch(registry.model_tags(LOCK))
    first.release()
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == second.token
    third = RegistryLock(registry, LOCK)  # a read that found no lock at all
    third.vouch(None)
    third.release()
    assert (registry.model_tags(LOCK) or {})[TOKEN_TAG] == second.token
    second.release()


def test_a_vouched_read_is_not_the_last_word_once_release_renews() -> None:
    registry = _CountingReads()
    ticks = Clock(0.0)
    lock = RegistryLock(registry, LOCK, lease_seconds=60, monotonic=ticks)
    lock.acquire()
    lock._stop.set()
    lock.vouch(registry.model_tags(LOCK))
    ticks.now = 50  # the renewal writes the lock, then its token is read again
    before = registry.tag_reads
    lock.release()
    assert registry.tag_reads == before + 2  # the renewal's read, and the check's own
    assert registry.model_tags(LOCK) is None


class _Unreadable(FakeRegistry):
    """A lock model that cannot be created, yet is never found either."""

    def create_model(self, name: str, tags: Mapping[str, str], description: str) -> bool:
        return False

    def model_tags(self, name: str) -> dict[str, str] | None:
        return None


def test_a_lock_that_is_neither_creatable_nor_readable_times_out_instead_of_spinning() -> None:
    registry = _Unreadable()
    lock = RegistryLock(registry, "aliasctl.lock.default")
    done: list[BaseException] = []

    def acquire() -> None:
        try:
            lock.acquire(0.5)
        except LockError as error:
            done.append(error)

    waiter = threading.Thread(target=acquire, daemon=True)
    waiter.start()
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert len(done) == 1
