"""The condition language of `success:` and `failure:` (controller/desired/conditions.py)."""

from __future__ import annotations

import math

import pytest

from controller.desired.conditions import ConditionError, check_condition, evaluate
from controller.desired.spec import parse_spec
from controller.errors import SpecError

NAN = float("nan")
INF = float("inf")

HOLDS = [
    ("result < 0.05", 0.01, True),
    ("result < 0.05", 0.05, False),
    ("result >= 0.05", 0.05, True),
    ("0 <= result < 1", 0.5, True),
    ("0 <= result < 1", 1, False),
    ("result == 3", 3.0, True),
    ("result != 3", 4, True),
    ("result[0] < 0.1 and result[1] < 0.1", [0.05, 0.2], False),
    ("result[-1] > 1", [0, 2], True),
    ("result.data.error_rate <= 0.02", {"data": {"error_rate": 0.02}}, True),
    ('result["data"]["error_rate"] <= 0.02', {"data": {"error_rate": 0.03}}, False),
    ('result.status == "ok"', {"status": "ok"}, True),
    ('"a" < result', "b", True),
    ("result or false", True, True),
    ("not result", False, True),
    ("true", None, True),
    ("False", None, False),
    ("result == None", None, True),
    ("result.x == None", {"x": None}, True),
    ("-result > 1", -2, True),
    ("result * 100 + 1 - 2 / 4 > 10", 0.1, True),
    ("len(result) == 0", [], True),
    ("len(result.items) == 2", {"items": [1, 2]}, True),
    ("abs(result) < 1", -0.5, True),
    ("max(result) < 0.1", [0.01, 0.09], True),
    ("min(result) > 0.1", [0.01, 0.2], False),
    ("max(result, 0.5) == 0.5", 0.2, True),
    ("all(result)", [True, True], True),
    ("any(result)", [False, False], False),
    ("all(result)", [], True),
    ("isnan(result)", NAN, True),
    ("isinf(result)", -INF, True),
    ("default(result.missing, 0) == 0", {}, True),
    ("default(result[3], 1) == 1", [1], True),
    ("default(result.x, 1) == 2", {"x": 2}, True),
    ("default(result.x, 1) == 1", {"x": None}, True),
    ("float(result) > 0.5", "0.75", True),
    ("float(result) == 1", 1, True),
    ('"ok" in result', ["ok", "fine"], True),
    ('"ok" not in result', {"ok": 1}, False),
    ('"fail" in result', "no error", False),
]


@pytest.mark.parametrize(("text", "result", "expected"), HOLDS)
def test_condition_evaluates_against_the_result(text: str, result: object, expected: bool) -> None:
    assert check_condition(text) == text
    assert evaluate(text, result) is expected


# NaN follows IEEE 754: every comparison is false, but !=, so neither success nor failure holds.
NAN_CASES = [
    ("result < 0.05", False),
    ("result >= 0.05", False),
    ("result == result", False),
    ("result > -1", False),
    ("result != 0", True),
    ("isnan(result)", True),
]


@pytest.mark.parametrize(("text", "expected"), NAN_CASES)
def test_comparisons_with_nan_are_false(text: str, expected: bool) -> None:
    assert evaluate(text, NAN) is expected
    assert evaluate(text.replace("result", "result[0]"), [NAN]) is expected


def test_infinity_compares_as_a_number() -> None:
    assert evaluate("result > 1000000", INF)
    assert not evaluate("result < 0", INF)
    assert math.isinf(INF)


REFUSED = [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("result <", "not a valid condition"),
    ("open('/etc/passwd')", "calls to 'open' are not allowed"),
    ("__import__('os')", "calls to '__import__' are not allowed"),
    ("__import__('os').system('id')", "only calls to len, abs"),
    ("result.__class__", "'__class__' is not allowed"),
    ("result.__class__.__mro__", "'__mro__' is not allowed"),
    ("result.keys()", "only calls to len, abs"),
    ("x < 1", "the name 'x' is not allowed"),
    ("os", "the name 'os' is not allowed"),
    ("len", "'len' is a function: call it"),
    ("result < 1 and max", "'max' is a function"),
    ("result ** 2 > 1", "the operator '**' is not allowed"),
    ("result // 2 > 1", "the operator '//' is not allowed"),
    ("result % 2 == 1", "the operator '%' is not allowed"),
    ("result & 1", "the operator '&' is not allowed"),
    ("~result", "the operator '~' is not allowed"),
    ("result is None", "the operator 'is' is not allowed: use == or !="),
    ("result[1:2] == 1", "slices are not allowed"),
    ("[1, 2]", "list literals are not allowed"),
    ("(1, 2)", "tuples are not allowed"),
    ("{'a': 1}", "dict literals are not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("[x for x in result]", "comprehensions are not allowed"),
    ("1 if result else 2", "if-else expressions are not allowed"),
    ("f'{result}'", "f-strings are not allowed"),
    ("(y := 1)", "':=' assignments are not allowed"),
    ("b'x' == result", "the constant b'x' is not allowed"),
    ("1j == result", "the constant 1j is not allowed"),
    ("len(result, 2)", "len() takes 1 argument, got 2"),
    ("default(result)", "default() takes 2 arguments, got 1"),
    ("min()", "min() takes at least 1 argument, got 0"),
    ("abs(x=1)", "abs() takes no keyword arguments"),
    ("result < " + "1" * 2000, "at most 1000 characters"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED)
def test_condition_outside_the_language_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=_escaped(message)):
        check_condition(text)
    with pytest.raises(ConditionError, match=_escaped(message)):
        evaluate(text, 1)


UNDECIDABLE = [
    ("result.error_rate < 1", {"rate": 1}, "no key 'error_rate' in the result (keys: rate)"),
    ("result[2] < 1", [0.1], "index 2 is out of range: the list has 1 item"),
    ("result[0] < 1", [], "index 0 is out of range: the list has 0 items"),
    ("result < 1", "low", "cannot compare a string 'low' with a number 1 (<)"),
    ('result == "1"', 1, "cannot compare a number 1 with a string '1' (==)"),
    ("result < 1", [0.5], "cannot compare a list [0.5] with a number 1 (<)"),
    ("result", 0.5, "the condition gave a number 0.5, not true or false"),
    ("result + 1", 0.5, "the condition gave a number 1.5, not true or false"),
    ("result and true", 1, "'and' takes true or false, got a number 1"),
    ("not result", [], "'not' takes true or false, got a list []"),
    ("result / 0 > 1", 1, "division by zero"),
    ("result + 1 > 1", "a", "'+' takes numbers, got a string 'a'"),
    ("result.x < 1", [1], "cannot look up .x in a list [1]"),
    ("result[0] < 1", {"0": 1}, "an object's keys are strings, got a number 0"),
    ('result["a"] < 1', [1], "a list is indexed by whole numbers, got a string 'a'"),
    ("max(result) < 1", [], "max() of an empty list"),
    ("all(result)", [1], "'all()' takes true or false, got a number 1"),
    ("len(result) > 0", 3, "len() takes a list, an object or a string, got a number 3"),
    ("float(result) > 0", "high", "float() cannot read 'high' as a number"),
    ("1 in result", 5, "'in' needs a list, an object or two strings, got a number 5"),
    ("isnan(result)", "NaN", "'isnan()' takes numbers, got a string 'NaN'"),
]


@pytest.mark.parametrize(("text", "result", "message"), UNDECIDABLE)
def test_result_that_cannot_be_judged_raises_condition_error(
    text: str, result: object, message: str
) -> None:
    check_condition(text)  # the condition itself is fine: the result decides
    with pytest.raises(ConditionError, match=_escaped(message)):
        evaluate(text, result)


def test_short_circuit_spares_the_missing_key() -> None:
    assert evaluate("len(result) > 0 and result[0] < 1", []) is False
    assert evaluate("len(result) == 0 or result[0] < 1", []) is True


SPEC = """\
models:
  bikes:
    aliases:
      champion: 3
policies:
  champion:
    analysis:
      metrics:
        - name: errors
          prometheus:
            address: http://prometheus:9090
            query: model_error_rate
          success: result < 0.05
          failure: open('/etc/passwd')
"""


def test_bad_condition_in_the_spec_is_a_located_error() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(SPEC, "aliases.yaml")
    (issue,) = caught.value.issues
    assert (issue.location.line, issue.location.column) == (14, 20)
    assert issue.location.key == "policies.champion.analysis.metrics.0.failure"
    assert "calls to 'open' are not allowed" in issue.message
    assert str(issue).startswith("aliases.yaml:14:20: policies.champion.analysis.metrics.0")


def test_good_conditions_in_the_spec_are_kept_as_written() -> None:
    spec = parse_spec(SPEC.replace("open('/etc/passwd')", "result >= 0.05"), "a.yaml").spec
    assert spec.policies["champion"].analysis is not None
    (metric,) = spec.policies["champion"].analysis.metrics
    assert (metric.success, metric.failure) == ("result < 0.05", "result >= 0.05")


def test_unknown_placeholder_in_the_spec_is_a_located_error() -> None:
    text = SPEC.replace("query: model_error_rate", "query: rate{v='{{verison}}'}")
    text = text.replace("open('/etc/passwd')", "result >= 0.05")
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "aliases.yaml")
    (issue,) = caught.value.issues
    assert issue.location.line == 12
    assert issue.location.key == "policies.champion.analysis.metrics.0.prometheus.query"
    assert "{{verison}}" in issue.message


def _escaped(message: str) -> str:
    import re  # noqa: PLC0415

    return re.escape(message)
