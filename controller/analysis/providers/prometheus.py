"""The `prometheus` provider: one instant query over Prometheus' HTTP API.

`GET {address}/api/v1/query?query=...`. An instant vector with one sample reads as a
number, with several as a list of numbers (in the order Prometheus sends them), empty as
`[]` (no data: Inconclusive); a scalar as a number. "NaN", "+Inf" and "-Inf" are floats.
Prometheus' own `status: error` (a bad query), an HTTP error, no answer or not JSON are a
ProviderError: the provider could not answer, which is not a failed measurement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from controller.analysis.providers.web import get, parse_json, quote
from controller.analysis.reading import Reading, provider_error
from controller.analysis.template import render
from controller.desired.analysis import seconds
from controller.registry.uris import redact_uri

if TYPE_CHECKING:
    from collections.abc import Mapping

    from controller.desired.analysis import PrometheusQuery

NAME = "prometheus"
SHOWN_SERIES = 3  # the labels of this many series in a reading's detail


def query(spec: PrometheusQuery, values: Mapping[str, str]) -> Reading:
    promql = render(spec.query, values)
    url = f"{spec.address.rstrip('/')}/api/v1/query?{urlencode({'query': promql})}"
    answer = get(NAME, url, {}, seconds(spec.timeout))
    body = parse_json(NAME, url, answer)
    where = redact_uri(spec.address)
    if not isinstance(body, dict):
        raise provider_error(NAME, f"{where} answered {quote(answer)}, not a query result")
    if body.get("status") != "success":
        error = body.get("error") or f"status {answer.status}"
        kind = body.get("errorType")
        raise provider_error(
            NAME, f"{where} refused the query: {error}" + (f" ({kind})" if kind else "")
        )
    if answer.status >= 300:  # a success body behind an error status: not to be trusted
        raise provider_error(NAME, f"{where} answered {answer.status}")
    return _reading(where, body.get("data"))


def _reading(where: str, data: Any) -> Reading:
    if not isinstance(data, dict):
        raise provider_error(NAME, f"{where} answered without data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return Reading(_sample_value(where, result))
    if kind != "vector":
        raise provider_error(
            NAME, f"{where} answered a {kind}: write a query whose result is a number or an "
            "instant vector (no range selector)"
        )  # fmt: skip
    if not isinstance(result, list):
        raise provider_error(NAME, f"{where} answered a vector that is not a list")
    samples = [
        _sample_value(where, s.get("value") if isinstance(s, dict) else None) for s in result
    ]
    labels = [_labels(s.get("metric")) for s in result if isinstance(s, dict)]
    detail = ", ".join(labels[:SHOWN_SERIES])
    if len(labels) > SHOWN_SERIES:
        detail += f" and {len(labels) - SHOWN_SERIES} more"
    if len(samples) == 1:
        return Reading(samples[0], detail)
    return Reading(samples, detail)


def _sample_value(where: str, pair: Any) -> float:
    """`[timestamp, "1.5"]`: the value as a float ("NaN", "+Inf", "-Inf" included)."""
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise provider_error(NAME, f"{where} answered a sample that is not [time, value]: {pair!r}")
    try:
        return float(pair[1])
    except ValueError:
        raise provider_error(
            NAME, f"{where} answered a value that is not a number: {pair[1]!r}"
        ) from None


def _labels(metric: Any) -> str:
    if not isinstance(metric, dict):
        return "{}"
    name = str(metric.get("__name__", ""))
    pairs = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{pairs}}}"
