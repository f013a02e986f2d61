"""`{{ name }}` in an analysis' query, URL, filter or argv, replaced by the target's values.

Values are inserted as they are, with no quoting: they are the model's name, the alias,
and version numbers (core/analysis.py's `Target.template_values`), names MLflow has
validated already. A name that is not one of them is an error naming it, so a typo never
reaches Prometheus as a literal `{{modle}}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re
    from collections.abc import Mapping

from controller.desired.analysis import PLACEHOLDER


class TemplateError(ValueError):
    """A placeholder names no known value."""


def render(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{{ name }}` replaced by `values[name]` (TemplateError: unknown name)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values))
            raise TemplateError(f"unknown placeholder {{{{{name}}}}} (known: {known})")
        return values[name]

    return PLACEHOLDER.sub(value, text)


def names(text: str) -> list[str]:
    """The placeholders a text uses, in order (to check them before any measurement)."""
    return PLACEHOLDER.findall(text)
