"""The Train page's controls: which parameters it sets, their defaults, and reading them back.

Pure python over the public ``sparker_core`` API (no streamlit): the page hands its widget values
to ``read_controls`` and gets the keyword arguments of ``SparKer``.
"""

from __future__ import annotations

from collections.abc import Mapping

from sparker_core import SparKer

CONTROLLED_PARAMS = ("n_kernels", "sparsity", "temperature", "sigma_init", "sigma_final", "schedule", "max_epochs",
                     "learning_rate", "init", "seed")
# The library's own defaults, read from the estimator.
DEFAULT_PARAMS = {name: SparKer().get_params()[name] for name in CONTROLLED_PARAMS}
SCHEDULES = ["geometric", "linear", "constant"]
INITS = {"excess": "where data outnumber the reference", "random": "random data rows"}
TEXT_PARAMS = ("sigma_init", "sigma_final")  # typed as text: 'auto' or numbers


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
    return str(value) if name in TEXT_PARAMS else value


def read_controls(values: Mapping) -> dict:
    """``SparKer`` keyword arguments from the widget values ``values["ctl_<name>"]``."""
    return {
        "n_kernels": int(values["ctl_n_kernels"]),
        "sparsity": float(values["ctl_sparsity"]),
        "temperature": float(values["ctl_temperature"]),
        "sigma_init": parse_width(values["ctl_sigma_init"]),
        "sigma_final": parse_width(values["ctl_sigma_final"], several=True),
        "schedule": values["ctl_schedule"],
        "max_epochs": int(values["ctl_max_epochs"]),
        "learning_rate": float(values["ctl_learning_rate"]),
        "init": values["ctl_init"],
        "seed": int(values["ctl_seed"]),
    }
