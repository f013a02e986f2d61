"""Registry searches for the MLflow adapter: page sizes, filters, and what their answers mean.

Searches go to the registry's store, not through MLflow's client: an MLflow 3 client adds
`tag.mlflow.prompt.is_prompt != 'true'` to every search (to hide prompts), and servers
before 2.21, which have no prompts, read that as "the tag exists and is not 'true'" and
answer nothing. Stores that hold prompts (2.21 on) leave them out of searches that do not
ask for them; one that answers with a prompt anyway has it dropped here. An empty search
that a model read by name contradicts is an error, never "no changes".

No mlflow import here: bench/scale_floor.py times the bare searches with these page sizes
and filters.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from controller.core.state import RECORD_TAG, case_twin
from controller.errors import RegistryError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from controller.core.state import Observed
    from controller.registry.seam import ServerVersion

    # Runs one registry call, converting MLflow's errors (the adapter's `_call`).
    Call = Callable[[Callable[[], Any]], Any]

MODELS_PER_PAGE = 1000  # MLflow's ceiling for search_registered_models
VERSIONS_PER_PAGE = 10_000
# A GET's filter travels in the URL: keep each IN (...) list well under the
# 8 KiB request-line limits common in front of MLflow servers.
MAX_FILTER_CHARS = 6000
TAG_FILTER = f"tags.`{RECORD_TAG}` LIKE '%'"
PROMPT_TAG = "mlflow.prompt.is_prompt"  # marks a prompt among registered models (MLflow >= 2.21)
# "did you mean" lookups for missing models: at most this many searches, this many rows each.
NEAR_NAME_LOOKUPS = 4
NEAR_NAME_RESULTS = 10
log = logging.getLogger("aliasctl.registry")


def _quote(name: str) -> str:
    return "'" + name + "'"


def in_filters(names: Iterable[str]) -> Iterator[str]:
    """`name IN ('a','b',...)` filters, each short enough to travel in a URL."""
    batch: list[str] = []
    length = 0
    for name in sorted(set(names)):
        quoted = _quote(name)
        if batch and length + len(quoted) + 1 > MAX_FILTER_CHARS:
            yield "name IN (" + ",".join(batch) + ")"
            batch, length = [], 0
        batch.append(quoted)
        length += len(quoted) + 1
    if batch:
        yield "name IN (" + ",".join(batch) + ")"


def is_in_refusal(error: RegistryError) -> bool:
    """MLflow 2.x: "Only the 'run_id' attribute supports comparison with a list ..."."""
    return "comparison with a list" in error.detail


def is_prompt(model: Any) -> bool:
    # The entity's public `tags` hides the prompt tag; its raw tags keep it.
    tags = getattr(model, "_tags", None) or model.tags or {}
    return str(tags.get(PROMPT_TAG, "")).lower() == "true"


def pages(
    call: Call, search: Callable[..., Any], filter_string: str | None, per_page: int
) -> Iterator[Any]:
    """Every result of a paged MLflow search."""
    token: str | None = None
    while True:
        page = call(
            partial(search, filter_string=filter_string, max_results=per_page, page_token=token)
        )
        yield from page
        token = page.token
        if not token:
            return


def search_models(call: Call, store: Any, filter_string: str | None) -> Iterator[Any]:
    """Every model the filter finds, prompts left out (see the module's docstring)."""
    # The store, not the client: the client's prompt filter empties answers before 2.21.
    for model in pages(call, store.search_registered_models, filter_string, MODELS_PER_PAGE):
        if not is_prompt(model):
            yield model


def models_named(call: Call, store: Any, names: Iterable[str]) -> dict[str, Any]:
    """Models by `name IN (...)`, in URL-sized batches (an MLflow 2.x server refuses the
    filter: is_in_refusal tells its error)."""
    found: dict[str, Any] = {}
    for filter_string in in_filters(names):
        found |= {m.name: m for m in search_models(call, store, filter_string)}
    return found


def versions_named(
    call: Call, search: Callable[..., Any], names: Iterable[str], wanted: set[tuple[str, int]]
) -> list[Any]:
    """The wanted versions among those of the named models, by `name IN (...)` in batches."""
    return [
        version
        for version in all_versions_named(call, search, names)
        if (version.name, int(version.version)) in wanted
    ]


def all_versions_named(call: Call, search: Callable[..., Any], names: Iterable[str]) -> list[Any]:
    """Every version of the named models, by `name IN (...)` in batches."""
    return [
        version
        for filter_string in in_filters(names)
        for version in pages(call, search, filter_string, VERSIONS_PER_PAGE)
    ]


def near_names_to_ask(missing: set[str], observed: Observed) -> list[str]:
    """The first few missing names that no read answered and a filter can spell."""
    return sorted(
        n
        for n in missing - observed.near_names.keys()
        if "'" not in n and case_twin(n, observed.models) is None
    )[:NEAR_NAME_LOOKUPS]


def near_name(call: Call, store: Any, name: str) -> str | None:
    """A model whose name differs from `name` in case alone, found by a small `name ILIKE`
    search (the store's: see search_models); None when there is none or the search fails."""
    search = partial(store.search_registered_models, max_results=NEAR_NAME_RESULTS)
    try:
        page = call(partial(search, filter_string=f"name ILIKE '{name}'"))
    except RegistryError as error:  # a hint is not worth failing a plan over
        log.debug("no case-insensitive lookup of %s: %s", name, error.detail)
        return None
    return case_twin(name, (m.name for m in page))


def missed_by_search(searched: Mapping[str, Any], by_name: Mapping[str, Any]) -> list[str]:
    """Models read by name that carry aliasctl's record tag, where the search for that tag
    did not return them: the search cannot be trusted (a server misreading the filter, a
    partial answer), and models that left the file would be left unpruned and their drift
    unreported, in silence."""
    return sorted(n for n, m in by_name.items() if RECORD_TAG in (m.tags or {}))


def probe_for_empty_search(
    searched: Mapping[str, Any], by_name: Mapping[str, Any], missed: list[str]
) -> str | None:
    """Nothing managed, or a search that answers nothing at all: a name search for a model
    known to exist tells the two apart (one request, on empty answers only). The name to
    search for, None when no probe is needed (or none can be written in a filter)."""
    if searched or not by_name or missed:
        return None
    probe = sorted(by_name)[0]
    return None if "'" in probe else probe


def untrusted_search(uri: str, missed: list[str], version: ServerVersion | None) -> RegistryError:
    return RegistryError(
        uri,
        f"the registry's search did not return {', '.join(missed[:3])}, which "
        f"exist{'s' if len(missed) == 1 else ''} (MLflow "
        f"{version or 'version unknown'}): its searches cannot be trusted, so the "
        "models aliasctl manages cannot all be found; nothing was planned",
    )
