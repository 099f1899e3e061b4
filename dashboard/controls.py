"""The Train page's controls, derived from the library's parameter records (``sparker_core.config.PARAMS``).

Defaults, choices, bounds and tooltips are read from the records; this module adds only how each
control looks (its label, widget, step and display format) and reads the widget values back into
``SparKer`` keyword arguments. Pure python (no streamlit): the page hands it ``st.session_state``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sparker_core import PARAMS, Param, default_params

PARAM_BY_NAME = {param.name: param for param in PARAMS}
INIT_LABELS = {"excess": "where data outnumber the reference", "random": "random data rows"}  # display only
DEFAULT_FORMAT = "%0.2f"  # streamlit's display format of a float number_input
CASTS = {"int": int, "float": float, "bool": bool}  # widget value -> parameter value; choices and text stay str


@dataclass(frozen=True)
class Control:
    """How one parameter is shown: its label and widget ("slider", "number", "text" or "select")."""

    name: str
    label: str
    widget: str
    step: float | None = None
    format: str | None = None  # display format of a float number_input
    largest: int | None = None  # the widget's upper end for an int without a bound of its own

    @property
    def param(self) -> Param:
        return PARAM_BY_NAME[self.name]


CONTROLS = (
    Control("n_kernels", "kernels", "slider", largest=64),
    Control("sparsity", "sparsity (L1 on amplitudes)", "number", step=0.001, format="%.4f"),
    Control("temperature", "competition temperature", "number", step=0.1),
    Control("sigma_init", "initial width sigma ('auto' = median distance)", "text"),
    Control("sigma_final", "final width sigma", "text"),
    Control("schedule", "schedule", "select"),
    Control("max_epochs", "epochs", "number", step=10, largest=5000),
    Control("learning_rate", "learning rate", "number", step=0.01, format="%.4f"),
    Control("init", "initial centres", "select"),
    Control("seed", "seed", "number", step=1),
)
CONTROLLED_PARAMS = tuple(control.name for control in CONTROLS)
DEFAULT_PARAMS = {name: default_params()[name] for name in CONTROLLED_PARAMS}


def widget_options(control: Control) -> dict:
    """Keyword arguments of the control's streamlit widget: bounds, choices and tooltip from its record.

    A float bound that excludes itself (e.g. a positive learning rate) becomes the smallest value
    the widget's display format shows above it."""
    param = control.param
    options = {"help": param.help}
    if param.kind == "choice":
        options["options"] = list(param.choices)
        if control.name == "init":
            options["format_func"] = INIT_LABELS.get
    elif param.kind == "int":
        options["min_value"] = int(param.minimum)
        upper = param.maximum if param.maximum is not None else control.largest
        if upper is not None:
            options["max_value"] = int(upper)
    elif param.kind == "float":
        lowest = float(param.minimum)
        if not param.allow_zero:
            decimals = int(re.search(r"\.(\d+)f", control.format or DEFAULT_FORMAT).group(1))
            lowest += 10.0 ** -decimals
        options["min_value"] = lowest
        if param.maximum is not None:
            options["max_value"] = float(param.maximum)
    if control.step is not None:
        options["step"] = control.step
    if control.format is not None:
        options["format"] = control.format
    return options


def parse_width(text: str, several: bool = False):
    """'auto' or a positive number; with ``several``, also numbers separated by commas (one fit per width)."""
    text = text.strip()
    if text == "auto":
        return text
    parts = [part.strip() for part in text.split(",")] if several else [text]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        what = "'auto', a number or numbers separated by commas" if several else "'auto' or a number"
        raise ValueError(f"the kernel width must be {what}; got {text!r}.") from None
    return values if len(values) > 1 else values[0]


def widget_value(name: str, value):
    """A parameter's value as its widget holds it (widths as text)."""
    return str(value) if PARAM_BY_NAME[name].kind == "width" else value


def read_controls(values: Mapping) -> dict:
    """``SparKer`` keyword arguments from the widget values ``values["ctl_<name>"]``."""
    params = {}
    for name in CONTROLLED_PARAMS:
        param, value = PARAM_BY_NAME[name], values[f"ctl_{name}"]
        if param.kind == "width":
            params[name] = parse_width(value, several=param.allow_list)
        else:
            params[name] = CASTS.get(param.kind, str)(value)
    return params
