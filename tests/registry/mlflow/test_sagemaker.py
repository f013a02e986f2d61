"""SageMaker's managed MLflow (`arn:` registry URIs) where its plugin is not installed.

Nothing here reaches AWS: the dev environment deliberately lacks `sagemaker-mlflow` (the
`sagemaker` extra), so every command must stop at the URI with one line naming the extra,
before MLflow opens a store and before anything is written, and with AWS credentials
planted in the environment none of them may show, `--debug` included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

import pytest

from controller.errors import RegistryError
from controller.registry.mlflow.webhooks import MlflowWebhooks
from tests.conftest import write_spec

if TYPE_CHECKING:
    from pathlib import Path

ACCOUNT = "123456789012"
TRACKING_SERVER = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:mlflow-tracking-server/prod-registry"
APP = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:mlflow-app/app-3xample0id"
SHOWN = "arn:aws:sagemaker:eu-west-1:********9012:mlflow-tracking-server/prod-registry"
MISSING = "the arn: registry URI needs the SageMaker plugin: pip install 'aliasctl[sagemaker]'"
# Planted credentials: botocore would sign with these; no output may ever hold them.
AWS_SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAPLANTEDKEYID0000",
    "AWS_SECRET_ACCESS_KEY": "planted/secret+access+key/0123456789abcdefghij",
    "AWS_SESSION_TOKEN": "planted-session-token-FwoGZXIvYXdzEJr//////////wEaDPlanted",
}


# Earlier tests in this process may have pointed MLflow somewhere (mlflow.set_tracking_uri
# sets the variable): each test here says where the registry is.
WHERE = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "ALIASCTL_REGISTRY_URI")


def inherited() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in WHERE}


def aliasctl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """aliasctl as a process of its own (the CLI's real exit, stderr and environment)."""
    done = subprocess.run(
        [sys.executable, "-m", "controller", "--debug", *args],
        cwd=cwd,
        env={**inherited(), **AWS_SECRETS, "ALIASCTL_WEBHOOK_SECRET": "w" * 32, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_the_plugin_is_not_installed_here() -> None:
    """What makes the tests below real: MLflow finds no registry store for `arn`."""
    assert not entry_points(group="mlflow.model_registry_store", name="arn")


def commands(spec: str) -> list[list[str]]:
    return [
        ["plan", spec],
        ["apply", spec],
        ["drift", spec],
        ["import", "--all", "--out", "imported.yaml"],
        ["unlock", spec, "--force"],
        ["serve", spec, "--listen", "127.0.0.1:0"],
        ["webhook", "install", "--url", "https://aliasctl.example/webhooks/mlflow"],
        ["webhook", "test"],
    ]


@pytest.mark.parametrize("uri", [TRACKING_SERVER, APP], ids=["tracking-server", "app"])
def test_every_command_names_the_extra_in_one_line_and_writes_nothing(
    tmp_path: Path, uri: str
) -> None:
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in commands(spec.name):
        code, out, err = aliasctl(tmp_path, *command, "--registry-uri", uri)
        assert (code, out) == (1, ""), (command, err)
        assert err.endswith(f": {MISSING}\n"), (command, err)
        assert err.count("\n") == 1, (command, err)
        assert ACCOUNT not in err
        for secret in AWS_SECRETS.values():
            assert secret not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no mlflow.db, no file
    assert spec.read_text() == "models:\n  bikes:\n    aliases:\n      champion: 2\n"


def test_an_arn_from_mlflows_own_variable_is_checked_too(tmp_path: Path) -> None:
    """SageMaker's guides set MLFLOW_TRACKING_URI to the ARN: no --registry-uri at all."""
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    code, out, err = aliasctl(tmp_path, "plan", spec.name, env={"MLFLOW_TRACKING_URI": APP})
    assert (code, out) == (1, "")
    shown = "arn:aws:sagemaker:us-east-1:********9012:mlflow-app/app-3xample0id"
    assert err == f"Error: registry {shown}: {MISSING}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aliases.yaml"]


@pytest.mark.parametrize(
    "uri",
    [
        "arn:aws:s3:::a-bucket",  # an ARN, of something else
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package-group/bikes",
        f"arn:aws-cn:sagemaker:cn-north-1:{ACCOUNT}:mlflow-tracking-server/x",  # not resolved
        f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:mlflow-tracking-server/",
        "arn:aws:sagemaker:eu-west-1:1234:mlflow-tracking-server/short-account",
    ],
)
def test_an_arn_that_is_not_a_sagemaker_mlflow_server_is_one_line(tmp_path: Path, uri: str) -> None:
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    code, out, err = aliasctl(tmp_path, "plan", spec.name, "--registry-uri", uri)
    assert (code, out) == (1, "")
    assert "not a SageMaker MLflow ARN (expected arn:aws:sagemaker:REGION:ACCOUNT:" in err
    assert err.count("\n") == 1
    assert ACCOUNT not in err


def test_plans_show_the_arn_with_the_account_masked(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "aliases.yaml", {"bikes": {"champion": 2}})
    _, _, err = aliasctl(tmp_path, "plan", spec.name, "--registry-uri", TRACKING_SERVER)
    assert err == f"Error: registry {SHOWN}: {MISSING}\n"


def test_webhooks_on_sagemaker_are_refused_before_mlflow_is_reached() -> None:
    """With the plugin installed the URI passes; the webhook adapter still says there are none."""
    with pytest.raises(RegistryError) as refused:
        MlflowWebhooks(APP)
    assert str(refused.value) == (
        "registry arn:aws:sagemaker:us-east-1:********9012:mlflow-app/app-3xample0id: "
        "SageMaker's managed MLflow has no webhooks (no IAM action for them): "
        "`aliasctl serve` polls it every --interval instead"
    )
