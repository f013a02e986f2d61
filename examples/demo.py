"""`make demo`: the whole aliasctl story on MLflow's embedded default registry.

Trains and registers a few versions of a `bikes` model, then drives aliasctl from
a scratch git repo: plan, apply, serve the champion, promote the challenger with
a commit, refuse a version worse than the champion, roll back during a freeze
with `--break-glass`, and analyse a promotion: the error rate climbs, aliasctl rolls
back to the verified version and holds it. Everything happens in `.demo/`, where
MLflow's defaults (`sqlite:///mlflow.db`, artifacts in `./mlruns`) resolve.
Re-running keeps the registry and skips the versions already registered.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import sklearn
import yaml
from demo_analysis import after_a_promotion
from demo_environments import staging_to_production
from demo_shell import (
    MODEL,
    REPO,
    ROOT,
    SPEC,
    WORKDIR,
    DemoError,
    aliasctl,
    git,
    promote,
    registry_says,
    step,
)
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.pipeline import Pipeline

if TYPE_CHECKING:
    from collections.abc import Callable

VARIANT_TAG = "demo.variant"
VALIDATION_TAG = "validation_status"
R2_TO_PASS = 0.7
ROWS, TRAIN_ROWS = 4000, 3000
# Settings that would point the demo elsewhere: another registry, another controller
# instance, or (when run from a git hook) another repository than .demo/repo.
FOREIGN_SETTINGS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "ALIASCTL_REGISTRY_URI",
    "ALIASCTL_INSTANCE",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
)
# Explicit requirements skip MLflow's environment inference, which reloads each model.
PIP_REQUIREMENTS = [
    f"scikit-learn=={sklearn.__version__}",
    f"numpy=={np.__version__}",
    f"pandas=={pd.__version__}",
]
WEATHER = ["temperature", "humidity", "wind_speed"]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Variant:
    """One candidate model: a name for its registry tag and how to build it."""

    name: str
    build: Callable[[], Any]
    # Types skops must be told to trust when MLflow re-loads the saved model to check it.
    trusted_types: tuple[str, ...] = ()


def _weather_only() -> Any:
    # Every variant takes the same five columns, so moving an alias never breaks a caller.
    keep = ColumnTransformer([("weather", "passthrough", WEATHER)])
    return Pipeline([("select", keep), ("model", LinearRegression())])


def _forest(trees: int, depth: int) -> Callable[[], Any]:
    return lambda: RandomForestRegressor(n_estimators=trees, max_depth=depth, random_state=0)


# Registration order fixes the version numbers that aliases.yaml refers to.
TREE = ("sklearn.tree._tree.Tree",)
VARIANTS = (
    Variant("weather-linear", _weather_only),
    Variant("forest-shallow", _forest(trees=50, depth=6), TREE),
    Variant("forest-deep", _forest(trees=60, depth=10), TREE),
)
# A later version registered from an existing run's logged model (no training): a stand-in
# for a retrain that came out worse than the champion.
RETRAIN = "forest-shallow-again"
RETRAIN_FROM = "forest-shallow"


def bike_rentals(rows: int, seed: int) -> pd.DataFrame:
    """Hourly bike rentals: commute peaks on workdays, an afternoon hump at weekends."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, rows)
    weekday = rng.integers(0, 7, rows)
    temperature = rng.normal(16, 8, rows).round(1)
    humidity = rng.uniform(20, 100, rows).round()
    wind_speed = rng.gamma(2.0, 6.0, rows).round(1)
    commute = 300 * np.exp(-((hour - 8) ** 2) / 2) + 350 * np.exp(-((hour - 17.5) ** 2) / 3)
    leisure = 220 * np.exp(-((hour - 14) ** 2) / 10)
    demand = np.where(weekday < 5, commute + 0.3 * leisure, leisure) + 15
    weather = (
        np.exp(-((temperature - 24) ** 2) / 200)
        * (1 - 0.006 * np.clip(humidity - 50, 0, None))
        * (1 - 0.012 * wind_speed).clip(0.2)
    )
    rentals = np.clip(demand * weather + rng.normal(0, 15, rows), 0, None).round()
    return pd.DataFrame(
        {
            "hour": hour,
            "weekday": weekday,
            "temperature": temperature,
            "humidity": humidity,
            "wind_speed": wind_speed,
            "rentals": rentals,
        }
    )


def train_and_register(variant: Variant, data: pd.DataFrame) -> int:
    train, test = data.iloc[:TRAIN_ROWS], data.iloc[TRAIN_ROWS:]
    features = [c for c in data.columns if c != "rentals"]
    model = variant.build()
    model.fit(train[features], train["rentals"])
    predicted = model.predict(test[features])
    rmse = float(np.sqrt(mean_squared_error(test["rentals"], predicted)))
    r2 = float(r2_score(test["rentals"], predicted))
    passed = r2 >= R2_TO_PASS
    with mlflow.start_run(run_name=variant.name, tags={VARIANT_TAG: variant.name}):
        mlflow.log_params({"variant": variant.name, "estimator": type(model).__name__})
        mlflow.log_metrics({"rmse": rmse, "r2": r2})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(test[features], predicted),
            input_example=test[features].head(3),
            pip_requirements=PIP_REQUIREMENTS,
            skops_trusted_types=list(variant.trusted_types) or None,
        )
    # Tags given at registration land with the version in one write, so a crash can never
    # leave an untagged version that a re-run would register a second time.
    tags = {VARIANT_TAG: variant.name, VALIDATION_TAG: "approved" if passed else "rejected"}
    with contextlib.redirect_stderr(io.StringIO()):  # "Created version ...": we say it below
        version = mlflow.register_model(info.model_uri, MODEL, tags=tags)
    verdict = "approved" if passed else f"rejected (r2 < {R2_TO_PASS})"
    print(
        f"  {MODEL} v{version.version}  {variant.name:<15} rmse {rmse:6.1f}  r2 {r2:.3f}  {verdict}"
    )
    return int(version.version)


def register_variants(client: MlflowClient) -> None:
    registered = {
        v.tags.get(VARIANT_TAG): int(v.version)
        for v in client.search_model_versions(f"name='{MODEL}'")
    }
    data = bike_rentals(rows=ROWS, seed=42)
    mlflow.set_experiment(MODEL)
    for variant in VARIANTS:
        if variant.name in registered:
            print(f"  {MODEL} v{registered[variant.name]}  {variant.name:<15} already registered")
            continue
        train_and_register(variant, data)


def samples() -> pd.DataFrame:
    """A Monday commute and a warm Saturday afternoon, typed like the training data."""
    return pd.DataFrame(
        {
            "hour": np.array([8, 15], dtype=np.int64),
            "weekday": np.array([0, 5], dtype=np.int64),
            "temperature": [18.0, 26.5],
            "humidity": [55.0, 40.0],
            "wind_speed": [8.0, 4.0],
        }
    )


def serve(client: MlflowClient) -> int:
    """Load the champion like a serving job would and predict; return the version that served."""
    version = client.get_model_version_by_alias(MODEL, "champion")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    if version.run_id is None or model.metadata.run_id != version.run_id:
        raise DemoError("the loaded champion is not the version its alias points at")
    r2 = client.get_run(version.run_id).data.metrics["r2"]
    print(
        f"models:/{MODEL}@champion -> version {version.version} "
        f"({version.tags.get(VARIANT_TAG)}, r2 {r2:.3f})"
    )
    rows = samples()
    for row, rentals in zip(rows.itertuples(), model.predict(rows), strict=True):
        print(
            f"  {DAYS[row.weekday]} {row.hour:02d}:00  {row.temperature:4.1f} C  "
            f"{row.humidity:3.0f}% humidity  {row.wind_speed:4.1f} km/h wind"
            f"  ->  {float(rentals):5.0f} rentals/hour"
        )
    return int(version.version)


def fresh_repo() -> None:
    """A new scratch git repo holding the project's aliases.yaml as its first commit."""
    shutil.rmtree(REPO, ignore_errors=True)
    REPO.mkdir()
    git("init", "--quiet", "-b", "main")
    # Local identity and no signing: the demo must commit on a machine with no git config.
    print("(git config: a local user.name and user.email for the demo's commits)")
    for key, value in (
        ("user.name", "aliasctl demo"),
        ("user.email", "demo@aliasctl.invalid"),
        ("commit.gpgsign", "false"),
    ):
        subprocess.run(["git", "-C", "repo", "config", key, value], cwd=WORKDIR, check=True)
    shutil.copyfile(ROOT / "aliases.yaml", REPO / "aliases.yaml")
    print("$ cp ../aliases.yaml repo/aliases.yaml")
    git("add", "aliases.yaml")
    git("commit", "--quiet", "-m", "Initial aliases")


def declared_aliases() -> dict[str, int]:
    """The aliases the committed file declares for the model: the story needs two of them."""
    spec = yaml.safe_load((REPO / "aliases.yaml").read_text(encoding="utf-8"))
    aliases = spec.get("models", {}).get(MODEL, {}).get("aliases", {})
    if not {"champion", "challenger"} <= aliases.keys():
        raise DemoError(f"aliases.yaml must declare {MODEL}@champion and {MODEL}@challenger")
    return {str(alias): int(version) for alias, version in aliases.items()}


def register_retrain(client: MlflowClient) -> int:
    """Register RETRAIN_FROM's logged model once more as a new version (milliseconds)."""
    by_variant = {
        v.tags.get(VARIANT_TAG): v for v in client.search_model_versions(f"name='{MODEL}'")
    }
    if RETRAIN in by_variant:
        version = int(by_variant[RETRAIN].version)
        print(f"  {MODEL} v{version}  {RETRAIN} already registered")
        return version
    source = by_variant[RETRAIN_FROM]
    if source.source is None:
        raise DemoError(f"{MODEL}'s {RETRAIN_FROM} version has no source to register again")
    new = client.create_model_version(
        MODEL, source.source, run_id=source.run_id, tags={VARIANT_TAG: RETRAIN}
    )
    print(f"  {MODEL} v{new.version}  {RETRAIN}: {RETRAIN_FROM}'s logged model, registered again")
    return int(new.version)


def append_and_commit(text: str, what: str, message: str) -> None:
    """Add a block to repo/aliases.yaml and commit it, showing the diff."""
    path = REPO / "aliases.yaml"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    print(f"(edit repo/aliases.yaml: {what})")
    git("--no-pager", "diff", "--unified=0")
    git("commit", "--quiet", "-am", message)


def freeze_around_now() -> tuple[str, str]:
    """A freeze from this minute to an hour on (UTC), as the file spells it, and its end."""
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    end = start + timedelta(hours=1)
    block = (
        "freezes:\n"
        "  - name: demo-freeze\n"
        f"    from: {start:%Y-%m-%dT%H:%M}          # UTC; written by the demo around now\n"
        f"    to: {end:%Y-%m-%dT%H:%M}\n"
        "    reason: release weekend\n"
    )
    return block, f"{start:%H:%M}-{end:%H:%M} UTC"


def isolate_and_quiet() -> None:
    """Set up this process's environment, which every subprocess inherits."""
    for name in FOREIGN_SETTINGS:
        os.environ.pop(name, None)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    # Read when mlflow is imported: too late for this process, in time for aliasctl's.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uv's venvs have no pip, which MLflow reports while writing each model's conda.yaml.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    # MLflow's schema hints and its dependencies' deprecation notices are not the story.
    warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")


def story() -> None:
    client = MlflowClient()
    print(f"Working in {WORKDIR}; MLflow's default registry there: {mlflow.get_registry_uri()}")

    step(f"1. Train and register versions of '{MODEL}'")
    register_variants(client)

    step("2. Put aliases.yaml under git, then plan and apply it")
    fresh_repo()
    wanted = declared_aliases()
    aliasctl("plan", SPEC)
    aliasctl("apply", SPEC)

    step("3. Serve the champion")
    if serve(client) != wanted["champion"]:
        raise DemoError("champion is not on the version the file declares")

    step("4. Promote the challenger: a one-line commit, plan, apply")
    promote(wanted["challenger"])
    aliasctl("plan", "--detailed-exitcode", SPEC, expect=2)
    print("(exit code 2: changes pending)")
    aliasctl("apply", SPEC)
    if serve(client) != wanted["challenger"]:
        raise DemoError("champion did not move to the challenger's version")

    step('5. A version worse than the champion is refused (rmse: "<= current")')
    worse = register_retrain(client)
    git("switch", "--quiet", "-c", f"promote-v{worse}")
    promote(worse)
    aliasctl("plan", SPEC, expect=1)
    aliasctl("apply", SPEC, expect=1)
    print("(exit code 1: nothing written; this pull request's check fails and it is not merged)")
    registry_says(client, wanted["challenger"], "unchanged")
    git("switch", "--quiet", "main")

    step("6. During a freeze, roll back: refused, then let through with --break-glass")
    block, span = freeze_around_now()
    append_and_commit(block, f"a freeze {span}", "Freeze alias moves for the release weekend")
    aliasctl("rollback", f"{MODEL}@champion", SPEC, "--commit")
    aliasctl("plan", SPEC, expect=1)
    print("(exit code 1: frozen, nothing can be applied)")
    aliasctl("apply", SPEC, "--break-glass", "INC-7: v3 over-predicts weekend demand")
    if serve(client) != wanted["champion"]:
        raise DemoError(f"champion is not back on version {wanted['champion']}")

    step("7. Git is the audit log")
    aliasctl("history", f"{MODEL}@champion", SPEC)
    aliasctl("plan", SPEC)

    step("8. After a promotion: analysis, automatic rollback to the verified version, a hold")
    after_a_promotion(client, wanted)

    step("9. Environments: staging to production, one reviewed line, copied once")
    staging_to_production(client, wanted, samples())


def main() -> int:
    started = time.monotonic()
    WORKDIR.mkdir(exist_ok=True)
    # MLflow resolves sqlite:///mlflow.db and ./mlruns against the working directory.
    os.chdir(WORKDIR)
    isolate_and_quiet()
    try:
        story()
    except DemoError as error:
        print(f"\ndemo failed: {error}\n(to start from scratch: rm -rf .demo)", file=sys.stderr)
        return 1
    print(f"\nDone in {time.monotonic() - started:.0f} s. Re-run it: registered versions are kept.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
