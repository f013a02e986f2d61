"""Environments in the file: which registry a file describes, and promotions between them.

A file may open with an `environment:` block naming the environment it describes
(`staging`, `prod`) and where that environment's registry is. An alias in such a file
may then be promoted from another environment by where the version came from, not by
a number the target registry has not assigned yet:

    champion: {from: staging, version: 7}     # staging's version 7
    champion: staging@champion                # whatever staging's file names there

`apply` copies the version into this environment's registry once (found again by a
tag naming its source) and then moves the alias to the copy (controller/environments).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from controller.desired.names import AliasName, ModelName, Version, check_alias_name

_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid", populate_by_name=True)
ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VARIABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# user:password@ in a URI: a secret that must never be committed.
_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def check_environment_name(name: str) -> str:
    if not ENVIRONMENT_PATTERN.match(name):
        raise ValueError(
            f"environment name {name!r} must start with a lowercase letter and hold only "
            "lowercase letters, digits, '_' and '-' (like staging, prod, eu-prod)"
        )
    return name


def check_variable(name: str) -> str:
    if not VARIABLE_PATTERN.match(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    return name


def check_registry_uri(uri: str) -> str:
    if _CREDENTIALS.match(uri):
        raise ValueError(
            "the URI holds a user and password: never commit them; put the URI in a secret "
            "and name its variable with registry_uri_env"
        )
    return uri


EnvironmentName = Annotated[str, AfterValidator(check_environment_name)]


class EnvironmentSpec(BaseModel):
    """The environment a file describes, and where its registry is."""

    model_config = _STRICT
    name: EnvironmentName = Field(description="The environment's name: staging, prod, ...")
    registry_uri: Annotated[str, AfterValidator(check_registry_uri)] | None = Field(
        default=None,
        description="The environment's registry (tracking) URI, when it may be committed "
        "(databricks-uc, a host without credentials). Neither this nor registry_uri_env: "
        "the registry the command is given (--registry-uri, MLFLOW_REGISTRY_URI, ...).",
    )
    registry_uri_env: Annotated[str, AfterValidator(check_variable)] | None = Field(
        default=None,
        description="The environment variable holding the registry URI (a CI secret): "
        "keeps host names and credentials out of git.",
    )
    instance: Annotated[str, AfterValidator(check_environment_name)] | None = Field(
        default=None,
        description="The controller instance (lock and inventory); the environment's name by "
        "default, so environments sharing one registry never share an inventory.",
    )

    @model_validator(mode="after")
    def _one_uri(self) -> EnvironmentSpec:
        if self.registry_uri is not None and self.registry_uri_env is not None:
            raise ValueError("give registry_uri or registry_uri_env, not both")
        return self

    @property
    def instance_name(self) -> str:
        return self.instance or self.name


class FromSource(BaseModel):
    """A version promoted from another environment, named by where it came from."""

    model_config = _STRICT
    from_: EnvironmentName = Field(alias="from", description="The environment it comes from.")
    version: Version | None = Field(
        default=None, description="The version's number in that environment's registry."
    )
    alias: AliasName | None = Field(
        default=None,
        description="Or: the version that environment's file names for this alias.",
    )
    model: ModelName | None = Field(
        default=None,
        description="The model's name in that environment, where it differs "
        "(staging.ml.bikes for prod.ml.bikes); the same name by default.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> FromSource:
        if (self.version is None) == (self.alias is None):
            raise ValueError("name exactly one of 'version' (a number) or 'alias'")
        return self

    def describe(self, model: str) -> str:
        """`staging bikes v7`, `staging bikes@champion`."""
        source_model = self.model or model
        what = f"v{self.version}" if self.version is not None else f"@{self.alias}"
        return f"{self.from_} {source_model}{'' if what.startswith('@') else ' '}{what}"


def _from_text(value: object) -> object:
    """`staging@champion` is {from: staging, alias: champion}; other strings are left to
    the version's own check (which says how to write either)."""
    if isinstance(value, str) and "@" in value:
        env, _, alias = value.partition("@")
        return {"from": check_environment_name(env), "alias": check_alias_name(alias)}
    return value


# ENVIRONMENT@ALIAS, the short form of {from: ENVIRONMENT, alias: ALIAS}.
FromText = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*@[A-Za-z0-9_\-]+$")]
AliasValue = Annotated[
    Version | FromSource,
    BeforeValidator(_from_text, json_schema_input_type=Version | FromText | FromSource),
]
