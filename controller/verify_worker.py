"""Child process of `verify`: load one model version and score its logged input example.

Exit 0 when it loads and predicts; otherwise the last stderr line says why.
Run as `python -m controller.verify_worker MODEL VERSION` with MLFLOW_TRACKING_URI set.
"""

from __future__ import annotations

import sys


def main(model: str, version: str) -> int:
    import mlflow.pyfunc  # noqa: PLC0415

    uri = f"models:/{model}/{version}"
    try:
        loaded = mlflow.pyfunc.load_model(uri)
    except Exception as error:  # noqa: BLE001 - any failure to load is the answer
        print(f"failed to load {uri}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    example = loaded.input_example
    if example is None:
        print(f"{uri} has no logged input example to score", file=sys.stderr)
        return 1
    try:
        loaded.predict(example)
    except Exception as error:  # noqa: BLE001
        print(f"{uri} failed to predict its input example: {type(error).__name__}: {error}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
