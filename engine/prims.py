"""Runtime primitives that generated predicate code may call.

Generated code (from `sleuth.dsl.codegen`) may reference only the names in
`__all__` here plus the constants the code generator binds (house style:
Jinja's `runtime.exported`). Every primitive is total: a wrong type, a
missing value (None), a huge string or a hostile value gives None or False,
never an exception, so one crafted request cannot crash a rule.
Comparisons with constants are inlined by the code generator; these
functions cover the general cases (field vs field, arithmetic, calls).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .regex import compile_matcher

NUM = (int, float)
SCALAR = (str, int, float, bool)
MAX_LENGTH = 1 << 62


def is_num(v) -> bool:
    t = type(v)
    return (t is int or t is float) and v == v


def lt(a, b) -> bool:
    """`a < b` for two numbers or two strings; False otherwise."""
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a < b
    if ta is str and tb is str:
        return a < b
    return False


def le(a, b) -> bool:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a <= b
    if ta is str and tb is str:
        return a <= b
    return False


def gt(a, b) -> bool:
    return lt(b, a)


def ge(a, b) -> bool:
    return le(b, a)


def eq(a, b) -> bool:
    """`a == b` with a missing side false; bools never equal numbers."""
    if a is None or b is None:
        return False
    if (type(a) is bool) != (type(b) is bool):
        return False
    try:
        return bool(a == b)
    except Exception:  # a hostile __eq__ cannot come from JSON, but stay total
        return False


def ne(a, b) -> bool:
    """`a != b`; false when either side is missing (a missing field makes a comparison false)."""
    if a is None or b is None:
        return False
    return not eq(a, b)


def add(a, b):
    if is_num(a) and is_num(b):
        r = a + b
        return r if math.isfinite(r) else None
    return None


def sub(a, b):
    if is_num(a) and is_num(b):
        r = a - b
        return r if math.isfinite(r) else None
    return None


def mul(a, b):
    if is_num(a) and is_num(b):
        try:
            r = a * b
        except OverflowError:
            return None
        if type(r) is int and abs(r) > MAX_LENGTH:
            return float(r)
        return r if math.isfinite(r) else None
    return None


def div(a, b):
    if is_num(a) and is_num(b) and b != 0:
        try:
            r = a / b
        except OverflowError:
            return None
        return r if math.isfinite(r) else None
    return None


def mod(a, b):
    if is_num(a) and is_num(b) and b != 0:
        return a % b
    return None


def neg(a):
    return -a if is_num(a) else None


def contains(container, item) -> bool:
    """`item in container` for a runtime list, mapping (keys) or string (substring)."""
    t = type(container)
    if t is str:
        return type(item) is str and item in container
    if t is list or t is tuple:
        if item is None:
            return False
        for x in container:
            if eq(x, item):
                return True
        return False
    if t is dict:
        return type(item) is str and item in container
    return False


def in_set(item, values: frozenset) -> bool:
    """Membership of a scalar in a frozenset constant (unhashable → False)."""
    t = type(item)
    if t is str or t is int or t is float:
        return item in values
    return False


def lower(v):
    return v.lower() if type(v) is str else None


def casefold(v):
    """A string lower-cased, any other value unchanged: case-insensitive keys and comparisons (EQL)."""
    return v.lower() if type(v) is str else v


def upper(v):
    return v.upper() if type(v) is str else None


def length(v):
    t = type(v)
    if t is str or t is list or t is tuple or t is dict:
        return len(v)
    return None


def startswith(v, prefix) -> bool:
    return type(v) is str and type(prefix) is str and v.startswith(prefix)


def endswith(v, suffix) -> bool:
    return type(v) is str and type(suffix) is str and v.endswith(suffix)


def contains_fn(v, part) -> bool:
    """The `contains(s, x)` function: substring, list element or mapping key."""
    return contains(v, part)


def to_int(v):
    t = type(v)
    if t is int:
        return v
    if t is float:
        return int(v) if math.isfinite(v) else None
    if t is str and len(v) <= 32:
        try:
            return int(v.strip())
        except ValueError:
            try:
                f = float(v)
            except ValueError:
                return None
            return int(f) if math.isfinite(f) else None
    if t is bool:
        return int(v)
    return None


def to_float(v):
    t = type(v)
    if t is int or t is float:
        f = float(v)
        return f if math.isfinite(f) else None
    if t is str and len(v) <= 64:
        try:
            f = float(v)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def to_str(v):
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int or t is float:
        return str(v)
    return None


def absolute(v):
    return abs(v) if is_num(v) else None


def hour(ts):
    """UTC hour (0-23) of an epoch time."""
    if is_num(ts) and 0 <= ts < 253402300800:
        return int(ts // 3600 % 24)
    return None


def weekday(ts):
    """UTC weekday of an epoch time, Monday = 0."""
    if is_num(ts) and 0 <= ts < 253402300800:
        return datetime.fromtimestamp(ts, UTC).weekday()
    return None


def field(ev, path):
    """A nested field by path tuple; None when any level is missing or not a mapping."""
    v = ev
    for p in path:
        if type(v) is not dict:
            return None
        v = v.get(p)
    return v


def truthy(v) -> bool:
    """A value used as a condition: only `true` is true."""
    return v is True


def glob_regex(pattern: str) -> re.Pattern:
    """Compile a glob (`*`, `?`, `[...]`; `*` also crosses '/') to an anchored regex."""
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


def compile_regex(pattern: str, flags: str = "") -> Callable[[str], Any]:
    """The matcher of `=~`: `m(value)` is not None when the regex matches anywhere in the whole value.

    RE2 (linear time) when google-re2 is installed, else Python's `re`
    (`engine/regex.py`); the checker refuses what either cannot run safely.
    """
    return compile_matcher(pattern, flags)


__all__ = [
    "lt", "le", "gt", "ge", "eq", "ne", "add", "sub", "mul", "div", "mod", "neg",
    "contains", "in_set", "lower", "casefold", "upper", "length", "startswith", "endswith", "contains_fn",
    "to_int", "to_float", "to_str", "absolute", "hour", "weekday", "field", "truthy",
    "is_num",
]
