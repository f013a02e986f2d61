"""MkDocs hook: mkdocs-click 0.9's option tables under click 8.3 and later.

Since 8.3, click marks an option declared without a default with a sentinel, which
mkdocs-click prints as `Sentinel.UNSET`; a default of None it prints as `None`. Both mean
"no default", shown as a dash. The build fails if the sentinel still shows after this, so
a change in either package is noticed rather than published.
"""

from __future__ import annotations

from typing import Any

NO_DEFAULT = "<td>&ndash;</td>"
CELLS = ("<td><code>Sentinel.UNSET</code></td>", "<td>None</td>")


def on_page_content(html: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != "reference/cli.md":
        return html
    for cell in CELLS:
        html = html.replace(cell, NO_DEFAULT)
    if "Sentinel" in html:
        msg = "reference/cli.md: click's UNSET sentinel still shows in the option tables"
        raise ValueError(msg)
    return html
