"""Notice a new revision of the file between cycles: git-sync, `git pull` or an editor.

The file's bytes are hashed every few seconds (a few KB: cheaper than any registry
read), and a change asks the loop for a full reconcile at once, so a merge is applied
within seconds instead of at the next interval. Polling, not inotify: git-sync swaps a
symlink to a new worktree, which a watch on the old inode never sees.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

log = logging.getLogger("aliasctl.serve")


class FileWatch:
    """Watches the files a controller reads (an environment's sources too)."""

    def __init__(
        self, paths: Sequence[Path], on_change: Callable[[], None], every_seconds: float
    ) -> None:
        self._paths = tuple(paths)
        self._on_change = on_change
        self._every = every_seconds
        self._stopped = threading.Event()
        self._last = self._digest()
        self._thread = threading.Thread(target=self._run, name="aliasctl-watch", daemon=True)

    def start(self) -> FileWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._every + 1)

    def _digest(self) -> bytes | None:
        digest = hashlib.sha256()
        for path in self._paths:
            try:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            except OSError:
                return None  # missing for a moment (a checkout being swapped): not a change yet
        return digest.digest()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            digest = self._digest()
            if digest is not None and digest != self._last:
                self._last = digest
                log.info("%s changed: reconciling now", ", ".join(map(str, self._paths)))
                self._on_change()
