"""Safe YAML reading that remembers where every key and value came from.

PyYAML's loaders silently keep the last of two duplicate keys, construct
anchors/aliases eagerly (a "billion laughs" document eats all memory) and lose
positions once the document is built. We compose the node graph ourselves,
which is linear in the file size, then build plain Python values under a node
budget, recording the source span of each key path for located errors and for
byte-exact edits (rollback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from controller.errors import Location, SpecError, SpecIssue

if TYPE_CHECKING:
    from pathlib import Path

# Anchors that expand a document past this many nodes, or past one node per byte
# of the file (whichever is more), are refused rather than built: a big file of
# plain entries is fine, a small file that expands is a bomb.
MAX_NODES = 100_000
MAX_BYTES = 10 * 1024 * 1024
_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _STANDARD_TAG_PREFIX + name for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
_TIMESTAMP_TAG = _STANDARD_TAG_PREFIX + "timestamp"

KeyPath = tuple[object, ...]

# libyaml's parser is about 5x faster (it matters for `history` over thousands of
# revisions); the pure-Python one is the fallback where libyaml is not built in.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Span:
    """A node's place in the source: 1-based line/column and 0-based character offsets."""

    line: int
    column: int
    start: int
    end: int

    @classmethod
    def of(cls, node: yaml.Node) -> Span:
        return cls(
            node.start_mark.line + 1,
            node.start_mark.column + 1,
            node.start_mark.index,
            node.end_mark.index,
        )


@dataclass
class SourceMap:
    """Spans of keys and values by key path, e.g. ("models", "bikes", "aliases", "champion")."""

    path: str
    text: str
    keys: dict[KeyPath, Span] = field(default_factory=dict)
    values: dict[KeyPath, Span] = field(default_factory=dict)

    def locate(self, key_path: KeyPath, *, at_key: bool = False) -> Location:
        """Best location for a key path: its value (or key), else the nearest ancestor."""
        for depth in range(len(key_path), -1, -1):
            prefix = key_path[:depth]
            table = self.keys if at_key and depth == len(key_path) else self.values
            span = table.get(prefix) or self.keys.get(prefix)
            if span is not None:
                return Location(self.path, span.line, span.column, dotted(key_path))
        return Location(self.path, 1, 1, dotted(key_path))


def dotted(key_path: KeyPath) -> str:
    return ".".join(str(part) for part in key_path)


def read_text(path: Path) -> str:
    """Read a spec file, turning every way it can be unreadable into one clear line."""
    try:
        if path.is_dir():
            raise SpecError(path, reason="is a directory, expected an aliases YAML file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(path, reason="no such file") from None
    except PermissionError:
        raise SpecError(path, reason="permission denied") from None
    except OSError as error:
        raise SpecError(path, reason=f"cannot read file: {error.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise SpecError(path, reason=f"file is larger than {MAX_BYTES // 1024 // 1024} MiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError(
            path,
            reason=f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})",
        ) from None


def write_text(path: Path, text: str) -> None:
    """Write an edited spec back as it was: its BOM kept, line endings untouched."""
    bom = path.exists() and path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        handle.write(text)


def compose(text: str, path: str) -> tuple[object, SourceMap, list[SpecIssue]]:
    """Parse YAML text into plain values plus a source map; structural problems are collected."""
    source = SourceMap(path, text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context or "invalid YAML"
        issue = SpecIssue(Location(path, line, column, ""), f"invalid YAML: {problem}")
        raise SpecError(path, [issue]) from None
    except yaml.YAMLError as error:
        raise SpecError(path, reason=f"invalid YAML: {error}") from None
    finally:
        loader.dispose()
    if root is None:
        return None, source, []
    builder = _Builder(loader, source)
    value = builder.build(root, ())
    return value, source, builder.issues


# YAML 1.1 (PyYAML) reads these spellings as numbers and YAML 1.2 reads some of them
# differently (or as text): `champion: 010` would silently mean version 8. Only plain
# decimal is accepted; anything else that looks like a number names the literal.
_PLAIN_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
_NUMBER_LIKE = re.compile(
    r"[-+]?(0[oObBxX][0-9a-fA-F_]+"
    r"|[0-9][0-9_]*(:[0-5]?[0-9])*(\.[0-9_]*)?([eE][-+]?[0-9]+)?"
    r"|\.[0-9][0-9_]*([eE][-+]?[0-9]+)?"
    r"|\.?(inf|Inf|INF|nan|NaN|NAN))"
)
_NUMBER_TAGS = frozenset(_STANDARD_TAG_PREFIX + name for name in ("int", "float"))
_PLAIN_BOOLEANS = frozenset(("true", "True", "TRUE", "false", "False", "FALSE"))
_NUMBER_HINT = "write numbers as plain decimals (like 10 or 0.5), or quote it if it is text"


def scalar_trap(node: yaml.ScalarNode, value: object) -> str | None:
    """Why an unquoted scalar's spelling is refused, or None: see _PLAIN_DECIMAL."""
    if node.style:  # quoted or block text is always a string, whatever it spells
        return None
    raw: str = node.value
    if node.tag == _STANDARD_TAG_PREFIX + "bool" and raw not in _PLAIN_BOOLEANS:
        meaning = "true" if raw.lower() in {"yes", "on", "y"} else "false"
        return (
            f"{raw} is a YAML 1.1 boolean ({meaning}) but text in YAML 1.2: "
            "write true or false, or quote it if it is text"
        )
    numeric = node.tag in _NUMBER_TAGS or _NUMBER_LIKE.fullmatch(raw)
    if not numeric or (node.tag in _NUMBER_TAGS and _PLAIN_DECIMAL.fullmatch(raw)):
        return None
    reads = f" (YAML 1.1 reads it as {value})" if isinstance(value, int) else ""
    return f"{raw} is {_spelling(raw)}{reads}; {_NUMBER_HINT}"


# The first match names what kind of number literal a refused spelling is.
_SPELLINGS = (
    (re.compile(r"[-+]?0[oO]"), "an octal literal"),
    (re.compile(r"[-+]?0[bB]"), "a binary literal"),
    (re.compile(r"[-+]?0[xX]"), "a hexadecimal literal"),
    (re.compile(r"[-+]?\.?(nan|NaN|NAN)$"), "not a number (NaN)"),
    (re.compile(r"[-+]?\.?(inf|Inf|INF)$"), "infinity"),
    (re.compile(r".*:"), "a base-60 (sexagesimal) number"),
    (re.compile(r".*_"), "a number with '_' digit separators"),
    (re.compile(r"\+"), "a number with a leading '+'"),
    (re.compile(r"-?0[0-9]"), "a number with a leading zero"),
)


def _spelling(raw: str) -> str:
    return next(
        (words for form, words in _SPELLINGS if form.match(raw)), "not a plain decimal number"
    )


class _BudgetExceededError(Exception):
    pass


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, source: SourceMap):
        self.loader = loader
        self.source = source
        self.issues: list[SpecIssue] = []
        self.visited = 0
        self.budget = max(MAX_NODES, len(source.text))

    def build(self, node: yaml.Node, key_path: KeyPath) -> object:
        try:
            return self._build(node, key_path)
        except _BudgetExceededError:
            issue = SpecIssue(
                Location(self.source.path, 1, 1, ""),
                f"document expands to more than {self.budget} nodes "
                "(YAML anchors/aliases used as a bomb?); refusing to build it",
            )
            self.issues = [issue]
            return None

    def _issue(self, node: yaml.Node, key_path: KeyPath, message: str) -> None:
        span = Span.of(node)
        location = Location(self.source.path, span.line, span.column, dotted(key_path))
        self.issues.append(SpecIssue(location, message))

    def _build(self, node: yaml.Node, key_path: KeyPath) -> object:
        self.visited += 1
        if self.visited > self.budget:
            raise _BudgetExceededError
        self.source.values.setdefault(key_path, Span.of(node))
        if node.tag == _TIMESTAMP_TAG and isinstance(node, yaml.ScalarNode):
            # YAML 1.2 has no timestamp type: an unquoted date is the text it spells, so
            # `from: 2026-12-20` and `from: 2026-12-20T00:00:00` read like their quoted forms.
            return node.value
        if node.tag not in _ALLOWED_TAGS:
            self._issue(node, key_path, f"unsupported YAML tag {node.tag!r} (only plain data)")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, key_path)
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*key_path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node)
        self._check_scalar(node, key_path, value)
        return value

    def _check_scalar(self, node: yaml.Node, key_path: KeyPath, value: object) -> None:
        if isinstance(node, yaml.ScalarNode) and (problem := scalar_trap(node, value)):
            self._issue(node, key_path, problem)

    def _mapping(self, node: yaml.MappingNode, key_path: KeyPath) -> dict[object, object]:
        result: dict[object, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _ALLOWED_TAGS:
                self._issue(key_node, key_path, "keys must be plain scalars")
                continue
            key = self.loader.construct_object(key_node)
            child = (*key_path, key)
            self._check_scalar(key_node, child, key)
            if key in result:
                first = self.source.keys[child]
                self._issue(
                    key_node,
                    child,
                    f"duplicate key {key!r} (first defined at line {first.line})",
                )
                continue
            self.source.keys[child] = Span.of(key_node)
            result[key] = self._build(value_node, child)
        return result
