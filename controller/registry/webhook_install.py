"""What `aliasctl webhook install` should do, given the webhooks a server has (pure).

MLflow does not make webhook names unique, and a second webhook to the same URL
delivers every event twice. So a webhook with our URL or our name is ours: the
best match is kept and brought up to date, the other matches are deleted. Two
controllers sharing one server therefore need two names (`--name`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class WebhookInfo:
    """One webhook as the server lists it (MLflow never returns the secret)."""

    id: str
    name: str
    url: str
    events: frozenset[str]  # "entity.action"
    active: bool
    created_ms: int = 0

    def describe(self) -> str:
        state = "" if self.active else ", disabled"
        return f"{self.name} (id {self.id}) -> {self.url}{state}"


@dataclass(frozen=True)
class DeliveryTest:
    """MLflow's test delivery: what the target answered, or why nothing was delivered."""

    success: bool
    status: int | None
    body: str
    error: str


class Action(StrEnum):
    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class InstallPlan:
    action: Action
    keep: WebhookInfo | None  # None: create one
    duplicates: tuple[WebhookInfo, ...] = ()  # to delete
    changes: tuple[str, ...] = ()  # what an update changes, for people


def plan_install(
    existing: list[WebhookInfo], name: str, url: str, events: frozenset[str]
) -> InstallPlan:
    matches = [w for w in existing if w.url == url or w.name == name]
    if not matches:
        return InstallPlan(Action.CREATE, None)
    # Same URL and name first, then same URL (a rename), then same name (a move); oldest first.
    ranked = sorted(matches, key=lambda w: (w.url != url, w.name != name, w.created_ms, w.id))
    keep, duplicates = ranked[0], tuple(ranked[1:])
    changes = []
    if keep.name != name:
        changes.append(f"name {keep.name} -> {name}")
    if keep.url != url:
        changes.append(f"url {keep.url} -> {url}")
    if keep.events != events:
        changes.append(f"events {', '.join(sorted(keep.events))} -> {', '.join(sorted(events))}")
    if not keep.active:
        changes.append("status DISABLED -> ACTIVE")
    action = Action.UPDATE if changes else Action.UNCHANGED
    return InstallPlan(action, keep, duplicates, tuple(changes))


def select_for_test(
    existing: list[WebhookInfo], *, url: str | None, name: str
) -> list[WebhookInfo]:
    """The webhooks `webhook test` means: those with the URL given, else with the name."""
    if url is not None:
        return [w for w in existing if w.url == url]
    return [w for w in existing if w.name == name]
