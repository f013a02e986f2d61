"""Markdown pieces shared by the reports (plan, apply, drift, holds, history)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


def md_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return out


def md_code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def md_cell(text: str) -> str:
    """Free text (a reason) as one table cell: no line breaks, no column separators."""
    return " ".join(text.split()).replace("|", "\\|")
