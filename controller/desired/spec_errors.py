"""pydantic's validation errors as located, plain-spoken issues of aliases.yaml (pure).

Each error becomes one line at its file position: a near-miss key is named
("did you mean 'aliases'?"), a version says what it got instead of a number.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from controller.errors import SpecIssue

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import ValidationError

    from controller.desired.yamlsource import KeyPath, SourceMap

EXPECTED_SHAPE = """expected a file shaped like:
  models:
    <model name>:
      aliases:
        <alias>: <version number>"""


def located_issues(
    error: ValidationError, source: SourceMap, fields_at: Callable[[KeyPath], list[str]]
) -> list[SpecIssue]:
    """Located issues; a missing key that a near-miss key stands for is reported once, there."""
    errors = _one_branch(error.errors())
    suggested = {
        (tuple(e["loc"][:-1]), hint)
        for e in errors
        if e["type"] == "extra_forbidden" and (hint := _near_miss(tuple(e["loc"]), fields_at))
    }
    return [
        _issue(e, source, fields_at)
        for e in errors
        if not (e["type"] == "missing" and (tuple(e["loc"][:-1]), e["loc"][-1]) in suggested)
    ]


def _one_branch(errors: list[Any]) -> list[Any]:
    """An alias's value is a version or a promotion {from: ...}: pydantic reports a bad one
    against both; keep the errors of the form the value was written in, at the alias."""
    raw: dict[KeyPath, object] = {}
    for e in errors:
        loc = tuple(e["loc"])
        if len(loc) > 4 and _is_version(loc[:4]) and "int" in str(loc[4]):
            raw[loc[:4]] = e.get("input")
    kept = []
    for e in errors:
        loc = tuple(e["loc"])
        if not (len(loc) > 4 and _is_version(loc[:4]) and loc[:4] in raw):
            kept.append(e)
            continue
        promotion = isinstance(raw[loc[:4]], dict)
        if "FromSource" in str(loc[4]) and promotion:
            kept.append({**e, "loc": (*loc[:4], *loc[5:])})
        elif "int" in str(loc[4]) and not promotion:
            kept.append({**e, "loc": loc[:4]})
    return kept


def _near_miss(loc: KeyPath, fields_at: Callable[[KeyPath], list[str]]) -> str | None:
    key, fields = loc[-1], fields_at(loc[:-1])
    if not isinstance(key, str):
        return None
    matches = difflib.get_close_matches(key.lower(), fields, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _issue(error: Any, source: SourceMap, fields_at: Callable[[KeyPath], list[str]]) -> SpecIssue:
    loc: KeyPath = tuple(error["loc"])
    kind: str = error["type"]
    value = error.get("input")
    if loc and loc[-1] == "[key]":
        # pydantic reports a bad dict key as (..., key, "[key]").
        key_path = loc[:-1]
        return SpecIssue(source.locate(key_path, at_key=True), _reason(error))
    if kind == "extra_forbidden":
        hint = _near_miss(loc, fields_at)
        message = f"unknown key {loc[-1]!r}" + (f"; did you mean {hint!r}?" if hint else "")
        return SpecIssue(source.locate(loc, at_key=True), message)
    if kind == "missing" and loc == ("models",):
        top = replace(source.locate(()), key="")
        return SpecIssue(top, f"no top-level 'models' key; {EXPECTED_SHAPE}")
    if kind == "missing":
        return SpecIssue(source.locate(loc), f"missing required key {loc[-1]!r}")
    if loc and _is_version(loc) and kind != "value_error":
        return SpecIssue(source.locate(loc), _version_reason(value))
    return SpecIssue(source.locate(loc), _reason(error))


def _is_version(loc: KeyPath) -> bool:
    return len(loc) == 4 and loc[0] == "models" and loc[2] == "aliases"


def _version_reason(value: object) -> str:
    must = "version must be a positive integer"
    if value is None:
        return f"{must}, got nothing (null)"
    if isinstance(value, bool):
        return f"{must}, got {str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{must}, got the string {value!r}{_string_hint(value)}"
    if isinstance(value, float):
        return f"{must}, got {value!r} (a decimal number)"
    if isinstance(value, int):
        return f"{must}, got {value}"
    return f"{must}, got {describe_kind(value)}"


def _string_hint(value: str) -> str:
    if value.strip().isdigit():
        return " (remove the quotes)"
    return (
        "; a version promoted from another environment is written ENVIRONMENT@ALIAS "
        "(staging@champion) or {from: ENVIRONMENT, version: N}"
    )


def describe_kind(value: object) -> str:
    """`value`'s kind with its article: 'a mapping', 'a list', 'nothing (null)'."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


_TYPE_REASONS: dict[str, Callable[[object], str]] = {
    "model_type": lambda v: f"expected a mapping with an 'aliases' key, got {describe_kind(v)}",
    "dict_type": lambda v: f"expected a mapping, got {describe_kind(v)}",
    "list_type": lambda v: f"expected a list, one '- entry' a line, got {v!r}",
    "string_type": lambda v: f"expected a string, got {v!r}",
    "bool_type": lambda v: f"expected true or false, got {v!r}",
}


def _reason(error: Any) -> str:
    kind: str = error["type"]
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "model_type" and error["loc"][:1] != ("models",):
        kind = "dict_type"  # only a model's mapping must hold 'aliases'
    describe = _TYPE_REASONS.get(kind)
    return describe(error.get("input")) if describe else str(error["msg"])
