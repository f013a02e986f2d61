"""The thin CLI: one module a command (or a small family), the shared options.

`controller.cli:main` is the console script and `controller.cli:cli` the click group; both
live in root.py, which adds every command to the group.
"""

from controller.cli.root import cli, main

__all__ = ["cli", "main"]
