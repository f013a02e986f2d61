"""One root error type; each subclass carries typed fields and builds its own message.

The CLI turns any ControllerError into one red line on stderr and exit code 1.
Anything else is a bug and gets a traceback only with --debug.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class ControllerError(Exception):
    """Expected failure: bad input, unreachable registry, refused plan."""


@dataclass(frozen=True)
class Location:
    """Where in a file a problem is: 1-based line and column, and the key path."""

    path: str
    line: int
    column: int
    key: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        return f"{where}: {self.key}" if self.key else where


@dataclass(frozen=True)
class SpecIssue:
    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class SpecError(ControllerError):
    """The desired-state file is unreadable or invalid; lists every problem found."""

    def __init__(self, path: Path | str, issues: list[SpecIssue] | None = None, reason: str = ""):
        self.path = str(path)
        self.issues = tuple(issues or ())
        self.reason = reason
        super().__init__(self._message())

    def _message(self) -> str:
        if not self.issues:
            return f"{self.path}: {self.reason}"
        noun = "problem" if len(self.issues) == 1 else "problems"
        lines = [f"{self.path}: {len(self.issues)} {noun}"]
        lines += [f"  {issue}" for issue in self.issues]
        return "\n".join(lines)


class Fault(StrEnum):
    """What kind of registry failure an error is: it decides retrying and the breaker."""

    UNREACHABLE = "unreachable"  # connection refused, no route, DNS: nothing answers
    TRANSIENT = "transient"  # 429/502/503/504, a cut connection, a read timeout: retry
    AUTH = "auth"  # 401: the credentials are wrong or missing
    PERMISSION = "permission"  # 403: the credentials lack a permission
    NOT_FOUND = "not_found"
    EXISTS = "exists"  # a create that met an existing object (the lock's race is decided so)
    REFUSED = "refused"  # any other answer: a bad request, a conflict, a server bug


class RegistryError(ControllerError):
    """The registry could not be reached or answered with an error."""

    def __init__(self, uri: str, detail: str, *, fault: Fault = Fault.REFUSED):
        self.uri = uri
        self.detail = detail
        self.fault = fault
        super().__init__(f"registry {uri}: {detail}")

    @property
    def unreachable(self) -> bool:
        return self.fault is Fault.UNREACHABLE

    @property
    def transient(self) -> bool:
        return self.fault is Fault.TRANSIENT


class CopyError(RegistryError):
    """A version could not be copied into another environment: the source version is missing
    or not ready, a registry cannot be reached, or the target refused a write. `uri` is the
    (display URI of the) registry that failed, `source` names the version being copied."""

    def __init__(
        self, uri: str, source: str, model: str, detail: str, *, fault: Fault = Fault.REFUSED
    ):
        self.source = source
        self.model = model
        super().__init__(uri, f"copying {source} into {model}: {detail}", fault=fault)


class LockError(ControllerError):
    """The registry lock is held by someone else, or was lost."""


class PreflightError(ControllerError):
    """The plan cannot be applied: nothing was written."""

    def __init__(self, problems: tuple[str, ...]):
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        body = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"pre-flight failed, nothing was written ({len(problems)} {noun}):\n{body}"
        )


class ProviderError(ControllerError):
    """An analysis provider could not answer (Argo's Error, not Failed): Prometheus down, a
    bad answer, a command that could not run. Providers redact `detail` before raising."""

    def __init__(self, provider: str, detail: str):
        self.provider = provider
        self.detail = detail
        super().__init__(f"{provider}: {detail}")


class NoHoldError(ControllerError):
    """`hold release` named an alias with no hold (or a model that does not exist)."""

    def __init__(
        self, registry: str, model: str, alias: str, *, exists: bool, others: tuple[str, ...] = ()
    ):
        self.registry = registry
        self.model = model
        self.alias = alias
        self.exists = exists
        self.others = others
        if not exists:
            why = f"registered model {model!r} does not exist"
        else:
            held = ", ".join(f"{model}@{a}" for a in others) if others else "none"
            why = f"no hold on it (holds on {model}: {held})"
        super().__init__(f"{model}@{alias}: nothing to release in {registry}: {why}")
