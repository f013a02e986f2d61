"""The inventory: which models an instance manages, where the registry cannot search by tag.

Unity Catalog rejects filtered searches, so a model that left the file could not be
found again by its record tag. The controller keeps a registered model of its own
(`aliasctl.inventory.<instance>`, or beside the models on Unity Catalog) with one tag
per managed model, written before that model's first record, removed after its last.
It talks to the registry only through the callables it is given (the adapter's).
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from controller.registry.seam import INVENTORY_TAG_PREFIX, state_model_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

DESCRIPTION = "aliasctl: the models this instance manages"


def inventory_key(model: str) -> str:
    return INVENTORY_TAG_PREFIX + hashlib.sha256(model.encode()).hexdigest()[:24]


class Inventory:
    def __init__(
        self,
        instance: str,
        uri: str,
        *,
        tags_of: Callable[[str], dict[str, str] | None],
        create: Callable[[str, Mapping[str, str], str], bool],
        set_tag: Callable[[str, str, str, str], None],
        delete_tag: Callable[[str, str, str], None],
    ) -> None:
        self._instance, self._uri = instance, uri
        self._tags_of, self._create = tags_of, create
        self._set_tag, self._delete_tag = set_tag, delete_tag
        self._lock = threading.Lock()
        self._listed: dict[str, set[str] | None] = {}  # inventory model -> models (None: no model)

    def forget(self) -> None:
        """Read the inventories afresh next time (another apply may have written them)."""
        with self._lock:
            self._listed.clear()

    def name_for(self, model: str) -> str:
        return state_model_name("inventory", self._instance, model, self._uri)

    def models(self, declared: Iterable[str]) -> set[str]:
        """Models this instance manages, as listed by its inventory model(s)."""
        inventories = {self.name_for(m) for m in declared} or {self.name_for("")}
        names: set[str] = set()
        for inventory in sorted(inventories):
            names |= self._of(inventory) or set()
        return names

    def _of(self, inventory: str) -> set[str] | None:
        with self._lock:
            if inventory in self._listed:
                return self._listed[inventory]
        tags = self._tags_of(inventory)  # None: no inventory yet (created on first write)
        listed = None
        if tags is not None:
            listed = {v for k, v in tags.items() if k.startswith(INVENTORY_TAG_PREFIX)}
        with self._lock:
            self._listed[inventory] = listed
        return listed

    def add(self, model: str) -> None:
        """List a model before its first record is written (so it is never lost)."""
        inventory = self.name_for(model)
        listed = self._of(inventory)
        if listed is not None and model in listed:
            return
        key = inventory_key(model)
        # The first model is listed by the create itself; a create that lost a race is a set.
        if listed is not None or not self._create(inventory, {key: model}, DESCRIPTION):
            self._set_tag(inventory, key, model, f"listing {model} in {inventory}")
        with self._lock:
            self._listed[inventory] = (self._listed.get(inventory) or set()) | {model}

    def remove(self, model: str) -> None:
        inventory = self.name_for(model)
        listed = self._of(inventory)
        if listed is None or model not in listed:
            return
        self._delete_tag(inventory, inventory_key(model), f"unlisting {model}")
        with self._lock:
            self._listed[inventory] = listed - {model}
