"""How long the status page takes to render, and how big it is, as the registry grows.

`python bench/bench_page.py`: render_page of snapshots with 100 to 20,000 aliases (two per
model, 6 % not in sync, one shared commit), best of several runs. The page is rendered per
GET / on the server's thread, so this is the cost of one page view. Bytes as rendered, and
gzipped (-6) beside. Prints a table; exits 1 only if a page lacks an alias (correctness).
"""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from controller.serve.page import render_page
from tests.support.page_samples import NOW, many

SIZES = (100, 1_000, 10_000, 20_000)
RUNS = 5


def main() -> int:
    print(
        f"{'aliases':>8} {'best ms':>8} {'us/alias':>9} {'KiB':>7} {'B/alias':>8} {'gzip KiB':>9}"
    )
    failed = False
    for size in SIZES:
        snapshot = many(size)
        best = float("inf")
        for _ in range(RUNS):
            start = time.perf_counter()
            html = render_page(snapshot, NOW)
            best = min(best, time.perf_counter() - start)
        shown = html.count("<tr class=alias ")
        if shown < size:
            print(f"ERROR: {size} aliases, {shown} rows on the page", file=sys.stderr)
            failed = True
        data = html.encode()
        packed = len(gzip.compress(data, compresslevel=6))
        print(
            f"{size:>8,} {best * 1000:>8.1f} {best / size * 1e6:>9.1f}"
            f" {len(data) / 1024:>7,.0f} {len(data) / size:>8.0f} {packed / 1024:>9,.0f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
