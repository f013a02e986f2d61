"""`aliasctl import`: write aliases.yaml from what the registry holds (pure: no I/O here).

The generated file plans to nothing against the registry it came from, so the first
apply adopts the aliases (records ownership) and moves none. `--merge` adds to an
existing file instead, with these same lines (controller/gitops/import_merge.py).

`--from-stages` also writes, for each model, an alias for the latest version in each
mapped stage (MLflow's "Migrating from Stages"): those aliases do not exist yet, so
the first apply creates them. An alias that exists already is written as it is: where
the stage says another version, that is a conflict for a person, not an overwrite.

An environment's file (controller/environments/importing.py decides what goes in it) opens
with its `environment:` block and may write an alias as the promotion its version is a
copy of.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.core.stages import describe
from controller.core.state import case_twin
from controller.desired.names import STATE_MODEL
from controller.errors import ControllerError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from controller.core.state import Observed, ObservedModel

Live = dict[str, dict[str, int]]
Key = tuple[str, str]  # (model, alias)
# (model, alias) -> its value as written, where not its number: `{from: staging, version: 7}`.
Values = dict[Key, str]
# (model, alias) -> the stage an alias is made from (it does not exist in the registry yet).
Origins = dict[tuple[str, str], str]
SCHEMA_LINE = "# yaml-language-server: $schema=./aliases.schema.json"
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
# Plain words YAML (1.1 or 1.2) reads as something other than a string.
_SPECIAL = re.compile(r"^(y|n|yes|no|on|off|true|false|null|~)$", re.IGNORECASE)


class AdoptionError(ControllerError):
    """The import cannot be done as asked."""


@dataclass(frozen=True)
class Selection:
    """What to import, and what was left out and why (for the user, on stderr)."""

    models: Live
    notes: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    from_stage: Origins = field(default_factory=dict)


def select(
    observed: Observed,
    named: Collection[str],
    instance: str,
    *,
    searched: bool,
    stage_map: Mapping[str, str] | None = None,
    other_instance: str | None = None,
) -> Selection:
    """The models to write: every named one, and every searched one that has aliases
    (or, with a `stage_map`, a version in a mapped stage). `other_instance` says what to do
    about a model another instance manages ({} is that instance; by default, to import it
    with --instance)."""
    other_instance = other_instance or "import it with --instance {}"
    missing = sorted(set(named) - observed.models.keys())
    if missing:
        raise AdoptionError(f"registered model does not exist: {', '.join(missing)}")
    models: Live = {}
    notes: list[str] = []
    conflicts: list[str] = []
    from_stage: Origins = {}
    for name, model in sorted(observed.models.items()):
        if STATE_MODEL.search(name):
            continue  # aliasctl's own lock and inventory
        if name not in named and not searched:
            continue  # not asked for
        if model.record is not None and model.record.instance != instance:
            notes.append(
                f"{name}: managed by aliasctl instance {model.record.instance!r}, left out "
                f"({other_instance.format(model.record.instance)})"
            )
            continue
        aliases, origins, clashes = _with_stages(model, stage_map or {})
        if not aliases and name not in named:
            continue
        if stage_map and not any(s in model.stages for s in stage_map) and name in named:
            notes.append(
                f"{name}: no version in {' or '.join(stage_map)}; written with its aliases only"
            )
        twins = sorted(a for a in aliases if case_twin(a, aliases))
        if twins:
            notes.append(f"{name}: {_twins_note('aliases', twins)}")
        models[name] = {a: v for a, v in sorted(aliases.items()) if a not in twins}
        from_stage |= origins
        conflicts += clashes
    # A file holding names that differ only in case fails `validate` (and both `plan` and a
    # registry whose database folds case would merge them): leave them to a person.
    twins = sorted(n for n in models if case_twin(n, models))
    if twins:
        notes.append(_twins_note("models", twins))
    kept = {n: a for n, a in models.items() if n not in twins}
    return Selection(kept, tuple(notes), tuple(conflicts), from_stage)


def _twins_note(kind: str, twins: list[str]) -> str:
    return (
        f"{kind} {', '.join(map(repr, twins))} differ only in case, left out: a registry "
        "whose database folds case (MySQL) holds one of them; rename by hand"
    )


def _with_stages(
    model: ObservedModel, stage_map: Mapping[str, str]
) -> tuple[dict[str, int], Origins, list[str]]:
    """The model's aliases plus one per mapped stage it has a version in, where none exists.

    An existing alias is never replaced: where its stage says another version, a person
    decides (a loader may already follow the alias), so it is a conflict.
    """
    aliases = dict(model.aliases)
    origins: Origins = {}
    conflicts = []
    for stage, alias in stage_map.items():
        version = model.stages.get(stage)
        have = model.aliases.get(alias)
        if version is None or have == version:
            continue
        if have is None:
            aliases[alias] = version
            origins[model.name, alias] = stage
        else:
            conflicts.append(
                f"{model.name}@{alias}: the alias is at {have}, the {stage} stage at {version} "
                "(the alias kept)"
            )
    return aliases, origins, conflicts


def key(text: str) -> str:
    """A mapping key as YAML reads it back: plain where safe, else double-quoted."""
    if _PLAIN.match(text) and not _SPECIAL.match(text):
        return text
    # A JSON string is a YAML double-quoted scalar, except that JSON escapes a character past
    # U+FFFF as two surrogates, which YAML refuses: keep printable text as it is (UTF-8) and
    # escape, the YAML way, only what YAML may not hold raw.
    quoted = json.dumps(text, ensure_ascii=False)
    return _NOT_PRINTABLE.sub(lambda m: _yaml_escape(m.group()), quoted)


# YAML's printable set is tab, newlines, 0x20-0x7E, 0x85, 0xA0-0xD7FF, 0xE000-0xFFFD and
# beyond U+FFFF; JSON already escapes the controls below 0x20.
_NOT_PRINTABLE = re.compile("[\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _yaml_escape(char: str) -> str:
    return f"\\u{ord(char):04x}"


def render(
    models: Mapping[str, Mapping[str, int]],
    registry: str,
    moment: str,
    from_stage: Mapping[tuple[str, str], str] | None = None,
    stage_map: Mapping[str, str] | None = None,
    *,
    environment: Sequence[str] = (),
    values: Values | None = None,
) -> str:
    """The new file. `environment`: its `environment:` block, as lines; `values`: aliases
    written otherwise than as their number (promotions from other environments)."""
    lines = [SCHEMA_LINE, f"# Imported by `aliasctl import` from {registry} at {moment}."]
    if stage_map:
        lines += [
            f"# From stages ({describe(stage_map)}): an alias marked with its stage does not",
            "# exist yet and the first apply creates it; the others are at their live version",
            "# and are adopted, moving none.",
        ]
    else:
        lines.append(
            "# Every alias below is at its live version: the first apply adopts them, moving none."
        )
    if values:
        lines.append(
            "# An alias written {from: ...} is at the copy of that version: apply finds it, "
            "copying nothing."
        )
    lines += environment
    lines.append("models:" if models else "models: {}")
    for name, aliases in models.items():
        lines += model_lines(name, aliases, from_stage or {}, "  ", "  ", values or {})
    return "\n".join(lines) + "\n"


def model_lines(
    model: str,
    aliases: Mapping[str, int],
    from_stage: Mapping[tuple[str, str], str],
    indent: str,
    step: str,
    values: Values,
) -> list[str]:
    """A model's block, as both a new file and a merge write it: its key, `aliases:`
    (`{}` when it has none), then one line an alias."""
    return [
        f"{indent}{key(model)}:",
        f"{indent}{step}aliases:" + ("" if aliases else " {}"),
        *alias_lines(model, aliases, from_stage, indent + step + step, values),
    ]


def alias_lines(
    model: str,
    aliases: Mapping[str, int],
    from_stage: Mapping[tuple[str, str], str],
    indent: str,
    values: Values,
) -> list[str]:
    return [
        f"{indent}{key(a)}: {values.get((model, a), v)}{_stage_comment(from_stage, model, a)}"
        for a, v in aliases.items()
    ]


def _stage_comment(from_stage: Mapping[tuple[str, str], str] | None, model: str, alias: str) -> str:
    stage = (from_stage or {}).get((model, alias))
    return "" if stage is None else f"  # from stage {stage}"
