"""Whether MLflow can tell `serve` of alias moves by webhook, or `serve` only polls (pure).

Registry webhooks came with MLflow 3.3 and are sent only by an `mlflow server` on a SQL
backend: every 2.x server, 3.0 to 3.2, Databricks and SageMaker's managed MLflow have
none, and there `serve` notices a hand move at its next --interval. Said once at start
and kept on the status page and in `/status.json`, so nobody waits for a webhook that
cannot come.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from controller.registry.seam import WEBHOOKS_SINCE
from controller.registry.uris import ARN_SCHEME

if TYPE_CHECKING:
    from controller.registry.seam import ServerVersion

SINCE = f"{WEBHOOKS_SINCE.major}.{WEBHOOKS_SINCE.minor}"
SECRET_ENV = "ALIASCTL_WEBHOOK_SECRET"  # noqa: S105 - the variable's name


class Availability(StrEnum):
    AVAILABLE = "available"  # the server sends them (if `aliasctl webhook install` ran)
    UNAVAILABLE = "unavailable"  # it cannot: polling alone
    UNKNOWN = "unknown"  # its version could not be told, or a database is read directly


@dataclass(frozen=True)
class WebhookSupport:
    availability: Availability
    where: str  # what was found: "on MLflow 2.22.5 (they need 3.3 or later)"
    server_version: str | None
    secret_set: bool  # deliveries are verified, so accepted, only with a secret
    interval_seconds: float

    @property
    def worrying(self) -> bool:
        """Webhooks that could come and would all be refused: the secret is missing."""
        return self.availability is Availability.AVAILABLE and not self.secret_set

    @property
    def summary(self) -> str:
        """One line for the log and the page."""
        polling = f"polling every {self.interval_seconds:g} s"
        if self.availability is Availability.UNAVAILABLE:
            return f"not available {self.where}: {polling}"
        if not self.secret_set:
            refused = f"{SECRET_ENV} is not set, so every delivery is refused"
            if self.availability is Availability.AVAILABLE:
                return f"available {self.where}, but {refused}: {polling}"
            return f"unknown {self.where}: {polling} ({refused})"
        if self.availability is Availability.AVAILABLE:
            return (
                f"available {self.where}: signed deliveries accepted, and a full reconcile "
                f"every {self.interval_seconds:g} s"
            )
        return f"unknown {self.where}: {polling}; signed deliveries accepted"

    def to_json(self) -> dict[str, object]:
        return {
            "state": str(self.availability),
            "server_version": self.server_version,
            "needs": SINCE,
            "secret_set": self.secret_set,
            "interval_seconds": self.interval_seconds,
            "summary": self.summary,
        }


def webhook_support(  # noqa: PLR0911 - one answer per kind of registry
    scheme: str,
    is_remote: bool,
    version: ServerVersion | None,
    *,
    secret_set: bool,
    interval_seconds: float,
) -> WebhookSupport:
    """What a registry of this scheme and server version offers; `version` is the server's
    (None: unknown; ignored for a database read directly, whose server may be any)."""

    def found(availability: Availability, where: str) -> WebhookSupport:
        shown = str(version) if version is not None and is_remote else None
        return WebhookSupport(availability, where, shown, secret_set, interval_seconds)

    if scheme == ARN_SCHEME:
        running = f", MLflow {version}" if version is not None else ""
        return found(Availability.UNAVAILABLE, f"on SageMaker's managed MLflow{running}")
    if scheme.startswith("databricks"):
        return found(Availability.UNAVAILABLE, "on Databricks")
    if scheme == "file":
        return found(Availability.UNAVAILABLE, "on MLflow's file store (they need a SQL backend)")
    if not is_remote:
        return found(
            Availability.UNKNOWN,
            f"for a database read directly (an MLflow server {SINCE} or later in front of "
            "it may send them)",
        )
    if version is None:
        return found(Availability.UNKNOWN, "(the server did not say its MLflow version)")
    if version < WEBHOOKS_SINCE:
        return found(Availability.UNAVAILABLE, f"on MLflow {version} (they need {SINCE} or later)")
    return found(Availability.AVAILABLE, f"on MLflow {version}")
