"""The small, safe language of an analysis' `success:` and `failure:` conditions (pure).

A condition is a Python-like expression over `result` (what the provider measured: a
number, a list of numbers, or JSON), read with `ast` and walked against a whitelist:
nothing is ever handed to `eval`. Allowed: `result`, numbers, strings, `true`/`false`
(and `True`/`False`/`None`), `result.key`, `result[0]`, `result["key"]`, comparisons
(chained too), `and`/`or`/`not`, `+ - * /`, and the functions in FUNCTIONS. The spec
refuses anything else when the file is read (`check_condition`), so a condition that
parses can only fail at evaluation for reasons the result decides (a missing key, a
string compared with a number): `evaluate` raises ConditionError for those.

Types are strict, as in Argo Rollouts' expr: `and`/`or`/`not` take booleans, arithmetic
takes numbers, a comparison takes two numbers or two strings, and the condition must
give true or false. NaN follows IEEE 754: every comparison with it is false except `!=`.
"""

from __future__ import annotations

import ast
import math
import operator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

# Conditions are one line in a YAML file; a bound keeps `ast.parse` far from deep recursion.
MAX_LENGTH = 1000
FUNCTIONS = ("len", "abs", "min", "max", "all", "any", "isnan", "isinf", "default", "float")
# How many arguments each takes: (at least, at most; None for no bound).
_ARITY: dict[str, tuple[int, int | None]] = {
    "len": (1, 1),
    "abs": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "all": (1, 1),
    "any": (1, 1),
    "isnan": (1, 1),
    "isinf": (1, 1),
    "default": (2, 2),
    "float": (1, 1),
}
_BOOL_NAMES = {"true": True, "false": False}
_COMPARE: dict[type[ast.cmpop], tuple[str, Callable[[Any, Any], bool]]] = {
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.In: ("in", lambda a, b: a in b),
    ast.NotIn: ("not in", lambda a, b: a not in b),
}
_ARITHMETIC: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
}
_OPERATOR_TEXT = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.MatMult: "@", ast.Invert: "~",
    ast.Is: "is", ast.IsNot: "is not",
}  # fmt: skip
# What people call the Python constructs that are refused, for the message.
_CONSTRUCT = {
    ast.Lambda: "lambda",
    ast.IfExp: "if-else expressions",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.List: "list literals",
    ast.Tuple: "tuples",
    ast.Set: "set literals",
    ast.Dict: "dict literals",
    ast.JoinedStr: "f-strings",
    ast.NamedExpr: "':=' assignments",
    ast.Starred: "'*' unpacking",
    ast.Slice: "slices",
    ast.Await: "await",
    ast.Yield: "yield",
}


# Nodes that need no check of their own (operators are checked with their expression).
_PASSED = (
    ast.Expression,
    ast.BoolOp,
    ast.expr_context,
    ast.boolop,
    ast.cmpop,
    ast.operator,
    ast.unaryop,
)


class ConditionError(ValueError):
    """A condition could not be evaluated against a result (a missing key, a bad type)."""


class _MissingError(ConditionError):
    """A key or an index the result does not have: `default(x, fallback)` catches it."""


def check_condition(text: str) -> str:
    """Validate a condition as written; a ValueError says why (the spec locates it)."""
    _parsed(text)
    return text


def evaluate(text: str, result: object) -> bool:
    """Whether `text` holds for `result`; ConditionError when it cannot be told."""
    try:
        tree = _parsed(text)
    except ValueError as error:
        raise ConditionError(str(error)) from None
    value = _Evaluator(result).value(tree.body)
    if not isinstance(value, bool):
        raise ConditionError(f"the condition gave {_describe(value)}, not true or false")
    return value


@lru_cache(maxsize=512)
def _parsed(text: str) -> ast.Expression:
    if not text.strip():
        raise ValueError("a condition must not be empty")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"a condition must be at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        where = f" at column {error.offset}" if error.offset else ""
        raise ValueError(f"not a valid condition ({error.msg}{where})") from None
    except (RecursionError, MemoryError):
        raise ValueError("the condition is nested too deeply") from None
    for node in ast.walk(tree):  # the Expression too: a bare function name is its child
        _check_node(node)
    return tree


def _check_node(node: ast.AST) -> None:  # noqa: PLR0912 - one branch per construct
    """Refuse, with a plain message, anything outside the language."""
    for child in ast.iter_child_nodes(node):  # a function's name only where it is called
        called = isinstance(node, ast.Call) and node.func is child
        if isinstance(child, ast.Name) and child.id in FUNCTIONS and not called:
            raise ValueError(f"{child.id!r} is a function: call it, like {child.id}(result)")
    if isinstance(node, ast.Constant):
        if node.value is not None and not isinstance(node.value, bool | int | float | str):
            raise ValueError(f"the constant {node.value!r} is not allowed")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            return  # only as a call (checked with the call's parent below)
        if node.id != "result" and node.id not in _BOOL_NAMES:
            raise ValueError(f"the name {node.id!r} is not allowed: a condition reads `result`")
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("__"):
            raise ValueError(f"{node.attr!r} is not allowed")
    elif isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Slice):
            raise ValueError("slices are not allowed")
    elif isinstance(node, ast.Call):
        _check_call(node)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ValueError(f"the operator {_op_text(op)!r} is not allowed: use == or !=")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITHMETIC:
            raise ValueError(f"the operator {_op_text(node.op)!r} is not allowed")
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
            raise ValueError(f"the operator {_op_text(node.op)!r} is not allowed")
    elif isinstance(node, _PASSED):
        return
    else:
        what = _CONSTRUCT.get(type(node), f"a Python {type(node).__name__} expression")
        verb = "are" if what.endswith("s") else "is"
        raise ValueError(f"{what} {verb} not allowed")


def _check_call(node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name):
        raise ValueError(f"only calls to {', '.join(FUNCTIONS)} are allowed")
    name = node.func.id
    if name not in FUNCTIONS:
        raise ValueError(f"calls to {name!r} are not allowed (allowed: {', '.join(FUNCTIONS)})")
    if node.keywords:
        raise ValueError(f"{name}() takes no keyword arguments")
    least, most = _ARITY[name]
    given = len(node.args)
    if given < least or (most is not None and given > most):
        wanted = str(least) if least == most else f"at least {least}"
        noun = "argument" if least == 1 else "arguments"
        raise ValueError(f"{name}() takes {wanted} {noun}, got {given}")


def _op_text(op: ast.AST) -> str:
    return _OPERATOR_TEXT.get(type(op), type(op).__name__)


def _describe(value: object) -> str:
    """A value's kind and (short) text, for messages."""
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{_kind(value)} {text}"


def _kind(value: object) -> str:  # noqa: PLR0911 - one answer per JSON kind
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Evaluator:
    def __init__(self, result: object) -> None:
        self.result = result

    def value(self, node: ast.expr) -> Any:  # noqa: PLR0911 - one branch per construct
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.result if node.id == "result" else _BOOL_NAMES[node.id]
        if isinstance(node, ast.Attribute):
            container = self.value(node.value)
            if not isinstance(container, dict):
                raise ConditionError(f"cannot look up .{node.attr} in {_describe(container)}")
            return _lookup(container, node.attr)
        if isinstance(node, ast.Subscript):
            return _lookup(self.value(node.value), self.value(node.slice))
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BoolOp):
            return self._boolean(node)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            if isinstance(node.op, ast.Not):
                return not _need_bool("not", operand)
            sign = -1 if isinstance(node.op, ast.USub) else 1
            return sign * _need_number("-" if sign < 0 else "+", operand)
        if isinstance(node, ast.BinOp):
            symbol, apply = _ARITHMETIC[type(node.op)]
            left = _need_number(symbol, self.value(node.left))
            right = _need_number(symbol, self.value(node.right))
            if symbol == "/" and right == 0:
                raise ConditionError("division by zero")
            return apply(left, right)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ConditionError(f"cannot evaluate {type(node).__name__}")  # refused when parsed

    def _compare(self, node: ast.Compare) -> bool:
        left = self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value(right_node)
            symbol, apply = _COMPARE[type(op)]
            _check_comparable(symbol, left, right)
            if not apply(left, right):
                return False
            left = right
        return True

    def _boolean(self, node: ast.BoolOp) -> bool:
        word = "and" if isinstance(node.op, ast.And) else "or"
        for operand in node.values:  # short-circuit, as Python and Argo do
            holds = _need_bool(word, self.value(operand))
            if holds != (word == "and"):
                return holds
        return word == "and"

    def _call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)  # noqa: S101 - refused otherwise when parsed
        name = node.func.id
        if name == "default":
            try:
                found = self.value(node.args[0])
            except _MissingError:
                found = None
            return self.value(node.args[1]) if found is None else found
        args = [self.value(arg) for arg in node.args]
        return _FUNCTION_BODIES[name](args)


def _lookup(container: object, key: object) -> Any:
    if isinstance(container, dict):
        if not isinstance(key, str):
            raise ConditionError(f"an object's keys are strings, got {_describe(key)}")
        if key not in container:
            known = ", ".join(sorted(map(str, container))[:10]) or "none"
            raise _MissingError(f"no key {key!r} in the result (keys: {known})")
        return container[key]
    if isinstance(container, list):
        if not _is_number(key) or not isinstance(key, int):
            raise ConditionError(f"a list is indexed by whole numbers, got {_describe(key)}")
        if not -len(container) <= key < len(container):
            noun = "item" if len(container) == 1 else "items"
            raise _MissingError(
                f"index {key} is out of range: the list has {len(container)} {noun}"
            )
        return container[key]
    raise ConditionError(f"cannot look up {key!r} in {_describe(container)}")


def _check_comparable(symbol: str, left: object, right: object) -> None:
    if symbol in ("in", "not in"):
        if isinstance(right, list | dict):
            return
        if isinstance(right, str) and isinstance(left, str):
            return
        raise ConditionError(
            f"'{symbol}' needs a list, an object or two strings, got {_describe(right)}"
        )
    if symbol in ("==", "!=") and (left is None or right is None):
        return
    if _is_number(left) and _is_number(right):
        return
    if _kind(left) == _kind(right) and (symbol in ("==", "!=") or isinstance(left, str)):
        return
    raise ConditionError(f"cannot compare {_describe(left)} with {_describe(right)} ({symbol})")


def _need_bool(word: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"'{word}' takes true or false, got {_describe(value)}")
    return value


def _need_number(what: str, value: object) -> float:
    if not _is_number(value):
        raise ConditionError(f"'{what}' takes numbers, got {_describe(value)}")
    return value  # type: ignore[return-value]


def _need_list(name: str, value: object) -> list[Any]:
    if not isinstance(value, list):
        raise ConditionError(f"{name}() takes a list, got {_describe(value)}")
    return value


def _numbers(name: str, args: list[Any]) -> list[float]:
    items = _need_list(name, args[0]) if len(args) == 1 else args
    if not items:
        raise ConditionError(f"{name}() of an empty list")
    return [_need_number(f"{name}()", item) for item in items]


def _length(args: list[Any]) -> int:
    if not isinstance(args[0], list | dict | str):
        raise ConditionError(f"len() takes a list, an object or a string, got {_describe(args[0])}")
    return len(args[0])


def _as_float(args: list[Any]) -> float:
    value = args[0]
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ConditionError(f"float() cannot read {value!r} as a number") from None
    raise ConditionError(f"float() takes a number or a string, got {_describe(value)}")


def _booleans(name: str, args: list[Any]) -> list[bool]:
    return [_need_bool(f"{name}()", item) for item in _need_list(name, args[0])]


_FUNCTION_BODIES: dict[str, Callable[[list[Any]], Any]] = {
    "len": _length,
    "abs": lambda args: abs(_need_number("abs()", args[0])),
    "min": lambda args: min(_numbers("min", args)),
    "max": lambda args: max(_numbers("max", args)),
    "all": lambda args: all(_booleans("all", args)),
    "any": lambda args: any(_booleans("any", args)),
    "isnan": lambda args: math.isnan(_need_number("isnan()", args[0])),
    "isinf": lambda args: math.isinf(_need_number("isinf()", args[0])),
    "float": _as_float,
}
