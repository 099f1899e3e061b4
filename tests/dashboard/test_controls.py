"""The Train page's controls are read from the library's parameter records."""

from __future__ import annotations

import pytest

from dashboard.controls import CONTROLS, DEFAULT_PARAMS, read_controls, widget_options, widget_value
from sparker_core import SparKer
from sparker_core.config import PARAMS, default_params


def test_defaults_choices_bounds_and_tooltips_come_from_the_records():
    records = {p.name: p for p in PARAMS}
    assert DEFAULT_PARAMS == {c.name: default_params()[c.name] for c in CONTROLS}
    assert DEFAULT_PARAMS == {name: SparKer().get_params()[name] for name in DEFAULT_PARAMS}
    for control in CONTROLS:
        options, param = widget_options(control), records[control.name]
        assert options["help"] == param.help
        if param.kind == "choice":
            assert options["options"] == list(param.choices)
        if param.kind == "int":
            assert options["min_value"] == param.minimum
    by_name = {c.name: widget_options(c) for c in CONTROLS}
    assert by_name["sparsity"]["min_value"] == 0.0  # zero allowed
    assert by_name["learning_rate"]["min_value"] == pytest.approx(1e-4)  # positive: the smallest shown at %.4f
    assert by_name["temperature"]["min_value"] == pytest.approx(0.01)  # positive: the smallest shown at %0.2f


def test_widget_values_read_back_as_the_estimators_arguments():
    widgets = {f"ctl_{name}": widget_value(name, value) for name, value in DEFAULT_PARAMS.items()}
    assert widgets["ctl_sigma_final"] == "auto" and read_controls(widgets) == DEFAULT_PARAMS
    widgets.update(ctl_sigma_init="0.5", ctl_sigma_final="0.2, 0.4", ctl_n_kernels=3.0)
    params = read_controls(widgets)
    assert params["sigma_init"] == 0.5 and params["sigma_final"] == [0.2, 0.4] and params["n_kernels"] == 3
    with pytest.raises(ValueError, match=r"the kernel width must be 'auto' or a number; got '0.2, 0.4'\."):
        read_controls({**widgets, "ctl_sigma_init": "0.2, 0.4"})
