"""Analysis after a promotion, judged (pure): measurements, phases and what to do next.

Argo Rollouts' rules, for model aliases: a measurement is Successful, Failed,
Inconclusive (the provider answered, no condition decided) or Error (the
provider could not answer). A metric fails when its failed measurements pass
`failure_limit`, is inconclusive past `inconclusive_limit`, errs past
`consecutive_error_limit` errors in a row, and succeeds once `count`
measurements are in within those limits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """One alias just moved to `version`, to be analysed; `previous` is its last verified
    version (None: none yet)."""

    model: str
    alias: str
    version: int
    previous: int | None = None

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model}/{self.version}"

    def template_values(self) -> dict[str, str]:
        """What `{{name}}` in a query, URL, filter or argv is replaced by."""
        return {
            "model": self.model,
            "alias": self.alias,
            "version": str(self.version),
            "previous_version": "" if self.previous is None else str(self.previous),
            "model_uri": self.model_uri,
        }
