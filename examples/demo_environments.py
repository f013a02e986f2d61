"""The demo's environments step: staging to production, one reviewed line, copied once.

One registry, a model name per environment (`bikes-staging`, `bikes-prod`), as teams on
Unity Catalog do with `staging.ml.bikes` and `prod.ml.bikes`. Each environment is a file
of its own; production names what it promotes by where it came from.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import mlflow
from demo_shell import MODEL, REPO, DemoError, aliasctl, git, registry_says

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]
    from mlflow.tracking import MlflowClient

STAGING_MODEL, PROD_MODEL = f"{MODEL}-staging", f"{MODEL}-prod"
STAGED_FROM = "demo.staged_from"
FILES = ("repo/envs/staging.yaml", "repo/envs/prod.yaml")
STAGING = """\
environment: {{name: staging}}
models:
  {model}:
    aliases:
      champion: {version}
"""
PROD = """\
environment: {{name: prod}}
models:
  {model}:
    aliases:
      champion: {{from: staging, model: {source}, version: {version}}}
show_metrics: [rmse, r2]
policies:
  champion:
    # Only what was staging's champion may become production's.
    promote_from: {{alias: champion, environment: staging}}
"""


def staged(client: MlflowClient, version: int) -> int:
    """bikes's version `version`, registered in staging once (what a training job would do)."""
    source = f"{MODEL}/{version}"
    for found in client.search_model_versions(f"name='{STAGING_MODEL}'"):
        if found.tags.get(STAGED_FROM) == source:
            return int(found.version)
    if not client.search_registered_models(f"name='{STAGING_MODEL}'"):
        client.create_registered_model(STAGING_MODEL)
    original = client.get_model_version(MODEL, str(version))
    if original.source is None:
        raise DemoError(f"{MODEL} version {version} has no source to stage")
    new = client.create_model_version(
        STAGING_MODEL, original.source, run_id=original.run_id, tags={STAGED_FROM: source}
    )
    print(f"(training job: {MODEL} v{version} staged as {STAGING_MODEL} v{new.version})")
    return int(new.version)


def predict_with_production(client: MlflowClient, rows: pd.DataFrame) -> None:
    version = client.get_model_version_by_alias(PROD_MODEL, "champion")
    model = mlflow.pyfunc.load_model(f"models:/{PROD_MODEL}@champion")
    rentals = [f"{float(r):.0f}" for r in model.predict(rows)]
    print(
        f"models:/{PROD_MODEL}@champion -> version {version.version} "
        f"(copy of {version.tags.get('aliasctl.copied_from')}): {', '.join(rentals)} rentals/hour"
    )


def staging_to_production(client: MlflowClient, wanted: dict[str, int], rows: pd.DataFrame) -> None:
    first = staged(client, wanted["champion"])
    envs = REPO / "envs"
    envs.mkdir(exist_ok=True)
    (envs / "staging.yaml").write_text(STAGING.format(model=STAGING_MODEL, version=first))
    (envs / "prod.yaml").write_text(
        PROD.format(model=PROD_MODEL, source=STAGING_MODEL, version=first)
    )
    print("(write repo/envs/staging.yaml and repo/envs/prod.yaml: an environment each)")
    git("add", "envs")
    git("commit", "--quiet", "-m", "Environments: staging, and production promoted from it")
    aliasctl("plan", *FILES)
    aliasctl("apply", *FILES)
    predict_with_production(client, rows)

    second = staged(client, wanted["challenger"])
    path = envs / "staging.yaml"
    path.write_text(re.sub(r"champion: \d+", f"champion: {second}", path.read_text()))
    git("commit", "--quiet", "-am", f"Staging: champion {second}")
    aliasctl("apply", *FILES, "--environment", "staging")
    aliasctl(
        "promote", f"{PROD_MODEL}@champion", *FILES, "--from", "staging", "--to", "prod", "--commit"
    )
    git("--no-pager", "show", "--format=", "--unified=0", "HEAD")
    aliasctl("plan", *FILES, "--environment", "prod")
    aliasctl("apply", *FILES)
    aliasctl("apply", *FILES, "--environment", "prod")  # again: the copy is found, not made
    copies = client.search_model_versions(f"name='{PROD_MODEL}'")
    by_source = {v.tags.get("aliasctl.copied_from"): int(v.version) for v in copies}
    copy = by_source.get(f"staging#{STAGING_MODEL}/{second}")
    if copy is None:
        raise DemoError(f"no copy of staging's version {second} in {PROD_MODEL}")
    registry_says(client, copy, f"the copy of {STAGING_MODEL} v{second}", model=PROD_MODEL)
    predict_with_production(client, rows)
