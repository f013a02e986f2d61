"""`--dist loadgroup` working again on pytest 9.2 (a pytest plugin, listed in conftest.py).

pytest-xdist 3.8 sends a test's `xdist_group` to the scheduler as a suffix of its node id
(`test_x[a]@group`), written into `item._nodeid`. pytest 9.2 builds `item.nodeid` from a
structured id (`item._id`) instead, so that write is lost: every group is silently ignored
and its tests spread over all workers, each starting its own copy of the group's server
(pytest-dev/pytest-xdist#1386, fix proposed in #1388). This writes the suffix where pytest
9.2 reads it. It does nothing where the suffix is already there (an xdist with the fix, or
an older pytest) and outside xdist's workers; remove it once a fixed xdist is locked.
The controller re-parses the id, so a parametrized test's summary line reads
`test[p]@group]` (pytest puts the params' `]` back at the end): cosmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from _pytest.nodeid import NodeId

if TYPE_CHECKING:
    from collections.abc import Iterator


def group_of(item: pytest.Item) -> str | None:
    """The group xdist gives the test: its `xdist_group` names, sorted and joined."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) or None


def has_group_suffix(nodeid: str) -> bool:
    """xdist's own test (loadgroup's _split_scope): an `@` after the params' `]`."""
    return nodeid.rfind("@") > nodeid.rfind("]")


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Iterator[None]:
    yield  # after every other plugin's, xdist's own included
    if not getattr(config.option, "loadgroup", False):  # set only in loadgroup workers
        return
    for item in items:
        group = group_of(item)
        if group is not None and not has_group_suffix(item.nodeid):
            item._id = NodeId.parse(f"{item.nodeid}@{group}")
