"""A file's `environment:` and promotions from other environments: parsing, located errors."""

from __future__ import annotations

import pytest

from controller.desired.environment import FromSource
from controller.desired.spec import UnresolvedPromotionError, parse_spec
from controller.errors import SpecError

PROD = """\
environment:
  name: prod
  registry_uri_env: MLFLOW_PROD_URI
models:
  bikes:
    aliases:
      champion: {from: staging, version: 7}
      challenger: staging@champion
      shadow: 4
  prod.ml.cars:
    aliases:
      champion: {from: staging, model: staging.ml.cars, alias: champion}
"""


def issues(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "prod.yaml")
    return [
        (i.location.line, i.location.column, i.location.key, i.message) for i in caught.value.issues
    ]


def test_promotions_are_read_in_both_forms_beside_plain_versions() -> None:
    spec = parse_spec(PROD, "prod.yaml").spec
    assert spec.environment is not None
    assert (spec.environment.name, spec.environment.instance_name) == ("prod", "prod")
    assert spec.environment.registry_uri_env == "MLFLOW_PROD_URI"
    assert spec.promotions() == [
        ("bikes", "champion", FromSource.model_validate({"from": "staging", "version": 7})),
        (
            "bikes",
            "challenger",
            FromSource.model_validate({"from": "staging", "alias": "champion"}),
        ),
        (
            "prod.ml.cars",
            "champion",
            FromSource.model_validate(
                {"from": "staging", "model": "staging.ml.cars", "alias": "champion"}
            ),
        ),
    ]
    resolved = spec.with_versions({("bikes", "champion"): 12, ("bikes", "challenger"): None})
    assert resolved.declared() == {"bikes": {"champion": 12, "shadow": 4}, "prod.ml.cars": {}}


def test_a_path_that_cannot_resolve_promotions_refuses_rather_than_drops_them() -> None:
    spec = parse_spec(PROD, "prod.yaml").spec
    with pytest.raises(UnresolvedPromotionError, match=r"bikes@champion is promoted from staging"):
        spec.declared()


def test_a_promotion_needs_the_file_to_name_its_environment() -> None:
    text = "models:\n  bikes:\n    aliases:\n      champion: {from: staging, version: 7}\n"
    [(line, column, key, message)] = issues(text)
    assert (line, column, key) == (4, 17, "models.bikes.aliases.champion")
    assert "this file names no environment of its own" in message


def test_a_promotion_from_the_files_own_environment_is_refused() -> None:
    [(line, _, _, message)] = issues(PROD.replace("{from: staging, version: 7}", "prod@champion"))
    assert line == 7
    assert message == "bikes@champion is promoted from this file's own environment"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{from: staging}", "name exactly one of 'version' (a number) or 'alias'"),
        ("{from: staging, version: 7, alias: x}", "name exactly one of 'version'"),
        ("{from: Staging, version: 7}", "environment name 'Staging' must start with a lowercase"),
        ("{from: staging, version: 0}", "greater than 0"),
        ("{from: staging, vresion: 7}", "unknown key 'vresion'; did you mean 'version'?"),
        ("staging", "got the string 'staging'; a version promoted from another environment"),
        ("staging@v2", "alias 'v2' is reserved by MLflow"),
        ("0", "version must be a positive integer, got 0"),
        ("'3'", "version must be a positive integer, got the string '3' (remove the quotes)"),
    ],
)
def test_bad_promotions_are_located_at_the_alias(value: str, expected: str) -> None:
    found = issues(PROD.replace("{from: staging, version: 7}", value))
    assert len(found) == 1, found
    [(line, _, key, message)] = found
    assert line == 7
    assert key.startswith("models.bikes.aliases.champion")
    assert expected in message


def test_a_uri_with_credentials_is_refused_and_never_echoed() -> None:
    text = PROD.replace("registry_uri_env: MLFLOW_PROD_URI", "registry_uri: https://u:hunter2@h")
    [(line, _, key, message)] = issues(text)
    assert (line, key) == (3, "environment.registry_uri")
    assert "never commit them" in message
    assert "hunter2" not in message


def test_an_environment_names_one_uri_at_most_and_has_a_name() -> None:
    both = PROD.replace(
        "registry_uri_env: MLFLOW_PROD_URI",
        "registry_uri_env: MLFLOW_PROD_URI\n  registry_uri: databricks-uc",
    )
    assert "give registry_uri or registry_uri_env, not both" in issues(both)[0][3]
    nameless = PROD.replace("  name: prod\n", "")
    assert issues(nameless)[0][2:] == ("environment.name", "missing required key 'name'")
