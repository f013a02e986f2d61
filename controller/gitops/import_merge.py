"""`aliasctl import --merge`: add what an existing file does not declare yet (pure: no I/O).

Lines are inserted, as rollback edits a number: every existing byte stays, and a value
the file and the registry disagree on is reported, never overwritten. The merged text
must parse to exactly the file plus the additions, else nothing is written. Merging into
an environment's file, its promotions are compared as the versions they stand for in its
registry (controller/environments/importing.py) and kept as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controller.desired.spec import parse_spec
from controller.gitops.importer import AdoptionError, alias_lines, model_lines

if TYPE_CHECKING:
    from collections.abc import Mapping

    from controller.desired.spec import LoadedSpec, Spec
    from controller.desired.yamlsource import KeyPath, SourceMap
    from controller.gitops.importer import Key, Live, Values


@dataclass
class Merge:
    """The merged text, what was added to it, and what was kept against the registry."""

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
            lines = alias_lines(model, extra, origin, indent, written)
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
                for line in model_lines(model, aliases, origin, indent, step, written)
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
