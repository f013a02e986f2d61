"""The small, safe language of an analysis' `success:` and `failure:` conditions (pure).

Placeholder: the full parser and evaluator land with the analysis providers.
"""

from __future__ import annotations


class ConditionError(ValueError):
    """A condition could not be evaluated against a result (a missing key, a bad type)."""


def check_condition(text: str) -> str:
    """Validate a condition as written; a ValueError says why (the spec locates it)."""
    if not text.strip():
        raise ValueError("a condition must not be empty")
    return text


def evaluate(text: str, result: object) -> bool:
    """Whether `text` holds for `result`; ConditionError when it cannot be told."""
    raise ConditionError(f"conditions are not evaluated yet: {text!r} on {result!r}")
