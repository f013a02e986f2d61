"""`aliasctl import`: write aliases.yaml from what the registry holds (pure: no I/O here).

The generated file plans to nothing against the registry it came from, so the first
apply adopts the aliases (records ownership) and moves none. `--merge` adds what an
existing file does not declare yet by inserting lines, as rollback edits a number:
every existing byte stays, and a value the file and the registry disagree on is
reported, never overwritten.

`--from-stages` also writes, for each model, an alias for the latest version in each
mapped stage (MLflow's "Migrating from Stages"): those aliases do not exist yet, so
the first apply creates them. An alias that exists already is written as it is: where
the stage says another version, that is a conflict for a person, not an overwrite.

An environment's file (controller/environments/importing.py decides what goes in it) opens
with its `environment:` block and may write an alias as the promotion its version is a
copy of; merging into one, its promotions are compared as the versions they stand for in
its registry and kept as written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.core.stages import describe
from controller.core.state import case_twin
from controller.desired.names import STATE_MODEL
from controller.desired.spec import parse_spec
from controller.errors import ControllerError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from controller.core.state import Observed, ObservedModel
    from controller.desired.spec import LoadedSpec, Spec
    from controller.desired.yamlsource import KeyPath, SourceMap

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
) -> Selection:
    """The models to write: every named one, and every searched one that has aliases
    (or, with a `stage_map`, a version in a mapped stage)."""
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
                f"(import it with --instance {model.record.instance})"
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
        lines += _model_lines(name, aliases, from_stage or {}, "  ", "  ", values or {})
    return "\n".join(lines) + "\n"


def _model_lines(
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
        *_alias_lines(model, aliases, from_stage, indent + step + step, values),
    ]


def _alias_lines(
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


@dataclass
class Merge:
    text: str
    added_models: list[str] = field(default_factory=list)
    added_aliases: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def added(self) -> list[str]:
        return self.added_models + [f"{m}@{a}" for m, a in self.added_aliases]


def merge(
    loaded: LoadedSpec,
    live: Mapping[str, Mapping[str, int]],
    from_stage: Mapping[tuple[str, str], str] | None = None,
    *,
    promoted: Mapping[tuple[str, str], int] | None = None,
    values: Values | None = None,
) -> Merge:
    """Insert what `live` has and the file lacks; report what both have but disagree on.

    `from_stage` names the aliases made from a stage (not in the registry yet). In an
    environment's file, `promoted` is the version each promotion stands for in this
    registry (controller/environments/importing.py; absent: not there, so left out), and
    `values` the added aliases written as promotions rather than numbers.
    """
    origin = from_stage or {}
    written = values or {}
    source = loaded.source
    text = source.text
    newline = "\r\n" if "\r\n" in text else "\n"
    declared = _declared(loaded.spec, promoted)
    result = Merge(text)
    inserts: list[tuple[int, str]] = []
    new_models = {m: a for m, a in live.items() if m not in declared}
    for model, aliases in live.items():
        if model not in declared:
            continue
        for alias, version in aliases.items():
            have = declared[model].get(alias)
            if have is not None and have != version:
                stage = origin.get((model, alias))
                theirs = "the registry" if stage is None else f"the registry's {stage} stage"
                ours = f"says {have}"
                if (model, alias) in (promoted or {}):
                    ours = f"promotes it (version {have} here)"
                result.conflicts.append(
                    f"{model}@{alias}: the file {ours}, {theirs} {version} (kept)"
                )
        extra = {a: v for a, v in aliases.items() if a not in declared[model]}
        if extra:
            where = _after_last(source, ("models", model, "aliases"))
            if where is None:
                result.conflicts.append(_by_hand(source, ("models", model, "aliases"), model))
                continue
            offset, indent = where
            lines = _alias_lines(model, extra, origin, indent, written)
            body = "".join(newline + line for line in lines)
            inserts.append((offset, body))
            result.added_aliases += [(model, a) for a in extra]
    if new_models:
        where = _after_last(source, ("models",))
        if where is None:
            result.conflicts.append(_by_hand(source, ("models",), "models"))
        else:
            offset, indent = where
            step = _indent_step(source)
            body = "".join(
                newline + line
                for model, aliases in new_models.items()
                for line in _model_lines(model, aliases, origin, indent, step, written)
            )
            inserts.append((offset, body))
            result.added_models += list(new_models)
    for offset, body in sorted(inserts, reverse=True):
        text = text[:offset] + body + text[offset:]
    result.text = text
    _check(loaded, text, live, result, {**(promoted or {}), **_added(result, live, written)})
    return result


def _declared(spec: Spec, promoted: Mapping[tuple[str, str], int] | None) -> Live:
    """Every alias's version; a promotion's as `promoted` says (a plain file has none)."""
    return spec.declared() if promoted is None else spec.with_versions(promoted).declared()


def _added(m: Merge, live: Mapping[str, Mapping[str, int]], values: Values) -> dict[Key, int]:
    """The added aliases written as promotions, and the live version each stands for."""
    added = [*m.added_aliases, *((n, a) for n in m.added_models for a in live[n])]
    return {(n, a): live[n][a] for n, a in added if (n, a) in values}


def _after_last(source: SourceMap, path: KeyPath) -> tuple[int, str] | None:
    """End of the line of the last entry under a block mapping, and its keys' indent."""
    node = source.values.get(path)
    if node is None or source.text[node.start : node.start + 1] in {"{", "["}:
        return None  # a flow mapping (`{a: 1}`): not edited in place
    children = [p for p in source.keys if len(p) == len(path) + 1 and p[: len(path)] == path]
    if not children:
        return None
    indent = " " * (min(source.keys[p].column for p in children) - 1)
    under = [p for p in source.values if len(p) > len(path) and p[: len(path)] == path]
    # Scalars only: a block mapping's node runs on to where the next one starts.
    leaves = set(under) - {p[:-1] for p in under}
    last_end = max(source.values[p].end for p in leaves)
    line_end = source.text.find("\n", last_end)
    if line_end == -1:
        return len(source.text), indent
    # Before "\r\n" or "\n": the inserted lines carry their own newline first.
    return (line_end - 1 if source.text[line_end - 1 : line_end] == "\r" else line_end), indent


def _indent_step(source: SourceMap) -> str:
    """The file's own indent step, from its first model's `aliases` key (else two spaces)."""
    for path, span in source.keys.items():
        if len(path) == 3 and path[0] == "models" and path[2] == "aliases":
            model_key = source.keys[path[:2]]
            if span.column > model_key.column:
                return " " * (span.column - model_key.column)
    return "  "


def _by_hand(source: SourceMap, path: KeyPath, what: str) -> str:
    where = source.locate(path)
    return f"{where}: {what} is written in flow style ({{...}}): add the new entries by hand"


def _check(
    loaded: LoadedSpec,
    text: str,
    live: Mapping[str, Mapping[str, int]],
    m: Merge,
    promoted: Mapping[Key, int],
) -> None:
    """The merged text must parse to exactly the file plus the additions (promotions read
    as the versions they stand for, and every existing one kept as written)."""
    expected = _declared(loaded.spec, promoted if loaded.spec.environment else None)
    for model in m.added_models:
        expected[model] = dict(live[model])
    for model, alias in m.added_aliases:
        expected[model][alias] = live[model][alias]
    spec = parse_spec(text, loaded.source.path).spec
    after = _declared(spec, promoted if spec.environment else None)
    kept = {(n, a): p for n, a, p in loaded.spec.promotions()}
    if after != expected or any(spec.models[n].aliases.get(a) != p for (n, a), p in kept.items()):
        raise AdoptionError(
            f"{loaded.source.path}: merging would change more than the added lines "
            "(YAML anchors?); nothing was written"
        )
