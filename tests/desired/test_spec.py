"""Desired state: valid files load, every bad file gets a located message."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from controller.desired.names import split_target
from controller.desired.spec import Spec, json_schema, load_spec, parse_spec
from controller.errors import SpecError

SPECS = Path(__file__).parent / "specs"
INVALID = sorted((SPECS / "invalid").glob("*.yaml"))
VALID = sorted((SPECS / "valid").glob("*.yaml"))


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_spec_is_rejected_with_located_message(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text().strip()
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert expected in str(caught.value)
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_spec_loads(path: Path) -> None:
    spec = load_spec(path).spec
    assert spec.models
    assert all(v > 0 for aliases in spec.declared().values() for v in aliases.values())


def test_corpus_covers_every_required_case() -> None:
    names = {p.stem for p in INVALID}
    required = {
        "version-bool", "version-float", "version-string", "version-zero", "version-negative",
        "version-null", "version-list", "duplicate-alias", "duplicate-model", "unknown-top-key",
        "unknown-model-key", "empty", "no-models", "python-tag", "billion-laughs", "alias-latest",
        "alias-version-like", "alias-bad-chars", "alias-too-long", "not-utf8",
    }  # fmt: skip
    assert required <= names
    assert all(p.with_suffix(".expected").exists() for p in INVALID)


def test_basic_spec_declares_models_and_aliases() -> None:
    declared = load_spec(SPECS / "valid" / "basic.yaml").spec.declared()
    assert declared == {
        "bikes": {"champion": 3, "challenger": 4},
        "fraud-detector": {"champion": 12},
    }


def test_anchor_reuse_expands_to_the_same_aliases() -> None:
    declared = load_spec(SPECS / "valid" / "anchors.yaml").spec.declared()
    assert declared["bikes"] == declared["bikes-eu"] == {"champion": 3}


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(SPECS / "invalid" / "many-problems.yaml")
    keys = [issue.location.key for issue in caught.value.issues]
    assert keys == [
        "models.bikes.aliases.champion",
        "models.bikes.aliases.latest",
        "models.fraud.aliases.champion",
        "extra",
    ]


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.process_time()
    with pytest.raises(SpecError, match="expands to more than"):
        load_spec(SPECS / "invalid" / "billion-laughs.yaml")
    # A generous bound: building the 10^9-node document would take minutes and gigabytes.
    assert time.process_time() - started < 10


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_directory_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)


def test_location_points_at_the_value_line_and_column() -> None:
    text = "models:\n  bikes:\n    aliases:\n      champion: 1\n      challenger: x\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "inline.yaml")
    (issue,) = caught.value.issues
    assert (issue.location.line, issue.location.column) == (5, 19)
    assert issue.location.key == "models.bikes.aliases.challenger"


def test_source_map_gives_exact_span_of_each_version() -> None:
    text = "models:\n  bikes:\n    aliases:\n      champion: 3 # prod\n"
    loaded = parse_spec(text, "inline.yaml")
    span = loaded.source.values[("models", "bikes", "aliases", "champion")]
    assert text[span.start : span.end] == "3"


def test_committed_schema_matches_the_models() -> None:
    committed = json.loads((Path(__file__).parents[2] / "aliases.schema.json").read_text())
    assert committed == json_schema(), "run `make schema` and commit aliases.schema.json"


def test_schema_describes_models_and_aliases() -> None:
    schema = Spec.model_json_schema()
    assert schema["required"] == ["models"]
    assert schema["additionalProperties"] is False
    model = schema["$defs"]["ModelSpec"]
    version, short, promotion = model["properties"]["aliases"]["additionalProperties"]["anyOf"]
    assert (version["type"], version["exclusiveMinimum"]) == ("integer", 0)
    assert short["pattern"].startswith("^[a-z]")
    assert promotion == {"$ref": "#/$defs/FromSource"}


NUMBER_TRAPS = {
    "version-octal", "version-octal-0o", "version-binary", "version-hex", "version-underscore",
    "version-sexagesimal", "version-plus", "version-infinity", "version-nan", "version-exponent",
    "policy-bool-yes", "policy-tag-octal", "policy-metric-infinity", "key-number-trap",
}  # fmt: skip


def test_corpus_covers_every_yaml_number_trap() -> None:
    assert {p.stem for p in INVALID} >= NUMBER_TRAPS


@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])
def test_number_trap_is_caught_by_either_yaml_parser(
    loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libyaml marks a plain scalar's style as '', the pure-Python parser as None.
    monkeypatch.setattr("controller.desired.yamlsource._Loader", getattr(yaml, loader))
    with pytest.raises(SpecError) as caught:
        parse_spec("models:\n  bikes:\n    aliases:\n      champion: 010\n", "t.yaml")
    (issue,) = caught.value.issues
    assert str(issue).startswith(
        "t.yaml:4:17: models.bikes.aliases.champion: 010 is a number with a leading zero "
        "(YAML 1.1 reads it as 8)"
    )


def test_quoted_and_textual_scalars_are_not_number_traps() -> None:
    text = (
        "models:\n  bikes:\n    aliases:\n      champion: 10\n      challenger: 1\n"
        "policies:\n  champion:\n    protected: true\n"
        "    require_tags: {sklearn: 1.2.3, build: '0755', country: \"no\", zone: 3d}\n"
        '    require_metrics: {rmse: "<= 0.8"}\n'
    )
    spec = parse_spec(text, "t.yaml").spec
    assert spec.declared() == {"bikes": {"champion": 10, "challenger": 1}}
    tags = spec.policies["champion"].require_tags
    assert tags == {"sklearn": "1.2.3", "build": "0755", "country": "no", "zone": "3d"}


def test_removals_split_on_the_last_at_sign() -> None:
    spec = load_spec(SPECS / "valid" / "removals.yaml").spec
    assert [split_target(entry) for entry in spec.removals] == [
        ("main.ml.bikes", "shadow"),
        ("main.ml.fraud-detector", None),
        ("team@eu.churn", "champion"),
    ]


def test_removals_corpus_covers_syntax_and_contradictions() -> None:
    required = {
        "removals-contradiction-alias", "removals-contradiction-model", "removals-bad-alias",
        "removals-trailing-at", "removals-empty-model", "removals-not-list",
        "removals-not-string", "removals-duplicate",
    }  # fmt: skip
    assert {p.stem for p in INVALID} >= required


def test_schema_describes_removals() -> None:
    removals = Spec.model_json_schema()["properties"]["removals"]
    assert removals["type"] == "array"
    assert removals["items"]["type"] == "string"


def test_unquoted_freeze_times_read_as_the_text_they_spell() -> None:
    """YAML 1.1 resolves `2027-02-01` and `... 18:30:00` as timestamps; YAML 1.2 as text."""
    spec = load_spec(SPECS / "valid" / "windows.yaml").spec
    assert [(f.from_, f.to) for f in spec.freezes] == [
        ("2026-12-20T00:00", "2027-01-05T00:00"),
        ("2027-02-01", "2027-02-01 18:30:00"),
    ]
    windows = spec.policies["champion"].windows
    assert windows is not None
    assert windows.timezone == "Europe/Berlin"


def test_an_unquoted_date_elsewhere_is_text_too_and_refused_as_a_version() -> None:
    text = "models:\n  bikes:\n    aliases:\n      champion: 2026-01-01\n"
    with pytest.raises(SpecError, match="version must be a positive integer, got the string"):
        parse_spec(text, "aliases.yaml")
