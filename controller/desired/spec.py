"""Desired state: the validated aliases.yaml, and load_spec() with located errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from controller.desired.analysis import PROVIDER_MODELS, PROVIDERS, Analysis, AnalysisMetric
from controller.desired.cross_references import (
    case_twins,
    promotion_issues,
    removal_conflicts,
    unknown_promote_from,
)
from controller.desired.environment import (
    AliasValue,
    EnvironmentName,
    EnvironmentSpec,
    FromSource,
)
from controller.desired.names import (
    AliasName,
    ModelName,
    check_alias_name,
    check_model_name,
    split_target,
)
from controller.desired.spec_errors import EXPECTED_SHAPE, describe_kind, located_issues
from controller.desired.timespec import Freeze, Windows, check_duration, freeze_issues
from controller.desired.yamlsource import KeyPath, SourceMap, compose, read_text
from controller.errors import ControllerError, SpecError, SpecIssue

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


class UnresolvedPromotionError(ControllerError):
    """A promotion from another environment reached a path that cannot resolve it."""


def check_removal(entry: str) -> str:
    model, alias = split_target(entry)
    if alias == "":
        raise ValueError(f"{entry!r} ends with '@': write MODEL or MODEL@ALIAS")
    check_model_name(model)
    if alias is not None:
        check_alias_name(alias)
    return entry


_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")


class ModelSpec(BaseModel):
    """One registered model and the aliases the controller manages on it."""

    model_config = _STRICT
    aliases: dict[AliasName, AliasValue] = Field(
        description="Alias name -> model version number (or, in a file with an `environment:`, "
        "a version promoted from another environment: {from: staging, version: 7} or "
        "staging@champion). Aliases not listed are left alone, unless the controller set them "
        "before (then they are deleted)."
    )


_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# `<= 0.8`, or relative to the version the alias points at now: `>= current - 0.01`.
BOUND_PATTERN = re.compile(
    rf"^\s*(?P<op><=|>=|==|!=|<|>)\s*(?:(?P<number>[-+]?{_NUMBER})"
    rf"|(?P<current>current)(?:\s*(?P<arith>[-+*])\s*(?P<operand>{_NUMBER}))?)\s*$"
)
BOUND_EXAMPLES = "like '<= 0.8', '>= current - 0.01' or '<= current * 1.10'"


def check_bound(text: str) -> str:
    if BOUND_PATTERN.match(text):
        return text
    why = "write an operator and a number or 'current'"
    if re.match(r"^\s*[<>=!]=?\s*current\b", text):
        why = "after 'current' write nothing, or +, - or * and a number"
    elif "current" in text and re.match(r"^\s*[<>=!]", text):
        why = "'current' comes right after the operator"
    raise ValueError(f"{text!r} is not a bound: {why}, {BOUND_EXAMPLES}")


MetricBound = Annotated[str, AfterValidator(check_bound)]


def check_metric_name(text: str) -> str:
    if not text.strip() or text != text.strip():
        raise ValueError(f"{text!r} is not a metric name: no blanks around it, not empty")
    return text


MetricName = Annotated[str, AfterValidator(check_metric_name)]
Removal = Annotated[
    str,
    AfterValidator(check_removal),
    Field(description="MODEL@ALIAS (one alias) or MODEL (a model that left the file)."),
]


# Null is refused too (the validator sees it): a blank `for:` must not mean "no soak".
Duration = Annotated[
    str | None,
    BeforeValidator(check_duration),
    WithJsonSchema({"type": "string", "pattern": r"^\s*\+?0*[1-9][0-9]*\s*[mhd]\s*$"}),
]


class PromoteFrom(BaseModel):
    """promote_from in full: the alias, and how long the version must have held it."""

    model_config = _STRICT
    alias: AliasName = Field(description="The alias the version must have held before.")
    environment: EnvironmentName | None = Field(
        default=None,
        description="Held in this other environment (by its file's git history): for a "
        "version promoted from it, {from: ENVIRONMENT, ...}.",
    )
    soak: Duration = Field(
        default=None,
        alias="for",
        description="How long it must have held that alias without a break before it may take "
        "this one, measured from the git history of the file (when the commit that set it "
        "landed on the branch) until now: a whole number and a unit, m, h or d (90m, 36h, 2d).",
    )


def _promote_from(value: object) -> object:
    """The plain form `promote_from: challenger` is the mapping form without `for`."""
    if isinstance(value, str):
        return PromoteFrom(alias=check_alias_name(value))
    if value is None or isinstance(value, dict | PromoteFrom):
        return value
    got = describe_kind(value) if isinstance(value, list) else repr(value)
    raise ValueError(
        f"expected an alias name or a mapping like {{alias: challenger, for: 24h}}, got {got}"
    )


class Policy(BaseModel):
    """Gates a version must pass before this alias may point at it."""

    model_config = _STRICT
    require_tags: dict[str, str] = Field(
        default_factory=dict, description="Model-version tags that must have exactly these values."
    )
    require_metrics: dict[str, MetricBound] = Field(
        default_factory=dict,
        description="Metrics of the version's source run, each with a bound: '<= 0.8', or "
        "relative to the version the alias points at now: '<= current', "
        "'>= current - 0.01', '<= current * 1.10'.",
    )
    require_signature: bool = Field(
        default=False, description="The logged model must carry a signature."
    )
    require_compatible_signature: bool = Field(
        default=False,
        description="The version must accept every input the current one accepts (same names, "
        "same or wider types, no new required input) and return the same outputs.",
    )
    promote_from: Annotated[
        PromoteFrom | None,
        BeforeValidator(_promote_from, json_schema_input_type=AliasName | PromoteFrom | None),
    ] = Field(
        default=None,
        description="The version must have held this alias before, in the file's git history: "
        "an alias name, or {alias: NAME, for: DURATION} to also require a soak time.",
    )
    verify: bool = Field(
        default=False,
        description="Load the version and score its logged input example before moving the alias.",
    )
    protected: bool = Field(default=False, description="Deleting this alias needs --allow-delete.")
    windows: Windows | None = Field(
        default=None,
        description="When the alias may move (create, update or delete); --break-glass overrides.",
    )
    analysis: Analysis | None = Field(
        default=None,
        description="Measured after the alias moves to a new version (`aliasctl analyze`, "
        "`aliasctl serve`): on failure the alias goes back to the last version that passed "
        "and is held there.",
    )


class Spec(BaseModel):
    """The whole aliases.yaml file."""

    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="forbid",
        title="aliasctl aliases.yaml",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )
    environment: EnvironmentSpec | None = Field(
        default=None,
        description="The environment this file describes and where its registry is; "
        "promotions from other environments name it.",
    )
    models: dict[ModelName, ModelSpec] = Field(
        description="Registered model name -> its managed aliases."
    )
    policies: dict[AliasName, Policy] = Field(
        default_factory=dict, description="Alias name -> gates checked by plan, enforced by apply."
    )

    show_metrics: list[MetricName] = Field(
        default_factory=list,
        description="Metrics shown beside each promotion in the plan's evidence, with those "
        "the alias's policy bounds (never every metric).",
    )
    freezes: list[Freeze] = Field(
        default_factory=list,
        description="Spans of time in which no alias moves; --break-glass overrides.",
    )
    removals: list[Removal] = Field(
        default_factory=list,
        description="Deletes this change intends, reviewed like any other line: MODEL@ALIAS, "
        "or MODEL for every alias aliasctl manages on a model that left the file. They pass "
        "the delete guards without --allow-delete; an entry with nothing to delete is a note.",
    )

    def declared(self) -> dict[str, dict[str, int]]:
        """Every alias's version; promotions from other environments must be resolved first
        (controller/environments), so that no path ever takes them for absent aliases."""
        unresolved = self.promotions()
        if unresolved:
            model, alias, source = unresolved[0]
            raise UnresolvedPromotionError(
                f"{model}@{alias} is promoted from {source.describe(model)}: this command "
                "resolves promotions between environments through `plan` and `apply`"
            )
        return {
            name: {a: v for a, v in model.aliases.items() if isinstance(v, int)}
            for name, model in self.models.items()
        }

    def promotions(self) -> list[tuple[str, str, FromSource]]:
        """(model, alias, source) for every alias promoted from another environment."""
        return [
            (name, alias, value)
            for name, model in self.models.items()
            for alias, value in model.aliases.items()
            if isinstance(value, FromSource)
        ]

    def with_versions(self, versions: Mapping[tuple[str, str], int | None]) -> Spec:
        """This spec with promotions replaced by versions (None: leave the alias out)."""
        models = {}
        for name, model in self.models.items():
            aliases: dict[str, int | FromSource] = {}
            for alias, value in model.aliases.items():
                if isinstance(value, int):
                    aliases[alias] = value
                elif (version := versions.get((name, alias))) is not None:
                    aliases[alias] = version
            models[name] = model.model_copy(update={"aliases": aliases})
        return self.model_copy(update={"models": models})


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec together with where it came from (for rollback edits)."""

    spec: Spec
    source: SourceMap


def load_spec(path: Path) -> LoadedSpec:
    """Read and validate a spec file; every problem is reported at once, located."""
    return parse_spec(read_text(path), str(path))


def parse_spec(text: str, path: str) -> LoadedSpec:
    data, source, issues = compose(text, path)
    if issues and data is None:
        raise SpecError(path, issues)
    if data is None:
        raise SpecError(path, reason=f"file is empty; {EXPECTED_SHAPE}")
    if not isinstance(data, dict):
        top = source.locate(())
        what = "a list" if isinstance(data, list) else f"the single value {data!r}"
        why = f"no top-level 'models' key: the file holds {what}, not a mapping"
        issues.append(SpecIssue(top, f"{why}; {EXPECTED_SHAPE}"))
        raise SpecError(path, sorted(issues, key=lambda i: (i.location.line, i.location.column)))
    try:
        spec = Spec.model_validate(data)
    except ValidationError as error:
        # A node already reported as malformed YAML is not reported again as a bad value.
        seen = {issue.location.key for issue in issues}
        issues += [
            i for i in located_issues(error, source, _fields_at) if i.location.key not in seen
        ]
    else:
        issues += _cross_references(spec, source)
    if issues:
        raise SpecError(path, sorted(issues, key=lambda i: (i.location.line, i.location.column)))
    return LoadedSpec(spec, source)


def _cross_references(spec: Spec, source: SourceMap) -> list[SpecIssue]:
    """The checks that look across the file, each given the parts it reads
    (cross_references.py), and the freezes' own (timespec.freeze_issues)."""
    aliases = {name: model.aliases for name, model in spec.models.items()}
    wanted = {a: p.promote_from.alias for a, p in spec.policies.items() if p.promote_from}
    issues = unknown_promote_from(wanted, aliases, source)
    issues += case_twins(aliases, source)
    issues += promotion_issues(spec.promotions(), spec.environment, source)
    issues += removal_conflicts(spec.removals, aliases, source)
    return issues + freeze_issues(spec.freezes, source)


def _fields_at(parent: KeyPath) -> list[str]:
    """The keys allowed in the mapping at `parent`, where they are fixed."""
    model: type[BaseModel] | None = None
    if not parent:
        model = Spec
    elif len(parent) == 2 and parent[0] == "models":
        model = ModelSpec
    elif parent == ("environment",):
        model = EnvironmentSpec
    elif len(parent) == 4 and parent[0] == "models" and parent[2] == "aliases":
        model = FromSource
    elif len(parent) == 2 and parent[0] == "policies":
        model = Policy
    elif len(parent) == 2 and parent[0] == "freezes":
        model = Freeze
    elif len(parent) == 3 and parent[0] == "policies" and parent[2] == "windows":
        model = Windows
    elif len(parent) == 3 and parent[0] == "policies" and parent[2] == "promote_from":
        model = PromoteFrom
    elif len(parent) == 3 and parent[0] == "policies" and parent[2] == "analysis":
        model = Analysis
    elif len(parent) == 5 and parent[0] == "policies" and parent[2:4] == ("analysis", "metrics"):
        model = AnalysisMetric
    elif len(parent) == 6 and parent[2:4] == ("analysis", "metrics") and parent[5] in PROVIDERS:
        model = PROVIDER_MODELS[str(parent[5])]
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def json_schema() -> dict[str, Any]:
    return Spec.model_json_schema()
