"""Analysis providers against real parts: Prometheus, an HTTP server, processes, MLflow."""

from __future__ import annotations

import json
import math
import socket
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from controller.analysis.providers import measure
from controller.analysis.reading import Reading
from controller.analysis.template import TemplateError, render
from controller.core.analysis import Target
from controller.desired.analysis import AnalysisMetric
from controller.errors import ProviderError
from tests.conftest import client_for
from tests.support.fake_registry import FakeRegistry
from tests.support.mlflow_server import free_port
from tests.support.prometheus import PROMETHEUS_GROUP

if TYPE_CHECKING:
    from collections.abc import Iterator

    from controller.registry.seam import Registry
    from tests.support.prometheus import PrometheusServer

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
JUDGED = {"success": "true"}  # measure() does not judge: any condition will do


def metric(provider: str, settings: dict[str, Any], **more: Any) -> AnalysisMetric:
    extra = {} if provider == "command" else JUDGED
    return AnalysisMetric.model_validate({"name": "m", provider: settings, **extra, **more})


def target(model: str = "bikes", version: int = 3) -> Target:
    return Target(model=model, alias="champion", version=version, previous=2)


def take(
    spec: AnalysisMetric, on: Target | None = None, registry: Registry | None = None
) -> Reading:
    return measure(spec, on or target(), SINCE, registry or FakeRegistry())


# -- templates ------------------------------------------------------------------------------


def test_template_replaces_names_with_or_without_spaces() -> None:
    values = target().template_values()
    text = "{{model}}/{{ version }}/{{  previous_version}}/{{model_uri}}@{{alias}}"
    assert render(text, values) == "bikes/3/2/models:/bikes/3@champion"


def test_template_names_an_unknown_placeholder() -> None:
    with pytest.raises(TemplateError, match=r"unknown placeholder \{\{modle\}\}"):
        render("x{{ modle }}", target().template_values())


def test_unknown_placeholder_is_a_provider_error_when_the_spec_was_not_checked() -> None:
    # The spec refuses an unknown placeholder at load; a metric built around the check
    # (model_construct) still fails in the provider, never runs with the text left in.
    checked = metric("command", {"argv": ["true"]}).command
    assert checked is not None
    unchecked = type(checked).model_construct(argv=["true", "{{verison}}"])
    spec = AnalysisMetric.model_construct(name="m", command=unchecked)
    with pytest.raises(ProviderError, match=r"command: metric m: unknown placeholder"):
        take(spec)


# -- prometheus ---------------------------------------------------------------------------

needs_prometheus = pytest.mark.xdist_group(PROMETHEUS_GROUP)
ERROR_RATE = 'model_error_rate{model="{{model}}", version="{{version}}"}'


def prometheus_metric(address: str, query: str = ERROR_RATE, **settings: Any) -> AnalysisMetric:
    return metric("prometheus", {"address": address, "query": query, **settings})


@needs_prometheus
def test_prometheus_one_sample_reads_as_a_number(prometheus: PrometheusServer, unique: str) -> None:
    prometheus.exporter.set_error_rate(unique, 3, 0.02)
    prometheus.wait_for_value(f'model_error_rate{{model="{unique}"}}', 0.02)
    reading = take(prometheus_metric(prometheus.address), target(unique))
    assert reading.value == 0.02
    assert f'model="{unique}"' in reading.detail
    assert 'version="3"' in reading.detail


@needs_prometheus
def test_prometheus_several_series_read_as_a_list(
    prometheus: PrometheusServer, unique: str
) -> None:
    prometheus.exporter.set_error_rate(unique, 3, 0.01)
    prometheus.exporter.set_error_rate(unique, 4, 0.5)
    prometheus.wait_for(f'model_error_rate{{model="{unique}"}}', lambda r: len(r) == 2)
    spec = prometheus_metric(prometheus.address, 'model_error_rate{model="{{model}}"}')
    reading = take(spec, target(unique))
    assert isinstance(reading.value, list)
    assert sorted(reading.value) == [0.01, 0.5]


@needs_prometheus
def test_prometheus_no_series_reads_as_an_empty_list(
    prometheus: PrometheusServer, unique: str
) -> None:
    prometheus.wait_for("up", lambda r: len(r) == 1)  # it scrapes: the emptiness is the series'
    assert take(prometheus_metric(prometheus.address), target(unique)).value == []


@needs_prometheus
def test_prometheus_nan_and_infinity_read_as_floats(
    prometheus: PrometheusServer, unique: str
) -> None:
    prometheus.exporter.set_error_rate(unique, 3, math.nan)
    prometheus.exporter.set_error_rate(unique, 4, math.inf)
    prometheus.wait_for_value(f'model_error_rate{{model="{unique}",version="3"}}', math.nan)
    prometheus.wait_for_value(f'model_error_rate{{model="{unique}",version="4"}}', math.inf)
    nan = take(prometheus_metric(prometheus.address), target(unique, 3)).value
    inf = take(prometheus_metric(prometheus.address), target(unique, 4)).value
    negative = take(
        prometheus_metric(prometheus.address, "-" + ERROR_RATE), target(unique, 4)
    ).value
    assert isinstance(nan, float)
    assert math.isnan(nan)
    assert (inf, negative) == (math.inf, -math.inf)


@needs_prometheus
def test_prometheus_scalar_and_rate_of_a_counter(prometheus: PrometheusServer, unique: str) -> None:
    prometheus.exporter.count_requests(unique, 3, 5)
    prometheus.wait_for(f'model_requests_total{{model="{unique}"}}', lambda r: len(r) == 1)
    assert take(prometheus_metric(prometheus.address, "scalar(vector(2) + 1)")).value == 3.0
    total = 'sum(model_requests_total{model="{{model}}"})'
    assert take(prometheus_metric(prometheus.address, total), target(unique)).value == 5.0


@needs_prometheus
def test_prometheus_refusing_the_query_is_an_error(prometheus: PrometheusServer) -> None:
    with pytest.raises(ProviderError, match=r"refused the query: .*parse error.*\(bad_data\)"):
        take(prometheus_metric(prometheus.address, "sum(model_error_rate"))


@needs_prometheus
def test_prometheus_range_vector_is_an_error(prometheus: PrometheusServer) -> None:
    with pytest.raises(ProviderError, match="answered a matrix: write a query"):
        take(prometheus_metric(prometheus.address, "model_error_rate[1m]"))


def test_prometheus_down_is_an_error_naming_the_address_without_its_password() -> None:
    port = free_port()  # nothing listens there
    spec = prometheus_metric(f"http://reader:s3cret-passw0rd@127.0.0.1:{port}/")
    with pytest.raises(ProviderError) as caught:
        take(spec)
    message = str(caught.value)
    assert message.startswith(f"prometheus: cannot reach http://127.0.0.1:{port}/")
    assert "s3cret-passw0rd" not in message


def test_prometheus_that_never_answers_times_out() -> None:
    with socket.socket() as listening:  # accepts connections (the kernel does), answers nothing
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        address = f"http://127.0.0.1:{listening.getsockname()[1]}"
        with pytest.raises(ProviderError, match="did not answer within 1s"):
            take(prometheus_metric(address, timeout="1s"))


def test_prometheus_answer_that_is_not_json_is_an_error(json_server: JsonServer) -> None:
    with pytest.raises(ProviderError, match="answered 200 with no JSON: '<html>hello</html>'"):
        take(prometheus_metric(json_server.address + "/html"))


# -- http ---------------------------------------------------------------------------------

ANSWER = {"data": {"error_rate": 0.01}, "items": [{"value": 3}, {"value": 4}], "ok": True}
BEARER = "a-bearer-only-the-monitor-knows"


class JsonServer:
    """A real HTTP server on 127.0.0.1 (a thread): fixed answers, the headers it was sent."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.seen.append(dict(self.headers))
                auth = self.headers.get("Authorization", "")
                if self.path.startswith("/metrics/"):
                    if auth != f"Bearer {BEARER}":
                        self._send(401, json.dumps({"error": f"bad token {auth}"}).encode())
                    else:
                        self._send(200, json.dumps({**ANSWER, "path": self.path}).encode())
                elif self.path == "/broken":  # an error page that quotes the request back
                    self._send(500, f"internal error while serving {auth}".encode())
                elif self.path == "/moved":  # elsewhere: where the token must not follow
                    self.send_response(302)
                    self.send_header("Location", "http://user:pw@elsewhere.invalid/x?k=v")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path.startswith("/html"):
                    self._send(200, b"<html>hello</html>")
                else:
                    self._send(404, b"{}")

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def json_server() -> Iterator[JsonServer]:
    server = JsonServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join()


@pytest.fixture
def bearer(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # A name that does not say "token": only `remember` keeps its value out of messages.
    monkeypatch.setenv("MONITOR_BEARER", BEARER)
    return {"Authorization": "Bearer ${MONITOR_BEARER}"}


def http_metric(url: str, headers: dict[str, str], json_path: str | None = None) -> AnalysisMetric:
    return metric("http", {"url": url, "headers": headers, "json_path": json_path})


def test_http_reads_a_json_path_with_templated_url_and_env_header(
    json_server: JsonServer, bearer: dict[str, str]
) -> None:
    url = json_server.address + "/metrics/{{model}}/{{version}}"
    reading = take(http_metric(url, bearer, "data.error_rate"))
    assert reading.value == 0.01
    assert json_server.seen[-1]["Authorization"] == f"Bearer {BEARER}"
    assert take(http_metric(url, bearer, "items.1.value")).value == 4
    assert take(http_metric(url, bearer, "ok")).value is True
    whole = take(http_metric(url, bearer)).value
    assert isinstance(whole, dict)
    assert whole["path"] == "/metrics/bikes/3"


def test_http_missing_json_path_is_an_error(
    json_server: JsonServer, bearer: dict[str, str]
) -> None:
    url = json_server.address + "/metrics/x"
    for path, missing in [("data.latency", "data.latency"), ("items.7.value", "items.7")]:
        with pytest.raises(ProviderError, match=f"answered without {missing}$"):
            take(http_metric(url, bearer, path))


def test_http_error_answer_is_an_error_without_the_token(
    json_server: JsonServer, bearer: dict[str, str]
) -> None:
    with pytest.raises(ProviderError) as caught:
        take(http_metric(json_server.address + "/broken", bearer))
    assert "answered 500: 'internal error while serving Bearer ***'" in str(caught.value)
    assert BEARER not in str(caught.value)
    with pytest.raises(ProviderError, match="answered 401") as caught:
        take(http_metric(json_server.address + "/metrics/x", {"Authorization": "Bearer wrong"}))


def test_http_answer_that_is_not_json_is_an_error(json_server: JsonServer) -> None:
    with pytest.raises(ProviderError, match="answered 200 with no JSON"):
        take(http_metric(json_server.address + "/html", {}))


def test_http_redirect_is_not_followed(json_server: JsonServer, bearer: dict[str, str]) -> None:
    with pytest.raises(ProviderError) as caught:
        take(http_metric(json_server.address + "/moved", bearer))
    assert str(caught.value) == (
        f"http: {json_server.address}/moved answered 302, a redirect to "
        "http://elsewhere.invalid/x: write the address it names"
    )
    assert len(json_server.seen) == 1


def test_http_address_that_is_not_http_is_an_error() -> None:
    with pytest.raises(
        ProviderError, match="http: file:///etc/passwd is not an http:// or https:// address"
    ):
        take(http_metric("file:///etc/passwd", {}))


def test_http_missing_variable_is_named_never_its_value(
    json_server: JsonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_BEARER", raising=False)
    headers = {"Authorization": "Bearer ${MONITOR_BEARER}"}
    with pytest.raises(ProviderError, match=r"variable MONITOR_BEARER \(header Authorization\)"):
        take(http_metric(json_server.address + "/metrics/x", headers))
    assert json_server.seen == []  # nothing was sent


# -- command ------------------------------------------------------------------------------


def python(code: str, *args: str, **settings: Any) -> AnalysisMetric:
    return metric("command", {"argv": [sys.executable, "-c", code, *args], **settings})


def test_command_exit_code_is_the_reading_with_the_output_tail() -> None:
    passed = take(python("import sys; print(sys.argv[1:])", "{{model}}", "{{ version }}"))
    assert passed == Reading(0, "['bikes', '3']")
    lines = "for i in range(50): print('line', i)\nraise SystemExit(3)"
    failed = take(python(lines))
    assert failed.value == 3
    assert failed.detail.splitlines() == [f"line {i}" for i in range(30, 50)]


def test_command_past_its_timeout_is_an_error() -> None:
    code = "import time; print('started', flush=True); time.sleep(600)"
    with pytest.raises(
        ProviderError, match=r"ran past its timeout \(1s\); its output ended:\nstarted"
    ):
        take(python(code, timeout="1s"))


def test_command_that_cannot_start_or_is_killed_is_an_error() -> None:
    with pytest.raises(
        ProviderError, match="cannot run '/nonexistent/smoke-test': no such program"
    ):
        take(metric("command", {"argv": ["/nonexistent/smoke-test"]}))
    with pytest.raises(ProviderError, match="was killed by SIGKILL"):
        take(python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))


def test_command_gets_no_secrets_but_the_ones_passed_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-of-the-controller")
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://etl:warehouse-pass@db/x")
    monkeypatch.setenv("SERVICE_API_KEY", "the-smoke-tests-key")
    monkeypatch.setenv("SMOKE_REGION", "eu-west-1")
    code = (
        "import os\n"
        "print(sorted(k for k in ('AWS_SECRET_ACCESS_KEY', 'WAREHOUSE_URL', 'SERVICE_API_KEY',"
        " 'SMOKE_REGION') if k in os.environ))\n"
        "print(os.environ.get('SERVICE_API_KEY'))"
    )
    reading = take(python(code, env=["SERVICE_API_KEY"]))
    assert reading.value == 0
    # The passed key reached the child; its value is still redacted from the output.
    assert reading.detail == "['SERVICE_API_KEY', 'SMOKE_REGION']\n***"
    with pytest.raises(ProviderError, match=r"variable NOT_SET_ANYWHERE \(env:\) is not set"):
        take(python("pass", env=["NOT_SET_ANYWHERE"]))


# -- mlflow -------------------------------------------------------------------------------


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def test_mlflow_reads_the_latest_fresh_point_of_the_selected_runs(sqlite_uri: str) -> None:
    from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: PLC0415

    client = client_for(sqlite_uri)
    experiment = client.create_experiment("serving")
    mine = client.create_run(experiment, tags={"model_version": "3"}).info.run_id
    other = client.create_run(experiment, tags={"model_version": "2"}).info.run_id
    before, after = SINCE - timedelta(minutes=5), SINCE + timedelta(minutes=5)
    client.log_metric(mine, "error_rate", 0.9, timestamp=_ms(before))  # stale: the old version
    client.log_metric(mine, "error_rate", 0.03, timestamp=_ms(SINCE))
    client.log_metric(mine, "error_rate", 0.02, timestamp=_ms(after))
    client.log_metric(other, "error_rate", 0.7, timestamp=_ms(after + timedelta(minutes=1)))
    registry = MlflowRegistry(sqlite_uri)
    spec = metric(
        "mlflow",
        {"metric": "error_rate", "experiment": "serving",
         "filter": "tags.model_version = '{{version}}'"},
    )  # fmt: skip
    assert take(spec, registry=registry) == Reading(0.02, "error_rate from experiment 'serving'")
    by_run = metric("mlflow", {"metric": "error_rate", "run_id": other})
    assert take(by_run, registry=registry).value == 0.7

    later = measure(spec, target(), after + timedelta(seconds=1), registry)
    assert later.value == []  # only stale points: no data
    unlogged = metric("mlflow", {"metric": "latency", "experiment": "serving"})
    assert take(unlogged, registry=registry).value == []


def test_mlflow_unknown_experiment_or_run_is_an_error(sqlite_uri: str) -> None:
    from controller.registry.mlflow.adapter import MlflowRegistry  # noqa: PLC0415

    registry = MlflowRegistry(sqlite_uri)
    missing = metric("mlflow", {"metric": "error_rate", "experiment": "nowhere"})
    with pytest.raises(ProviderError, match="mlflow: reading error_rate from experiment 'nowhere'"):
        take(missing, registry=registry)
    gone = metric("mlflow", {"metric": "error_rate", "run_id": "0123456789abcdef"})
    with pytest.raises(ProviderError, match="from run 0123456789abcdef"):
        take(gone, registry=registry)
    client_for(sqlite_uri).create_experiment("serving")
    bad = metric(
        "mlflow", {"metric": "error_rate", "experiment": "serving", "filter": "tags.x ~ 1"}
    )
    with pytest.raises(ProviderError, match="from experiment 'serving': registry sqlite:"):
        take(bad, registry=registry)


def test_mlflow_reading_through_the_fake_registry() -> None:
    fake = FakeRegistry(metric_points={"error_rate": [(_ms(SINCE) - 1, 0.5), (_ms(SINCE), 0.1)]})
    spec = metric("mlflow", {"metric": "error_rate", "experiment": "serving"})
    assert take(spec, registry=fake).value == 0.1
