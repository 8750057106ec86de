"""Safe arithmetic transforms for mapping files: ``x * 0.1 - 40``, never `eval`.

The expression is parsed once with `ast`, checked against a small grammar (numbers, the variable
``x``, arithmetic, comparisons, and a few pure functions) and compiled into nested closures.
Anything else (attribute access, calls to other names, subscripts, lambdas, strings) is refused
at load time with the column of the offending part.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Final

Number = float | int | bool
Fn = Callable[[float], Number]

_BINOPS: Final[dict[type[ast.operator], Callable[[Number, Number], Number]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_CMPOPS: Final[dict[type[ast.cmpop], Callable[[Number, Number], bool]]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCS: Final[dict[str, Callable[..., Number]]] = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
}
# Longer expressions are not transforms any more; they are programs.
MAX_LENGTH: Final = 200


class TransformError(ValueError):
    """A transform expression is not allowed or does not parse."""


class Transform:
    """A compiled transform of one variable ``x``."""

    def __init__(self, source: str) -> None:
        if len(source) > MAX_LENGTH:
            raise TransformError(f"transform is longer than {MAX_LENGTH} characters")
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise TransformError(f"transform {source!r} does not parse: {exc.msg}") from None
        self.source = source
        self._fn = _compile(tree.body, source)

    def __call__(self, x: float) -> Number:
        """Apply the transform.

        Raises:
            ArithmeticError: division by zero, overflow.
        """
        return self._fn(x)

    def __repr__(self) -> str:
        return f"Transform({self.source!r})"


def _refuse(node: ast.AST, source: str, what: str) -> TransformError:
    col = getattr(node, "col_offset", 0) + 1
    return TransformError(f"transform {source!r}: {what} is not allowed (column {col})")


def _compile(node: ast.expr, source: str) -> Fn:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _refuse(node, source, f"the constant {value!r}")
        return lambda x: value
    if isinstance(node, ast.Name):
        if node.id != "x":
            raise _refuse(node, source, f"the name {node.id!r} (only x)")
        return lambda x: x
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _compile(node.operand, source)
        sign = -1 if isinstance(node.op, ast.USub) else 1
        return lambda x: sign * inner(x)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        op = _BINOPS[type(node.op)]
        left, right = _compile(node.left, source), _compile(node.right, source)
        return lambda x: op(left(x), right(x))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS:
        cmp = _CMPOPS[type(node.ops[0])]
        left, right = _compile(node.left, source), _compile(node.comparators[0], source)
        return lambda x: cmp(left(x), right(x))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        fn = _FUNCS.get(node.func.id)
        if fn is None:
            raise _refuse(node, source, f"the function {node.func.id!r}")
        args = [_compile(a, source) for a in node.args]
        if not args:
            raise _refuse(node, source, f"{node.func.id}() without arguments")
        return lambda x: fn(*(a(x) for a in args))
    if isinstance(node, ast.BinOp):
        raise _refuse(node, source, f"the operator {type(node.op).__name__}")
    if isinstance(node, ast.Call):
        raise _refuse(node, source, f"calling {ast.unparse(node.func)}")
    raise _refuse(node, source, type(node).__name__)
