"""One alias change, the item every diff is made of (kopf's DiffItem, Terraform's Change).

Its own module so that what reads changes (evidence, policy, rendering) need not import
the plan, which holds their evidence in turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

Declared = Mapping[str, Mapping[str, int]]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, order=True)
class Change:
    model: str
    alias: str
    action: Action
    before: int | None
    after: int | None

    @property
    def key(self) -> str:
        return f"{self.model}@{self.alias}"
