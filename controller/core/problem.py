"""Why a plan cannot be applied: one line each, with the model (and alias) it is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from controller.core.change import Change


@dataclass(frozen=True)
class Problem:
    """A plan's problem: `text` is the line shown (it names its model and alias itself);
    `model` and `alias` say what it blocks, for code (None: the whole plan, or every alias
    of the model)."""

    model: str | None
    alias: str | None
    text: str

    @classmethod
    def of(cls, change: Change, text: str) -> Problem:
        return cls(change.model, change.alias, text)

    @classmethod
    def of_plan(cls, text: str) -> Problem:
        return cls(None, None, text)

    def __str__(self) -> str:
        return self.text


def messages(problems: Iterable[Problem]) -> tuple[str, ...]:
    """The lines shown (and written to JSON), in order."""
    return tuple(problem.text for problem in problems)
