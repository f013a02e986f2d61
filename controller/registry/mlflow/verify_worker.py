"""Child process of `verify`: load one downloaded model and score its logged input example.

Exit 0 when it loads and predicts; otherwise the last stderr line says why. Run as
`python -I -m controller.registry.mlflow.verify_worker LOCAL_DIR LABEL MEMORY_BYTES` by
the adapter, in a scratch folder with no credentials in its environment (sources.py).
"""

from __future__ import annotations

import resource
import sys


def main(local: str, label: str, memory_bytes: int) -> int:
    # Bound the address space before any model code runs: a model that balloons fails here.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    import mlflow.pyfunc  # noqa: PLC0415

    try:
        loaded = mlflow.pyfunc.load_model(local)
    except Exception as error:  # noqa: BLE001 - any failure to load is the answer
        print(f"failed to load {label}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    example = loaded.input_example
    if example is None:
        print(f"{label} has no logged input example to score", file=sys.stderr)
        return 1
    try:
        loaded.predict(example)
    except Exception as error:  # noqa: BLE001
        print(f"{label} failed to predict its input example: {type(error).__name__}: {error}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
