"""Model signatures as plain data, and whether a new one accepts what the current one does.

Pure: the MLflow adapter turns `mlflow.models.ModelSignature` into these types, so
the gate never sees an mlflow object.
"""

from __future__ import annotations

from dataclasses import dataclass

# A value of a type on the left is accepted, without loss, by a column of any type to its
# right. Nothing else is wider: in particular no type widens to `string` (a model that took
# numbers and now takes text parses them differently), and `boolean` widens to nothing.
WIDENING: tuple[str, ...] = ("integer", "long", "float", "double")

# Tensor dtypes (numpy names) as the column types they hold, so one table serves both.
DTYPE_TYPES = {
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "int64": "long",
    "float16": "float",
    "float32": "float",
    "float64": "double",
    "bool": "boolean",
}


@dataclass(frozen=True)
class Field:
    """One input or output: a named column (ColSpec) or a tensor (TensorSpec)."""

    name: str | None
    type: str  # a column type ("double", "long", ...) or a tensor dtype ("float64")
    required: bool = True
    shape: tuple[int, ...] | None = None  # tensors only; -1 is "any size"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Field, ...]
    outputs: tuple[Field, ...]
    inputs_kind: str = "columns"  # "columns" or "tensors"
    outputs_kind: str = "columns"


def widens(old: str, new: str) -> bool:
    """Whether a column of type `new` accepts every value of type `old`."""
    old, new = DTYPE_TYPES.get(old, old), DTYPE_TYPES.get(new, new)
    if old == new:
        return True
    if old in WIDENING and new in WIDENING:
        return WIDENING.index(old) < WIDENING.index(new)
    return False


def _shape_accepts(old: tuple[int, ...] | None, new: tuple[int, ...] | None) -> bool:
    if old is None or new is None:
        return old == new
    return len(old) == len(new) and all(n in (-1, o) for o, n in zip(old, new, strict=True))


def _same_type(old: Field, new: Field) -> bool:
    same = DTYPE_TYPES.get(old.type, old.type) == DTYPE_TYPES.get(new.type, new.type)
    return same and _shape_accepts(old.shape, new.shape)


def _label(field: Field, index: int) -> str:
    return repr(field.name) if field.name else f"#{index}"


def _describe(field: Field) -> str:
    return field.type + (f" {list(field.shape)}" if field.shape is not None else "")


def incompatibilities(
    current: Signature, new: Signature, current_version: int, new_version: int
) -> list[str]:
    """Why `new` may not replace `current`, one reason per input or output, by name."""
    on_current, on_new = f"on the current version {current_version}", f"on version {new_version}"
    reasons = []
    if current.inputs_kind != new.inputs_kind:
        reasons.append(f"inputs are {current.inputs_kind} {on_current}, {new.inputs_kind} {on_new}")
    else:
        reasons += _input_reasons(current.inputs, new.inputs, on_current, on_new)
    if current.outputs_kind != new.outputs_kind:
        reasons.append(
            f"outputs are {current.outputs_kind} {on_current}, {new.outputs_kind} {on_new}"
        )
    else:
        reasons += _output_reasons(current.outputs, new.outputs, on_current, on_new)
    return reasons


def _keyed(fields: tuple[Field, ...]) -> dict[str, tuple[str, Field]]:
    """Fields by name, or by position where they have none (tensor inputs often do not)."""
    return {f.name or f"#{i}": (_label(f, i), f) for i, f in enumerate(fields)}


def _input_reasons(
    current: tuple[Field, ...], new: tuple[Field, ...], on_current: str, on_new: str
) -> list[str]:
    old_by, new_by = _keyed(current), _keyed(new)
    reasons = []
    for key, (label, old) in old_by.items():
        if key not in new_by:
            reasons.append(f"input {label} is gone {on_new} ({_describe(old)} {on_current})")
            continue
        got = new_by[key][1]
        if not widens(old.type, got.type) or not _shape_accepts(old.shape, got.shape):
            reasons.append(
                f"input {label} is {_describe(old)} {on_current}, {_describe(got)} {on_new}"
            )
        elif got.required and not old.required:
            reasons.append(f"input {label} is optional {on_current}, required {on_new}")
    reasons += [
        f"input {label} is new and required {on_new}"
        for key, (label, got) in new_by.items()
        if key not in old_by and got.required
    ]
    return reasons


def _output_reasons(
    current: tuple[Field, ...], new: tuple[Field, ...], on_current: str, on_new: str
) -> list[str]:
    """The same kind of output: the same names, each of the same type (callers read them)."""
    old_by, new_by = _keyed(current), _keyed(new)
    reasons = []
    for key, (label, old) in old_by.items():
        if key not in new_by:
            reasons.append(f"output {label} is gone {on_new} ({_describe(old)} {on_current})")
        elif not _same_type(old, got := new_by[key][1]):
            reasons.append(
                f"output {label} is {_describe(old)} {on_current}, {_describe(got)} {on_new}"
            )
    reasons += [
        f"output {label} is new {on_new}" for key, (label, _) in new_by.items() if key not in old_by
    ]
    return reasons
