"""What a registry failure means, and how to ride through the transient ones (pure: no mlflow).

MLflow's own HTTP retries stop after a few attempts and do not cover every way a
write can fail in flight (a connection cut after the request was forwarded, a
load balancer's 503 while a server restarts). Every write aliasctl makes is
idempotent (set or delete an alias, set or delete a tag), so the registry seam
retries transient failures with jittered backoff within the --timeout budget.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from controller.errors import Fault, RegistryError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

# MLflow error codes (MlflowException.error_code) by what they mean for us.
_CODES = {
    "UNAUTHENTICATED": Fault.AUTH,
    "CUSTOMER_UNAUTHORIZED": Fault.AUTH,
    "PERMISSION_DENIED": Fault.PERMISSION,
    "RESOURCE_DOES_NOT_EXIST": Fault.NOT_FOUND,
    "NOT_FOUND": Fault.NOT_FOUND,
    "RESOURCE_ALREADY_EXISTS": Fault.EXISTS,
    "TEMPORARILY_UNAVAILABLE": Fault.TRANSIENT,
    "DEADLINE_EXCEEDED": Fault.TRANSIENT,
    "REQUEST_LIMIT_EXCEEDED": Fault.TRANSIENT,
    "RESOURCE_EXHAUSTED": Fault.TRANSIENT,
}
TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})

_REFUSED = re.compile(
    r"Connection refused|NewConnectionError|Name or service not known|nodename nor servname"
    r"|No route to host|Network is unreachable|ConnectTimeoutError|Failed to resolve"
    r"|timeout expired",
    re.IGNORECASE,
)
_CUT = re.compile(
    r"RemoteDisconnected|Connection aborted|Connection reset|ProtocolError|IncompleteRead"
    r"|ChunkedEncodingError|BrokenPipe",
    re.IGNORECASE,
)
_SILENT = re.compile(r"ReadTimeoutError|Read timed out", re.IGNORECASE)
# A database backend's momentary conflicts (two first sets of one alias, SQLite's writer lock).
_DATABASE_TRANSIENT = re.compile(
    r"IntegrityError|UniqueViolation|database is locked|deadlock detected|could not serialize",
    re.IGNORECASE,
)
_DATABASE_LOGIN = re.compile(
    r"password authentication failed|Access denied for user|no password supplied", re.IGNORECASE
)
_STATUS = re.compile(r"too many (\d{3}) error responses|error code (\d{3}) != 2\d\d")


@dataclass(frozen=True)
class Diagnosis:
    fault: Fault
    detail: str  # one line for people; never the raw body of a response
    status: int | None = None


def diagnose(error_code: str, text: str) -> Diagnosis:  # noqa: PLR0911 - one answer per kind
    """Classify one failed registry call from its MLflow error code and message."""
    status_match = _STATUS.search(text)
    status = int(next(g for g in status_match.groups() if g)) if status_match else None
    if error_code in _CODES and _CODES[error_code] is not Fault.TRANSIENT:
        return Diagnosis(_CODES[error_code], _first_line(text), status)
    if status is not None and status in TRANSIENT_STATUSES:
        return Diagnosis(Fault.TRANSIENT, f"the registry answered {status}", status)
    if status in {401, 403}:
        fault = Fault.AUTH if status == 401 else Fault.PERMISSION
        return Diagnosis(fault, f"the registry answered {status}", status)
    if _DATABASE_LOGIN.search(text):
        return Diagnosis(Fault.AUTH, "the database refused the credentials")
    if _REFUSED.search(text):
        return Diagnosis(Fault.UNREACHABLE, "cannot reach the registry: it refused connections")
    if _CUT.search(text):
        return Diagnosis(Fault.TRANSIENT, "the connection was cut mid-request")
    if _SILENT.search(text):
        return Diagnosis(Fault.TRANSIENT, "cannot reach the registry: no answer in time")
    if _CODES.get(error_code) is Fault.TRANSIENT:
        return Diagnosis(Fault.TRANSIENT, _first_line(text), status)
    if _DATABASE_TRANSIENT.search(text):
        return Diagnosis(Fault.TRANSIENT, "a database conflict (retried)")
    if re.search(r"timed out", text, re.IGNORECASE):
        return Diagnosis(Fault.UNREACHABLE, "cannot reach the registry: no answer in time")
    return Diagnosis(Fault.REFUSED, _first_line(text), status)


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:500] if lines else "unknown error"


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff, bounded by a total time budget per write."""

    budget_seconds: float = 30.0
    first_delay: float = 0.25
    max_delay: float = 4.0

    def delays(self, rng: random.Random) -> list[float]:
        """Sleeps between attempts ("full jitter"), until the budget would be spent."""
        spent, ceiling = 0.0, self.first_delay
        delays: list[float] = []
        while True:
            delay = rng.uniform(ceiling / 2, ceiling)
            if spent + delay > self.budget_seconds:
                return delays
            delays.append(delay)
            spent += delay
            ceiling = min(ceiling * 2, self.max_delay)


def retry_transient(
    write: Callable[[], T],
    policy: RetryPolicy,
    on_retry: Callable[[RegistryError], None],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Run an idempotent write; retry only transient faults, within the budget."""
    deadline = clock() + policy.budget_seconds
    for delay in [*policy.delays(rng or random.Random()), None]:  # noqa: S311 - jitter, not crypto
        try:
            return write()
        except RegistryError as error:
            if not error.transient or delay is None or clock() + delay > deadline:
                raise
            on_retry(error)
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
