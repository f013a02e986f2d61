"""MkDocs hooks: what GitHub and MkDocs read differently, and mkdocs-click under click 8.3.

Pipes in tables: GitHub needs `a\\|b` inside a code span in a table cell, and MkDocs
(Python-Markdown) shows that backslash as typed, while it already keeps a pipe inside a
code span in its cell. So the pages keep GitHub's spelling and the site drops the backslash.

Defaults in the command reference: since 8.3, click marks an option declared without a
default with a sentinel, which mkdocs-click 0.9 prints as `Sentinel.UNSET`; a default of
None it prints as `None`. Both mean "no default", shown as a dash. The build fails if the
sentinel still shows after this, so a change in either package is noticed, not published.
"""

from __future__ import annotations

import re
from typing import Any

CODE_SPAN = re.compile(r"`[^`\n]*`")
NO_DEFAULT = "<td>&ndash;</td>"
CELLS = ("<td><code>Sentinel.UNSET</code></td>", "<td>None</td>")


def unescape_pipes(line: str) -> str:
    """A table row with every `\\|` inside a code span written as a plain pipe."""
    if not line.lstrip().startswith("|"):
        return line
    return CODE_SPAN.sub(lambda m: m.group(0).replace("\\|", "|"), line)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return "\n".join(unescape_pipes(line) for line in markdown.split("\n"))


def on_page_content(html: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != "reference/cli.md":
        return html
    for cell in CELLS:
        html = html.replace(cell, NO_DEFAULT)
    if "Sentinel" in html:
        msg = "reference/cli.md: click's UNSET sentinel still shows in the option tables"
        raise ValueError(msg)
    return html
