"""Names in the file: aliases, models and versions, by MLflow's own rules (pure)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# MLflow's own rules for alias names (mlflow/utils/validation.py).
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+$")
RESERVED_VERSION_ALIAS = re.compile(r"^v\d+$", re.IGNORECASE)
MAX_ALIAS_LENGTH = 255


def check_alias_name(name: str) -> str:
    if len(name) > MAX_ALIAS_LENGTH:
        raise ValueError(f"alias name is longer than {MAX_ALIAS_LENGTH} characters")
    if not ALIAS_PATTERN.match(name):
        raise ValueError(f"alias {name!r} may contain only letters, digits, '_' and '-'")
    if name.lower() == "latest":
        raise ValueError(f"alias {name!r} is reserved by MLflow")
    if RESERVED_VERSION_ALIAS.match(name):
        raise ValueError(f"alias {name!r} is reserved by MLflow (looks like a version, v<N>)")
    return name


# The registered models aliasctl keeps its own state in (controller/registry/seam.py).
STATE_MODEL = re.compile(r"(^|\.)aliasctl[._](lock|inventory)[._]")


def check_model_name(name: str) -> str:
    if not name.strip():
        raise ValueError("model name must not be empty")
    if name != name.strip():
        raise ValueError(f"model name {name!r} has leading or trailing spaces")
    if STATE_MODEL.search(name):
        raise ValueError(f"model name {name!r} is reserved for aliasctl's own lock and inventory")
    return name


def split_target(text: str) -> tuple[str, str | None]:
    """MODEL or MODEL@ALIAS. Alias names never hold '@' but model names may, so split on the
    last one (three-level names such as `catalog.schema.model@champion` keep their dots)."""
    model, at, alias = text.rpartition("@")
    return (model, alias) if at else (text, None)


AliasName = Annotated[str, AfterValidator(check_alias_name)]
ModelName = Annotated[str, AfterValidator(check_model_name)]
Version = Annotated[int, Field(strict=True, gt=0, description="A registered model version (>= 1)")]
