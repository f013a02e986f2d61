"""One root error type; each subclass carries typed fields and builds its own message.

The CLI turns any ControllerError into one red line on stderr and exit code 1.
Anything else is a bug and gets a traceback only with --debug.
"""

from __future__ import annotations

from dataclasses import dataclass
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


class RegistryError(ControllerError):
    """The registry could not be reached or answered with an error."""

    def __init__(self, uri: str, detail: str, *, unreachable: bool = False):
        self.uri = uri
        self.detail = detail
        self.unreachable = unreachable
        super().__init__(f"registry {uri}: {detail}")


class PreflightError(ControllerError):
    """The plan cannot be applied: nothing was written."""

    def __init__(self, problems: tuple[str, ...]):
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        body = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"pre-flight failed, nothing was written ({len(problems)} {noun}):\n{body}"
        )
