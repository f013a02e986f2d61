"""The registry lock, like Terraform's state lock: one apply at a time per --instance.

MLflow has no compare-and-set, but creating a registered model is atomic: of
many concurrent creators exactly one wins, the rest get RESOURCE_ALREADY_EXISTS.
So the lock is a registered model (created with its holder's tags in the same
call) and releasing it deletes the model. The holder renews a lease; a waiter
may take over a lease that ran out, and that takeover is atomic too: it creates
a marker model named after the expired holder's token, so of several takers
exactly one wins. Expiry compares wall clocks (keep them in sync, as with any
lease), with the whole lease as margin.

The holder fences itself: it counts its lease from the moment it last sent a renewal
that succeeded, on its own monotonic clock, and once that is a whole lease ago it stops
writing (it may have been taken over), says so at warning level, and never deletes a
lock it cannot be sure is still its own. A process found gone is taken over at once only
when its identity is unambiguous: same host name, same boot and same pid namespace
(containers share host names and reuse pids); otherwise its lease decides.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from controller.core.state import utc_text
from controller.errors import ControllerError, LockError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from controller.registry.seam import Registry

TOKEN_TAG = "aliasctl.lock.token"  # noqa: S105 - a tag name, not a secret
HOLDER_TAG = "aliasctl.lock.holder"
EXPIRES_TAG = "aliasctl.lock.expires"
TOOK_OVER_TAG = "aliasctl.lock.took_over_from"
DEFAULT_LEASE_SECONDS = 60.0
IDENTITY = ("host", "user", "pid", "since", "run_url", "boot", "pidns")
log = logging.getLogger("aliasctl.lock")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as its tags say."""

    token: str
    expires: float  # unix seconds
    host: str = "?"
    user: str = "?"
    pid: str = "?"
    since: str = "?"
    run_url: str = ""
    boot: str = ""  # the kernel's boot id: a pid means nothing across reboots
    pidns: str = ""  # the pid namespace: containers on one host share names, not pids

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> Holder:
        try:
            about = json.loads(tags.get(HOLDER_TAG, "{}"))
        except ValueError:
            about = {}
        try:
            expires = float(tags.get(EXPIRES_TAG, "0"))
        except ValueError:
            expires = 0.0
        return cls(
            token=tags.get(TOKEN_TAG, ""),
            expires=expires,
            **{k: str(about[k]) for k in IDENTITY if k in about},
        )

    def describe(self) -> str:
        where = f"{self.user}@{self.host} (pid {self.pid}"
        where += f", {self.run_url})" if self.run_url else ")"
        return f"{where} since {self.since}"

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def gone(self) -> bool:
        """Its process is known dead: it ran here (this host, boot and pid namespace) and no
        process has its pid now.

        An apply killed on a laptop, or one that could not release while the registry
        was down, is re-run at once instead of after its lease. Two containers share a
        host name and each has its own pid 7, so without all three the lease decides.
        """
        here = _machine_identity()
        if not (self.boot and self.pidns) or (self.boot, self.pidns) != here:
            return False
        if self.host != socket.gethostname() or not self.pid.isdigit():
            return False
        try:
            os.kill(int(self.pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False

    def why_free(self, now: float) -> str | None:
        """Why the lock may be taken over from this holder, None while it holds it."""
        if self.gone():
            return "its process on this host is gone"
        if self.expired(now):
            return "its lease ran out"
        return None


def _iso(moment: float) -> str:
    return utc_text(datetime.fromtimestamp(moment, UTC))


def _machine_identity() -> tuple[str, str]:
    """(boot id, pid namespace) of this process; empty where the system does not say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pidns = str(Path("/proc/self/ns/pid").readlink())
    except OSError:
        return "", ""
    return boot, pidns


def _about_me(env: Mapping[str, str], now: float) -> dict[str, str]:
    from controller.core.ci import ci_context  # noqa: PLC0415 - git only when locking

    boot, pidns = _machine_identity()
    about = {
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "pid": str(os.getpid()),
        "since": _iso(now),
        **({"boot": boot, "pidns": pidns} if boot and pidns else {}),
    }
    run_url = ci_context(env).get("run_url")
    if run_url:
        about["run_url"] = run_url
    return about


class RegistryLock:
    """Acquire with `acquire()`, release with `release()`; renews its lease in between."""

    def __init__(
        self,
        registry: Registry,
        name: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        env: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.registry = registry
        self.name = name
        self.lease = lease_seconds
        self.clock = clock
        self.monotonic = monotonic
        # When the lease we last confirmed began, on our own clock (see `lost`).
        self._confirmed_at = monotonic()
        self._renew_error = ""
        self.env = os.environ if env is None else env
        self.token = uuid.uuid4().hex
        self.took_over: Holder | None = None
        self.took_over_because = ""
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        # The lock model's tags as the holder's last read found them (see `vouch`).
        self._seen: tuple[dict[str, str] | None] | None = None

    def _tags(self) -> dict[str, str]:
        now = self.clock()
        return {
            TOKEN_TAG: self.token,
            HOLDER_TAG: json.dumps(_about_me(self.env, now), sort_keys=True),
            EXPIRES_TAG: f"{now + self.lease:.3f}",
        }

    def _marker(self, token: str) -> str:
        return f"{self.name}_takeover_{token}"

    def acquire(
        self, timeout_seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Take the lock, waiting up to `timeout_seconds`; LockError names the holder."""
        deadline = time.monotonic() + timeout_seconds
        description = "aliasctl registry lock: an apply holds it while this model exists"
        retried = False
        while True:
            # The lease starts before the request that claims it is sent: never later.
            self._confirmed_at = self.monotonic()
            if self.registry.create_model(self.name, self._tags(), description):
                break
            tags = self.registry.model_tags(self.name)  # one read: who holds it, maybe us
            if tags is not None and tags.get(TOKEN_TAG) == self.token:
                break  # our own create, whose answer was lost and retried
            if tags is None and not retried:
                retried = True
                continue  # released between our two calls: try again at once (once)
            holder = Holder.from_tags(tags or {})
            reason = holder.why_free(self.clock())
            if tags is not None and reason is not None and self._take_over(holder):
                self.took_over_because = reason
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockError(
                    f"the registry lock {self.name} is held by {holder.describe()}, lease until "
                    f"{_iso(holder.expires)}; wait for it with --lock-timeout SECONDS, or, if "
                    "its holder is gone, break it with `aliasctl unlock --force`"
                )
            sleep(min(POLL_SECONDS, remaining))
        self._start_renewing()

    def _take_over(self, expired: Holder) -> bool:
        """Of all waiters that saw this lease run out, exactly one creates the marker."""
        marker = self._marker(expired.token)
        if not self._create(marker, {TOKEN_TAG: self.token}, "aliasctl lock takeover"):
            return False
        current = self.registry.model_tags(self.name)
        if current is None or current.get(TOKEN_TAG) != expired.token:
            # Released and taken afresh since we looked: the expired holder is gone already.
            self.registry.delete_model(marker)
            return False
        tags = self._tags()
        # The lease first: until our token lands the lock looks held, never expired.
        self.registry.set_model_tag(self.name, EXPIRES_TAG, tags[EXPIRES_TAG])
        self.registry.set_model_tag(self.name, HOLDER_TAG, tags[HOLDER_TAG])
        self.registry.set_model_tag(self.name, TOOK_OVER_TAG, expired.token)
        self.registry.set_model_tag(self.name, TOKEN_TAG, self.token)
        self.took_over = expired
        return True

    def _create(self, name: str, tags: Mapping[str, str], description: str) -> bool:
        """Create a model; also True when it exists because our own earlier attempt made it.

        A create whose answer was lost (a connection cut after the request) is
        retried and then meets RESOURCE_ALREADY_EXISTS: the token tells whose it is.
        """
        if self.registry.create_model(name, tags, description):
            return True
        existing = self.registry.model_tags(name)
        return existing is not None and existing.get(TOKEN_TAG) == self.token

    def _start_renewing(self) -> None:
        self._renewer = threading.Thread(target=self._renew_loop, name="aliasctl-lock", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.renew()
            except ControllerError as error:  # retried next round; the lease is the bound
                self._renew_error = str(error)
                log.warning("renewing the registry lock %s failed: %s", self.name, error)
            if self._lost.is_set() or self._lapsed():
                log.warning("%s", self.lost())
                return

    def renew(self) -> None:
        sent = self.monotonic()
        tags = self.registry.model_tags(self.name)
        if tags is None or tags.get(TOKEN_TAG) != self.token:
            self._lost.set()
            return
        self.registry.set_model_tag(self.name, EXPIRES_TAG, f"{self.clock() + self.lease:.3f}")
        self._confirmed_at = sent
        self._renew_error = ""

    def _remaining(self) -> float:
        """Seconds of our last confirmed lease left, on our own monotonic clock."""
        return self.lease - (self.monotonic() - self._confirmed_at)

    def _lapsed(self) -> bool:
        return self._remaining() <= 0

    def lost(self) -> str | None:
        """Why writes must stop: someone else took the lock, or our lease may have run out."""
        if self._lost.is_set():
            return (
                f"lost the registry lock {self.name} (its lease ran out and another apply took it)"
            )
        if self._lapsed():
            why = f" (last error: {self._renew_error})" if self._renew_error else ""
            return (
                f"the lease of the registry lock {self.name} ran out: no renewal succeeded for "
                f"{self.lease:g} s{why}; another apply may hold it now"
            )
        return None

    def vouch(self, tags: Mapping[str, str] | None) -> None:
        """The lock model's tags (None: gone), as a read the holder made anyway just found
        them: its last request before leaving the lock, beside the models it wrote.

        `release` checks its token in these instead of reading the lock again, saving one
        request. Only for a read made after the holder's last write: the check is then as
        close to the delete as a read of its own would be.
        """
        self._seen = (None if tags is None else dict(tags),)

    def release(self) -> None:
        """Delete the lock model if it is surely still ours; never someone else's.

        MLflow has no compare-and-delete, so the check and the delete are two requests
        (the check may be the holder's last read, see `vouch`). A waiter takes over only
        once the lease has run out, so with half a lease left between them nobody can step
        in; with less, renew first (which re-checks the token), and a lease that ran out or
        cannot be renewed is left to expire.
        """
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        # Past the lease, a renewal could land on a taker's lock: leave it to expire then.
        seen, self._seen = self._seen, None
        if 0 < self._remaining() < self.lease / 2 and not self._lost.is_set():
            seen = None  # renewing writes the lock: what was seen before is not the last word
            try:
                self.renew()
            except ControllerError as error:
                self._renew_error = str(error)
        if self._lost.is_set() or self._remaining() < self.lease / 2:
            log.warning("left the registry lock %s to expire: %s", self.name, self.lost())
        else:
            tags = seen[0] if seen is not None else self.registry.model_tags(self.name)
            if tags is not None and tags.get(TOKEN_TAG) == self.token:
                self.registry.delete_model(self.name)
        if self.took_over is not None:
            self.registry.delete_model(self._marker(self.took_over.token))


def break_lock(registry: Registry, name: str) -> Holder | None:
    """`aliasctl unlock --force`: delete the lock whoever holds it; returns whose it was."""
    tags = registry.model_tags(name)
    if tags is None:
        return None
    registry.delete_model(name)
    return Holder.from_tags(tags)


def lock_name(registry: Registry, instance: str, models: Iterable[str]) -> str:
    """The lock model of this instance (beside the first declared model on Unity Catalog)."""
    from controller.registry.seam import state_model_name  # noqa: PLC0415

    return state_model_name("lock", instance, min(models, default=""), registry.display_uri)


@contextmanager
def held(
    registry: Registry,
    name: str,
    *,
    timeout_seconds: float,
    lease_seconds: float,
    say: Callable[[str], None],
) -> Iterator[RegistryLock]:
    """Hold the registry lock for the body; released however the body ends."""
    lock = RegistryLock(registry, name, lease_seconds=lease_seconds)
    lock.acquire(timeout_seconds)
    if lock.took_over is not None:
        whose = lock.took_over.describe()
        say(f"Took over the registry lock {name} from {whose}: {lock.took_over_because}.")
    try:
        yield lock
    finally:
        try:
            lock.release()
        except ControllerError as error:
            # The apply's own outcome stands; the lease bounds how long the lock outlives us.
            say(
                f"Could not release the registry lock {name} ({error}); it expires "
                f"{lease_seconds:g} s after its last renewal, or `aliasctl unlock --force`."
            )
