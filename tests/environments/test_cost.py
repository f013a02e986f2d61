"""What resolving promotions costs: copies are looked for in bulk, so the requests a plan
makes do not grow with the number of promotions (one server, a name per environment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import invoke, seed
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

SEARCH = "GET /api/2.0/mlflow/model-versions/search"


def environments(root: Path, prefix: str, count: int) -> tuple[str, str]:
    """staging declares `count` models at version 1; prod promotes each of them."""
    names = [f"{prefix}-{i}" for i in range(count)]
    staging = "environment: {name: staging, registry_uri_env: THE_URI}\nmodels:\n" + "".join(
        f"  {n}-staging:\n    aliases: {{champion: 1}}\n" for n in names
    )
    prod = (
        f"environment: {{name: prod, registry_uri_env: THE_URI, instance: {prefix}}}\n"
        "models:\n"
        + "".join(
            f"  {n}-prod:\n    aliases:\n      champion: "
            f"{{from: staging, model: {n}-staging, alias: champion}}\n"
            for n in names
        )
    )
    (root / "staging.yaml").write_text(staging)
    (root / "prod.yaml").write_text(prod)
    return str(root / "staging.yaml"), str(root / "prod.yaml")


@pytest.mark.server
@pytest.mark.usefixtures("mlflow_http_defaults")
@pytest.mark.parametrize("count", [2, 7])
def test_a_plan_searches_for_copies_as_often_for_seven_promotions_as_for_two(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mlflow_server: MlflowServer,
    unique: str,
    count: int,
) -> None:
    seed(mlflow_server.uri, {f"{unique}-{i}-staging": 1 for i in range(count)})
    staging, prod = environments(tmp_path, unique, count)
    monkeypatch.setenv("THE_URI", mlflow_server.uri)
    code, out, err = invoke(capsys, "apply", staging, prod, "--environment", "prod")
    assert code == 0, out + err

    with FaultProxy(mlflow_server.uri) as proxy:
        monkeypatch.setenv("THE_URI", proxy.uri)
        code, out, err = invoke(
            capsys, "plan", staging, prod, "--environment", "prod", "--detailed-exitcode"
        )

    assert (code, err) == (0, ""), out
    assert out.count(" is version 1") == count  # every promotion found its copy
    # One bulk search finds every copy (a search per promotion before), and one reads the
    # models: two requests, for two promotions or seven.
    assert proxy.counts[SEARCH] == 1, proxy.counts
    assert proxy.counts["forwarded"] == 2, proxy.counts
