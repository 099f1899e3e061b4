"""Argument checks at the public edge, with one message shape: "`name` must be WHAT; got VALUE."

``check_param`` derives the check of a SparKer parameter from its ``config.Param`` record, so the
parameter list is written once; the other checks serve arguments that are not parameters
(``n_toys``, ``batch``, the baselines' arguments) and use the same template.
"""

from __future__ import annotations

import math

import numpy as np


def fail(name: str, what: str, value, error=ValueError, got: str | None = None):
    """Raise ``error`` with the house message: "`name` must be WHAT; got VALUE." (``got`` replaces repr(value))."""
    raise error(f"`{name}` must be {what}; got {repr(value) if got is None else got}.")


def is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def choices_text(choices) -> str:
    return "one of " + ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"


def check_choice(name: str, value, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        fail(name, choices_text(tuple(choices)), value)


def check_int(name: str, value, minimum: int) -> None:
    if not is_int(value) or value < minimum:
        fail(name, f"an integer >= {minimum}", value)


def check_count(name: str, value, minimum: int = 1) -> None:
    """An integer >= ``minimum``, worded "a positive integer" when the minimum is 1, as the baselines' messages read."""
    if not is_int(value) or value < minimum:
        fail(name, "a positive integer" if minimum == 1 else f"an integer >= {minimum}", value)


def number_text(minimum=0.0, maximum=None, allow_zero=False) -> str:
    """The WHAT of a number check: "a positive number", "a non-negative number" or "in (lo, hi]"."""
    if maximum is not None:
        return f"in {'[' if allow_zero else '('}{minimum:g}, {maximum:g}]"
    if minimum == 0:
        return "a non-negative number" if allow_zero else "a positive number"
    return f"a number {'>=' if allow_zero else '>'} {minimum:g}"


def in_range(value, minimum=0.0, maximum=None, allow_zero=False) -> bool:
    if not is_number(value) or not math.isfinite(value):
        return False
    low = minimum if minimum is not None else -math.inf
    above = value >= low if allow_zero else value > low
    return above and (maximum is None or value <= maximum)


def check_positive(name: str, value, allow_auto: bool = False, allow_zero: bool = False) -> None:
    """A finite number > 0 (>= 0 with ``allow_zero``), or "auto" with ``allow_auto``."""
    if allow_auto and value == "auto":
        return
    if not in_range(value, 0.0, None, allow_zero):
        fail(name, number_text(0.0, None, allow_zero) + (" or 'auto'" if allow_auto else ""), value)


def _is_single(width) -> bool:
    return isinstance(width, str) or not isinstance(width, (list, tuple, np.ndarray))


def width_list(value) -> list:
    """A width parameter as a list: [value] for one width, the list itself for several."""
    return [value] if _is_single(value) else list(value)


def check_width(name: str, value, allow_list: bool) -> None:
    """A positive number or 'auto'; with ``allow_list`` also a non-empty list of those."""
    if _is_single(value) or not allow_list:
        check_positive(name, value, allow_auto=True)
        return
    widths = list(value)
    if not widths:
        fail(name, "a positive number, 'auto' or a non-empty list of them", value, got="an empty list")
    for width in widths:
        if not _is_single(width):
            fail(name, "a positive number, 'auto' or a list of them", width, got=f"a nested {width!r}")
        check_positive(name, width, allow_auto=True)


def check_param(param, value) -> None:
    """Check ``value`` against a ``config.Param`` record (its kind, choices and bounds)."""
    name = param.name
    if param.kind == "int":
        check_int(name, value, int(param.minimum if param.minimum is not None else 0))
    elif param.kind == "float":
        if not in_range(value, param.minimum, param.maximum, param.allow_zero):
            fail(name, number_text(param.minimum or 0.0, param.maximum, param.allow_zero), value)
    elif param.kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            fail(name, "True or False", value)
    elif param.kind == "choice":
        check_choice(name, value, param.choices)
    elif param.kind == "width":
        check_width(name, value, param.allow_list)
    elif param.kind == "text" and not isinstance(value, str):
        fail(name, "a string", value, TypeError)


def check_params(params, values: dict) -> None:
    """Check every parameter of ``params`` (a sequence of ``Param``) in ``values`` (name -> value), in order."""
    for param in params:
        check_param(param, values[param.name])
