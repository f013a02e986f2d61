"""MLflow's webhook payload read into a plain event (pure: never raises on what it is sent).

The body is `{"entity": ..., "action": ..., "timestamp": ..., "data": {...}}`
(mlflow/webhooks/delivery.py; a `workspace` key too when workspaces are on).
An alias set (also a move, or a re-set to the same version) arrives as
`model_version_alias.created` with `data: {name, alias, version}`, the version a
string; a delete as `.deleted` with `{name, alias}`. No "who" and no previous
version: the event only says which model to look at again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

ALIAS_ENTITY = "model_version_alias"
VERSION_ENTITY = "model_version"
ALIAS_EVENTS = (f"{ALIAS_ENTITY}.created", f"{ALIAS_ENTITY}.deleted")
# What `aliasctl webhook install` subscribes to: alias moves (drift), and new versions, so
# that a merged promotion waiting for its version is applied as soon as it is registered.
SUBSCRIBED_EVENTS = (*ALIAS_EVENTS, f"{VERSION_ENTITY}.created")


class DeliveryKind(StrEnum):
    ALIAS_SET = "alias_set"
    ALIAS_DELETED = "alias_deleted"
    VERSION_CREATED = "version_created"
    IGNORED = "ignored"  # a well-formed event of another kind (a new version, a tag, a prompt)


@dataclass(frozen=True)
class WebhookEvent:
    kind: DeliveryKind
    entity: str
    action: str
    model: str | None = None
    alias: str | None = None
    version: int | None = None  # set events only
    timestamp: str = ""  # MLflow's ISO time of sending, as sent

    @property
    def ignored(self) -> bool:
        return self.kind is DeliveryKind.IGNORED

    def describe(self) -> str:
        """One line for the log."""
        if self.ignored:
            return f"ignored {self.entity}.{self.action}"
        if self.kind is DeliveryKind.VERSION_CREATED:
            return f"version created: {self.model} v{self.version}"
        to = f" -> {self.version}" if self.version is not None else ""
        what = "set" if self.kind is DeliveryKind.ALIAS_SET else "deleted"
        return f"alias {what}: {self.model}@{self.alias}{to}"


_KINDS = {
    (ALIAS_ENTITY, "created"): DeliveryKind.ALIAS_SET,
    (ALIAS_ENTITY, "deleted"): DeliveryKind.ALIAS_DELETED,
    (VERSION_ENTITY, "created"): DeliveryKind.VERSION_CREATED,
}


def parse_event(body: bytes) -> WebhookEvent | None:
    """The event in a delivery body; None when it is not an MLflow event at all.

    An event we act on without a usable model name (or, for an alias, alias name) is
    junk too (None): acting on half an event would reconcile the wrong model.
    """
    envelope = _envelope(body)
    if envelope is None:
        return None
    entity, action, data, timestamp = envelope
    kind = _KINDS.get((entity, action))
    if kind is None:
        return WebhookEvent(DeliveryKind.IGNORED, entity, action, timestamp=timestamp)
    model = _name(data.get("name"))
    alias = _name(data.get("alias")) if kind is not DeliveryKind.VERSION_CREATED else None
    if model is None or (alias is None and kind is not DeliveryKind.VERSION_CREATED):
        return None
    version = _version(data.get("version")) if kind is not DeliveryKind.ALIAS_DELETED else None
    return WebhookEvent(kind, entity, action, model, alias, version, timestamp)


def _envelope(body: bytes) -> tuple[str, str, dict[str, object], str] | None:
    """MLflow's envelope: entity, action, data and the time of sending; None for junk."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    entity, action, data = payload.get("entity"), payload.get("action"), payload.get("data")
    if not isinstance(entity, str) or not isinstance(action, str) or not isinstance(data, dict):
        return None
    sent = payload.get("timestamp")
    return entity, action, data, sent if isinstance(sent, str) else ""


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _version(value: object) -> int | None:
    """MLflow sends "3"; tolerate 3; anything else is unknown (the reconcile reads it anyway)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
