"""Model version stages, deprecated by MLflow, mapped onto aliases (pure: no I/O here).

MLflow's guide "Migrating from Stages" maps each stage to an alias from the latest
version in that stage (`get_latest_versions`). The registry's own reads already
carry that (a registered model's `latest_versions`), so neither `import
--from-stages` nor the plan's note costs a request of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.desired.names import check_alias_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

PRODUCTION = "Production"
STAGING = "Staging"
ARCHIVED = "Archived"
# "None" is no stage (a version never staged), so it is neither mapped nor noted.
STAGES = (PRODUCTION, STAGING, ARCHIVED)
DEFAULT_MAPPING: Mapping[str, str] = {PRODUCTION: "champion", STAGING: "challenger"}
# The stages a loader reads from (`models:/bikes/Production`); Archived is where versions retire.
LIVE_STAGES = (PRODUCTION, STAGING)
_CANONICAL = {stage.lower(): stage for stage in STAGES}


def parse_pair(text: str) -> tuple[str, str]:
    """`STAGE=ALIAS` as (canonical stage, alias); ValueError says what is wrong, in one line."""
    stage, sep, alias = text.partition("=")
    stage, alias = stage.strip(), alias.strip()
    if not sep or not stage or not alias:
        raise ValueError(f"{text!r}: write STAGE=ALIAS, e.g. Production=champion")
    if stage.lower() == "none":
        raise ValueError(
            f"{text!r}: 'None' is no stage (versions never staged): map " + ", ".join(STAGES)
        )
    canonical = _CANONICAL.get(stage.lower())
    if canonical is None:
        raise ValueError(f"{text!r}: unknown stage {stage!r}: one of {', '.join(STAGES)}")
    try:
        check_alias_name(alias)
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    return canonical, alias


def mapping(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Stage -> alias from parsed pairs: each stage once, each alias from one stage only."""
    result: dict[str, str] = {}
    for stage, alias in pairs:
        if stage in result:
            raise ValueError(f"stage {stage} is mapped twice ({result[stage]}, {alias})")
        if alias in result.values():
            raise ValueError(f"alias {alias!r} is mapped from two stages: one version each")
        result[stage] = alias
    return result


def describe(stage_map: Mapping[str, str]) -> str:
    return ", ".join(f"{stage}={alias}" for stage, alias in stage_map.items())


def stage_note(model: str, stages: Mapping[str, int]) -> str | None:
    """For the plan: a model whose versions still carry a stage that loaders read from."""
    live = [s for s in LIVE_STAGES if s in stages]
    if not live:
        return None
    held = ", ".join(f"{s}: {stages[s]}" for s in live)
    uris = " or ".join(f"models:/{model}/{s}" for s in live)
    return (
        f"{model}: versions still carry stages ({held}); loaders using {uris} do not follow aliases"
    )
