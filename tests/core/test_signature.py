"""The widening table and the compatibility check, as pure tables."""

from __future__ import annotations

import pytest

from controller.core.signature import Field, Signature, incompatibilities, widens


@pytest.mark.parametrize(
    ("old", "new", "wider"),
    [("integer", "integer", True), ("integer", "long", True), ("integer", "double", True),
     ("long", "float", True), ("float", "double", True), ("double", "float", False),
     ("long", "integer", False), ("double", "string", False), ("integer", "string", False),
     ("string", "double", False), ("boolean", "integer", False), ("boolean", "boolean", True),
     ("int32", "float64", True), ("float64", "double", True), ("float64", "float32", False)],
)  # fmt: skip
def test_widening_table(old: str, new: str, wider: bool) -> None:
    assert widens(old, new) is wider


def columns(*fields: Field, out: str = "double") -> Signature:
    return Signature(fields, (Field(None, out),))


TEMP, HOUR = Field("temp", "double"), Field("hour", "long")


@pytest.mark.parametrize(
    ("new", "reasons"),
    [
        (columns(TEMP, HOUR), []),
        (columns(TEMP, Field("hour", "double"), Field("wind", "double", required=False)), []),
        (
            columns(Field("temp", "string"), HOUR),
            ["input 'temp' is double on the current version 2, string on version 3"],
        ),
        (
            columns(TEMP),
            ["input 'hour' is gone on version 3 (long on the current version 2)"],
        ),
        (
            columns(TEMP, HOUR, Field("city", "string")),
            ["input 'city' is new and required on version 3"],
        ),
        (
            columns(TEMP, HOUR, out="string"),
            ["output #0 is double on the current version 2, string on version 3"],
        ),
        (
            Signature(
                (Field(None, "float64", shape=(-1, 2)),), (Field(None, "double"),), "tensors"
            ),
            ["inputs are columns on the current version 2, tensors on version 3"],
        ),
    ],
)
def test_compatibility(new: Signature, reasons: list[str]) -> None:
    assert incompatibilities(columns(TEMP, HOUR), new, 2, 3) == reasons


def test_optional_input_made_required_is_incompatible() -> None:
    current = columns(TEMP, Field("wind", "double", required=False))
    new = columns(TEMP, Field("wind", "double"))
    assert incompatibilities(current, new, 2, 3) == [
        "input 'wind' is optional on the current version 2, required on version 3"
    ]


def test_tensor_shapes_must_accept_what_the_current_version_takes() -> None:
    def tensor(dtype: str, shape: tuple[int, ...]) -> Signature:
        return Signature((Field(None, dtype, shape=shape),), (Field(None, "float64", shape=(-1,)),),
                         "tensors", "tensors")  # fmt: skip

    assert incompatibilities(tensor("float64", (-1, 3)), tensor("float64", (-1, 3)), 2, 3) == []
    assert incompatibilities(tensor("float32", (-1, 3)), tensor("float64", (-1, -1)), 2, 3) == []
    assert incompatibilities(tensor("float64", (-1, 3)), tensor("float64", (-1, 4)), 2, 3) == [
        "input #0 is float64 [-1, 3] on the current version 2, float64 [-1, 4] on version 3"
    ]
